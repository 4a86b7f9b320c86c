"""Finding the station's serial port: `--port auto` picks the one attached station by USB id.

Known USB ids are the USB-serial bridges and native USB of the supported boards. When none or
several are attached, stationctl refuses to guess and says what it saw.
"""

from __future__ import annotations

from dataclasses import dataclass

from stationctl.station.transport import TransportError

# (vid, pid) -> what it usually is
KNOWN_USB = {
    (0x10C4, 0xEA60): "Silicon Labs CP210x (ESP32 DevKitC)",
    (0x1A86, 0x7523): "WCH CH340 (ESP32 boards)",
    (0x1A86, 0x55D4): "WCH CH9102 (ESP32 boards)",
    (0x0403, 0x6001): "FTDI FT232R",
    (0x0403, 0x6015): "FTDI FT231X",
    (0x303A, 0x1001): "Espressif native USB (ESP32-S3/C3 JTAG/serial)",
    (0x303A, 0x4001): "Espressif native USB (MicroPython TinyUSB)",
    (0x2E8A, 0x0005): "Raspberry Pi Pico / Pico W (MicroPython)",
}


class PortNotFoundError(TransportError):
    """No station, or more than one, for --port auto."""


@dataclass(frozen=True)
class Candidate:
    device: str
    description: str
    serial_number: str | None


def candidates(ports) -> list[Candidate]:
    """The ports (pyserial ListPortInfo-like objects) that look like stations."""
    out = []
    for p in ports:
        vid, pid = getattr(p, "vid", None), getattr(p, "pid", None)
        if vid is None or (vid, pid) not in KNOWN_USB:
            continue
        out.append(Candidate(p.device, KNOWN_USB[(vid, pid)], getattr(p, "serial_number", None)))
    return sorted(out, key=lambda c: c.device)


def choose(found: list[Candidate], serial_number: str | None = None) -> str:
    if serial_number:
        found = [c for c in found if c.serial_number == serial_number]
    if not found:
        raise PortNotFoundError(
            "no station found on USB"
            + (f" with serial number {serial_number}" if serial_number else "")
            + ": plug it in (use a data cable, not a charge-only one) or give --port PATH"
        )
    if len(found) > 1:
        listing = "\n".join(
            f"  {c.device}  {c.description}  serial={c.serial_number or '?'}" for c in found
        )
        raise PortNotFoundError(
            f"{len(found)} stations are attached; choose one with --port (or --serial):\n{listing}"
        )
    return found[0].device


def resolve_port(port: str | None, serial_number: str | None = None) -> str:
    """`auto` (or None) -> the single attached station's device path; else port unchanged."""
    if port and port != "auto":
        return port
    from serial.tools import list_ports

    return choose(candidates(list_ports.comports()), serial_number)


def add_port_args(p, baud: int = 115200) -> None:
    """The flags every command that talks to a station shares."""
    p.add_argument(
        "--port",
        default="auto",
        help="serial port of the station, or `auto` (default) to find it by USB id",
    )
    p.add_argument("--baud", type=int, default=baud, help=f"serial speed (default {baud})")
