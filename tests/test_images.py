"""Mixed fleets: each board config picks its MicroPython image among those given (ESP images by
the chip id in their header, UF2 images by family id), and `provision` never runs esptool for a
UF2 board."""

from __future__ import annotations

import csv
import struct

import pytest
from hostkit.cli import stationctl
from hostkit.sim_device import BOARD
from stationctl.station import flash as fl
from stationctl.station import images
from stationctl.virtual.simdevice import SimDevice


def _esp_bin(path, chip_id):
    head = bytearray(range(32))
    head[0] = 0xE9
    struct.pack_into("<H", head, 12, chip_id)  # extended header chip_id (esptool image format)
    path.write_bytes(bytes(head) + bytes(4064))
    return path


def _uf2(path, family=0xE48BFF56):
    b = bytearray(512)
    struct.pack_into("<III", b, 0, 0x0A324655, 0x9E5D5157, 0x2000)
    struct.pack_into("<I", b, 28, family)
    struct.pack_into("<I", b, 508, 0x0AB16F30)
    path.write_bytes(bytes(b) * 4)
    return path


def test_each_board_picks_its_image(tmp_path):
    esp32 = _esp_bin(tmp_path / "ESP32_GENERIC-v1.29.0.bin", 0)
    s3 = _esp_bin(tmp_path / "ESP32_GENERIC_S3-v1.29.0.bin", 9)
    pico = _uf2(tmp_path / "RPI_PICO_W-v1.29.0.uf2")
    given = [s3, pico, esp32]
    for board, want in (("esp32-devkitc", esp32), ("esp32s3-devkitc", s3), ("pico-w", pico)):
        assert images.choose(fl.load_board(board), given) == want
    assert images.esp_chip(s3) == "esp32s3"
    with pytest.raises(fl.FlashError, match="built for esp32s3, not esp32"):
        images.choose(fl.load_board("esp32-devkitc"), [s3, pico])
    twin = _esp_bin(tmp_path / "ESP32_OTHER.bin", 0)
    with pytest.raises(fl.FlashError, match="several images fit"):
        images.choose(fl.load_board("esp32-devkitc"), [esp32, twin])
    with pytest.raises(fl.FlashError, match="not rp2040"):
        images.choose(fl.load_board("pico-w"), [_uf2(tmp_path / "S2.uf2", 0xBFDD4EEE), esp32])


def test_mixed_fleet_each_row_flashes_its_own_image(tmp_path):
    """An ESP32 row goes to esptool with the ESP32 .bin, a Pico W row to the boot drive with the
    .uf2 (never esptool), whatever the order the images were given in."""
    ports = (tmp_path / "ttyUSB0", tmp_path / "ttyACM0")
    fleet = tmp_path / "fleet.csv"
    fleet.write_text(
        f"station_id,board,port\nst-e1,esp32-devkitc,{ports[0]}\nst-p1,pico-w,{ports[1]}\n"
    )
    esp32 = _esp_bin(tmp_path / "ESP32_GENERIC.bin", 0)
    pico = _uf2(tmp_path / "RPI_PICO_W.uf2")
    report = tmp_path / "report.csv"
    devs = [SimDevice(tmp_path / f"fs{i}", BOARD, link=p) for i, p in enumerate(ports)]
    for d in devs:
        d.start()
    try:
        r = stationctl("provision", fleet, "--report", report, "--firmware", pico,
                       "--firmware", esp32, "--wait-timeout", "20")  # fmt: skip
    finally:
        for d in devs:
            d.stop()
    assert r.returncode == 1, r.stdout + r.stderr
    with open(report, newline="") as f:
        rep = {row["station_id"]: row for row in csv.DictReader(f)}
    out = r.stdout
    # ESP32 row: esptool with the .bin (no bootloader answers on a simulated board's pty)
    assert "flashing ESP32_GENERIC.bin at 0x1000" in out
    assert "download mode" in rep["st-e1"]["detail"]
    # Pico W row: the UF2 copy (no boot drive mounted here), esptool never touched its port
    assert "copying RPI_PICO_W.uf2 to the board's RPI-RP2 drive" in out
    assert "RPI-RP2" in rep["st-p1"]["detail"] and "bootloader" not in rep["st-p1"]["detail"]
