"""Write a MicroPython firmware image to a station: esptool (v5, Python API) for ESP32 boards,
UF2 copy for the Raspberry Pi Pico W.

Where the image goes depends on the chip family: the ESP32 and ESP32-S2 ROMs look for the
second-stage bootloader at 0x1000, later chips (S3, C3, C6) and the ESP8266 at 0x0; MicroPython's
combined .bin images start with that bootloader. The board config names its `chip` and may give
`flash_offset`; FAMILY_OFFSETS is the table that checks it.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

FAMILY_OFFSETS = {
    "esp32": 0x1000,
    "esp32s2": 0x1000,
    "esp32s3": 0x0,
    "esp32c3": 0x0,
    "esp32c6": 0x0,
    "esp8266": 0x0,
}
ROM_BAUD = 115200


class FlashError(Exception):
    """Flashing refused or failed; the message is for a technician."""


@dataclass(frozen=True)
class FlashPlan:
    board: str
    chip: str
    method: str  # "esptool" | "uf2"
    offset: int
    image: Path


def plan(board_cfg: dict, image: Path) -> FlashPlan:
    chip = str(board_cfg.get("chip", "")).lower().replace("-", "")
    name = board_cfg.get("board", "?")
    image = Path(image)
    if board_cfg.get("flash_method") == "uf2" or board_cfg.get("family") == "rp2":
        if image.suffix.lower() != ".uf2":
            raise FlashError(f"{name} is flashed with a .uf2 image, not {image.name}")
        return FlashPlan(name, chip or "rp2040", "uf2", 0, image)
    if chip not in FAMILY_OFFSETS:
        raise FlashError(
            f"board config {name} names chip {chip or '(none)'}; known: "
            + ", ".join(sorted(FAMILY_OFFSETS))
        )
    expected = FAMILY_OFFSETS[chip]
    given = board_cfg.get("flash_offset")
    offset = int(given, 0) if isinstance(given, str) else given if given is not None else expected
    if offset != expected:
        raise FlashError(
            f"board config {name} says flash_offset {offset:#x}, but MicroPython images for "
            f"{chip} start at {expected:#x}: fix the board config"
        )
    if image.suffix.lower() != ".bin":
        raise FlashError(
            f"{chip} takes a .bin image from the MicroPython downloads, not {image.name}"
        )
    return FlashPlan(name, chip, "esptool", offset, image)


# UF2 block: 512 bytes, two magic words at the start, one at the end (the UF2 specification)
_UF2_MAGIC_START = (0x0A324655, 0x9E5D5157)
_UF2_MAGIC_END = 0x0AB16F30
_ESP_IMAGE_MAGIC = 0xE9  # first byte of an ESP32 bootloader / app image


def check_image(p: FlashPlan) -> None:
    """The image is what its name says: a UF2 file or an ESP image; FlashError otherwise (a
    random file copied onto the RPI-RP2 drive is silently ignored by the bootloader)."""
    import struct

    try:
        with open(p.image, "rb") as f:
            head = f.read(512)
        size = p.image.stat().st_size
    except OSError as exc:
        raise FlashError(f"image {p.image}: {exc.strerror or exc}") from None
    if p.method == "uf2":
        ok = len(head) == 512 and size % 512 == 0
        if ok:
            start = struct.unpack_from("<II", head, 0)
            end = struct.unpack_from("<I", head, 508)[0]
            ok = start == _UF2_MAGIC_START and end == _UF2_MAGIC_END
        if not ok:
            raise FlashError(
                f"{p.image.name} is not a UF2 image (no UF2 block magic): download the "
                "RPI_PICO_W .uf2 from the MicroPython downloads"
            )
        from stationctl.station import uf2

        try:  # every block, and the family id: the boot ROM silently skips other families
            uf2.check(p.image, p.chip or "rp2040")
        except uf2.Uf2Error as exc:
            raise FlashError(
                f"{exc}; download the RPI_PICO_W .uf2 from the MicroPython downloads"
            ) from None
    elif not head or head[0] != _ESP_IMAGE_MAGIC:
        raise FlashError(
            f"{p.image.name} is not an ESP32 firmware image (it does not start with 0xE9): "
            f"download the {p.chip.upper()} .bin from the MicroPython downloads"
        )


def esptool_argv(p: FlashPlan, port: str, baud: int, erase: bool) -> list[str]:
    """The equivalent esptool command line (shown to the technician, kept in reports)."""
    argv = ["--chip", p.chip, "--port", port, "--baud", str(baud), "write-flash"]
    if erase:
        argv.append("--erase-all")
    argv += [f"{p.offset:#x}", str(p.image)]
    return argv


# (pattern in esptool's or pyserial's message, plain-language help)
_HELP = [
    (
        r"Wrong boot mode detected",
        "the board started its firmware instead of the bootloader. Hold the BOOT button, tap "
        "EN/RESET, release BOOT, then run flash again (some USB cables and hubs block the "
        "automatic reset).",
    ),
    (
        r"No serial data received|Invalid head of packet|Failed to connect|getting no sync reply",
        "no answer from the chip's bootloader on this port. Check that this is the station's port "
        "(not a different USB device), that the cable carries data, and put the board into download "
        "mode: hold BOOT, tap EN/RESET, release BOOT.",
    ),
    (
        r"MD5 of file does not match|MD5 mismatch|checksum",
        "the data read back from flash does not match the image: the write was corrupted. Use a "
        "shorter or better USB cable, a lower --baud (e.g. 115200), and flash again with --erase.",
    ),
    (
        r"port is busy|exclusively lock|Resource busy|Device or resource busy",
        "another program holds the serial port (a serial monitor, mpremote, Thonny, "
        "stationctl monitor). Close it and try again.",
    ),
    (
        r"doesn't exist|No such file or directory|could not open port",
        "the port does not exist: is the board plugged in? `stationctl flash --port auto` finds it.",
    ),
    (
        r"Permission denied",
        "no permission to open the port: add yourself to the 'dialout' group and log in again.",
    ),
    (
        r"does not match the board config",
        "the chip on this port is not the one the board config names: pick the right --board.",
    ),
]


def explain(exc: BaseException, port: str = "") -> str:
    """Technician-facing text for an esptool/serial failure."""
    text = str(exc).strip()
    for pattern, advice in _HELP:
        if re.search(pattern, text, re.IGNORECASE):
            if "busy" in pattern and port:
                from stationctl.station.transport import port_holders

                who = port_holders(port)
                if who:
                    advice = f"the port is held by {', '.join(who)}. Close it and try again."
            first = text.splitlines()[0] if text else type(exc).__name__
            return f"flash failed: {first}\n  what to do: {advice}"
    return f"flash failed: {text or type(exc).__name__}"


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _plain(text: str) -> str:
    """esptool's text without its terminal styling (bold even under NO_COLOR)."""
    return _ANSI.sub("", text).strip()


class _EsptoolLog:
    """esptool messages and its progress bar, routed to our output."""

    def __init__(self, progress, say):
        self.progress = progress
        self.say = say
        self.started = False

    def print(self, *args, **kwargs):
        text = _plain(" ".join(str(a) for a in args))
        if text and text != ".":
            self.say(text)

    # esptool's own suggestions name its command-line options, which stationctl does not have:
    # they are dropped; explain() gives the advice that fits stationctl
    def note(self, message, *_):
        self.say(f"note: {_plain(message)}")

    def warning(self, message, suggestion=None):
        self.say(f"warning: {_plain(message)}")

    def error(self, message, suggestion=None):
        self.say(f"error: {_plain(message)}")

    def stage(self, finish=False):
        pass

    def progress_bar(self, cur_iter, total_iters, prefix="", suffix="", bar_length=30):
        if self.progress is None:
            return
        if not self.started:
            self.progress.start(total_iters, "flash")
            self.started = True
        self.progress.done_bytes = 0
        self.progress.advance(cur_iter)

    def set_verbosity(self, verbosity):
        pass


def flash_esptool(
    p: FlashPlan,
    port: str,
    baud: int = 460800,
    erase: bool = False,
    progress=None,
    say=print,
    connect_attempts: int = 3,
) -> None:
    """Write the image with esptool's Python API; raises FlashError with plain-language help."""
    from esptool import cmds
    from esptool.logger import TemplateLogger, log

    class Log(_EsptoolLog, TemplateLogger):
        pass

    previous = getattr(type(log), "instance", None)
    log.set_logger(Log(progress, say))
    if port.startswith("/") and not Path(port).exists():
        raise FlashError(
            f"flash failed: port {port} does not exist.\n  what to do: plug the board in "
            "(a data cable, not a charge-only one), or let `--port auto` find it"
        )
    esp = None
    try:
        esp = cmds.detect_chip(port, ROM_BAUD, "default-reset", connect_attempts=connect_attempts)
        found = esp.CHIP_NAME.lower().replace("-", "")
        if found != p.chip:
            raise FlashError(
                f"the chip on {port} is {esp.CHIP_NAME}, which does not match the board config "
                f"({p.board}: {p.chip})"
            )
        esp = cmds.run_stub(esp)
        if baud != ROM_BAUD:
            esp.change_baud(baud)
        cmds.attach_flash(esp)
        if erase:
            cmds.erase_flash(esp)
        cmds.write_flash(esp, [(p.offset, str(p.image))])
        cmds.reset_chip(esp, "hard-reset")
    except FlashError as exc:
        raise FlashError(explain(exc, port)) from None
    except Exception as exc:  # esptool raises FatalError, serial errors, OSError
        raise FlashError(explain(exc, port)) from None
    finally:
        if esp is not None:
            try:
                esp._port.close()
            except Exception:  # noqa: BLE001 - closing a port that already failed
                pass
        if previous is not None:
            type(log).instance = previous


def find_uf2_drive(roots=("/media", "/run/media", "/Volumes")) -> Path | None:
    """The mounted RPI-RP2 boot drive (it has INFO_UF2.TXT), if exactly one."""
    found = []
    for root in roots:
        base = Path(root)
        if not base.is_dir():
            continue
        for info in list(base.glob("*/INFO_UF2.TXT")) + list(base.glob("*/*/INFO_UF2.TXT")):
            found.append(info.parent)
    return found[0] if len(found) == 1 else None


def flash_uf2(p: FlashPlan, drive: Path | None) -> Path:
    drive = drive or find_uf2_drive()
    if drive is None or not (Path(drive) / "INFO_UF2.TXT").exists():
        raise FlashError(
            "flash failed: no RPI-RP2 drive found.\n  what to do: hold BOOTSEL while plugging the "
            "Pico W in; it appears as a USB drive named RPI-RP2 (or give --drive PATH)"
        )
    dest = Path(drive) / p.image.name
    shutil.copyfile(p.image, dest)
    return dest


def load_board(path: Path) -> dict:
    """The board config (a file or a short name from board_configs/), checked with the firmware's
    own schema; FlashError with every problem."""
    from stationctl.station import boardconfig

    try:
        return boardconfig.load(path).cfg
    except boardconfig.BoardError as exc:
        raise FlashError(str(exc)) from None
