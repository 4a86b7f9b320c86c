"""Which MicroPython image goes on which board, for a mixed fleet: each board config's flash
method and chip pick one of the images the technician gave (`provision --firmware A --firmware B`).

UF2 images (Pico W) are told apart by their family id (stationctl.station.uf2). ESP images carry
the chip they were built for in their extended header: byte 12-13 (little endian) of the image
that starts the .bin, the `chip_id` field of esptool's image format (esptool docs "Firmware Image
Format"; ids as esptool's targets define IMAGE_CHIP_ID: ESP32 0, ESP32-S2 2, ESP32-C3 5, ESP32-S3
9, ESP32-C6 13). A MicroPython .bin starts with its second-stage bootloader, which has that header.
"""

from __future__ import annotations

import struct
from pathlib import Path

from stationctl.station import flash as fl

ESP_CHIP_IDS = {"esp32": 0, "esp32s2": 2, "esp32c3": 5, "esp32s3": 9, "esp32c6": 13}
_ESP_MAGIC = 0xE9


def esp_chip(image: Path) -> str | None:
    """The chip an ESP image was built for, or None when the header does not say."""
    with open(image, "rb") as f:
        head = f.read(16)
    if len(head) < 16 or head[0] != _ESP_MAGIC:
        return None
    (chip_id,) = struct.unpack_from("<H", head, 12)
    return next((name for name, cid in ESP_CHIP_IDS.items() if cid == chip_id), None)


def fits(board_cfg: dict, image: Path) -> str | None:
    """None when `image` can go on this board, else why not."""
    try:
        p = fl.plan(board_cfg, image)
        fl.check_image(p)
    except fl.FlashError as exc:
        return str(exc)
    if p.method == "uf2":
        return None  # check_image checked the family id of every block
    built_for = esp_chip(image)
    if built_for != p.chip:
        return f"{Path(image).name} is built for {built_for or 'an unknown chip'}, not {p.chip}"
    return None


def choose(board_cfg: dict, images: list[Path]) -> Path:
    """The one image for this board; FlashError naming the reasons when none or several fit."""
    fitting, why = [], []
    for image in images:
        reason = fits(board_cfg, Path(image))
        if reason is None:
            fitting.append(Path(image))
        else:
            why.append(reason.splitlines()[0])
    name = board_cfg.get("board", "?")
    if not fitting:
        raise fl.FlashError(
            f"no firmware image given fits board {name}: " + "; ".join(why)
            + ". Add --firmware with this board's MicroPython image"
        )  # fmt: skip
    if len(fitting) > 1:
        raise fl.FlashError(
            f"several images fit board {name} ({', '.join(p.name for p in fitting)}): give one "
            "image per board type"
        )
    return fitting[0]
