"""--port auto: stations found by USB id; none or several give a clear refusal."""

from __future__ import annotations

import pytest
from serial.tools.list_ports_common import ListPortInfo
from stationctl.station.ports import PortNotFoundError, candidates, choose


def _port(device, vid=None, pid=None, serial=None):
    p = ListPortInfo(device, skip_link_detection=True)
    p.vid, p.pid, p.serial_number = vid, pid, serial
    return p


def test_picks_the_one_station():
    ports = [
        _port("/dev/ttyS0"),
        _port("/dev/ttyUSB0", 0x10C4, 0xEA60, "0001"),
        _port("/dev/ttyACM3", 0x046D, 0xC52B),
    ]  # a mouse receiver is not a station
    found = candidates(ports)
    assert [c.device for c in found] == ["/dev/ttyUSB0"]
    assert "CP210x" in found[0].description
    assert choose(found) == "/dev/ttyUSB0"


def test_refuses_to_guess_between_several():
    found = candidates(
        [_port("/dev/ttyUSB0", 0x10C4, 0xEA60, "A1"), _port("/dev/ttyACM0", 0x2E8A, 0x0005, "E66")]
    )
    with pytest.raises(PortNotFoundError) as exc:
        choose(found)
    msg = str(exc.value)
    assert "2 stations are attached" in msg and "/dev/ttyUSB0" in msg and "/dev/ttyACM0" in msg
    assert choose(found, serial_number="E66") == "/dev/ttyACM0"


def test_none_attached():
    with pytest.raises(PortNotFoundError, match="no station found"):
        choose(candidates([_port("/dev/ttyS0")]))
