"""The virtual station as a program: its command line, and its output read as events.

`sim/vstation.py` runs the real firmware on the simulated board inside unix MicroPython
(`stationctl run`, `stationctl soak` and the tests start it through `command`). Its output is
the firmware's diagnostics lines plus lines for the host:

    @@SIM <word> key=value ...      the simulation's own reports (end, journal, heap, live)
    @@NS up dev= fcnt= port= dr= confirmed= t= hex=   an uplink the simulated network server got
    @@RF tx kind= dr= bytes= toa_ms= t=               a LoRa transmission of the simulated modem
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

from stationctl.mpenv import micropython_exe
from stationctl.station.monitor import parse_line

# keys for the simulated network server only: never a real device's
NS_SECRETS = {
    "lorawan_deveui": "70B3D57ED0000001",
    "lorawan_joineui": "0000000000000000",
    "lorawan_appkey": "2B7E151628AED2A6ABF7158809CF4F3C",
}

_NS_UP = re.compile(r"^@@NS up .*\bport=(\d+)\b.*\bhex=([0-9a-f]*)")
_RF_TX = re.compile(r"^@@RF tx kind=(\w+) dr=(\d+) bytes=(\d+) toa_ms=(\d+) t=(\d+)")
_KV = re.compile(r"(\w+)=(\S+)")


def command(*options: str, heapsize: str, romfs_image: Path | None = None) -> list[str]:
    """The command that starts the virtual station with `options` (see `flags`): MicroPython
    with `heapsize`, running sim/vstation.py, or sim/romboot.py on a ROMFS image (code in
    flash, as on a board). Run it from the repository root (`mpenv.spawn` does)."""
    cmd = [str(micropython_exe()), "-X", f"heapsize={heapsize}"]
    if romfs_image is not None:
        cmd += ["sim/romboot.py", str(romfs_image)]
    else:
        cmd.append("sim/vstation.py")
    return cmd + list(options)


def flags(**options) -> list[str]:
    """sim/vstation.py options from keywords: `heap_every=72` is `--heap-every 72`, True a bare
    flag, None or False nothing, a list or tuple one option per item (`fault=[...]`)."""
    out: list[str] = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            out.append(flag)
        elif isinstance(value, (list, tuple)):
            for item in value:
                out += [flag, str(item)]
        else:
            out += [flag, str(value)]
    return out


def sample_seq(line: str) -> int | None:
    """The seq of a `SAMPLE` diagnostics line (the station produced that sample), else None."""
    if " SAMPLE " not in line:
        return None  # most lines: skip the full parse
    d = parse_line(line)
    if d is None or d.code != "SAMPLE":
        return None
    seq = d.fields.get("seq")
    return seq if isinstance(seq, int) else None


def network_server_up(line: str) -> tuple[int, bytes] | None:
    """(port, frame) of an uplink the simulated network server received, else None."""
    m = _NS_UP.match(line)
    return (int(m.group(1)), bytes.fromhex(m.group(2))) if m else None


class RadioTx(NamedTuple):
    kind: str  # join or up
    dr: int
    phy_bytes: int
    toa_ms: int
    t_s: int  # simulated wall-clock time of the transmission


def radio_tx(line: str) -> RadioTx | None:
    """A transmission of the simulated LoRaWAN modem, else None."""
    m = _RF_TX.match(line)
    if not m:
        return None
    return RadioTx(m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4)), int(m.group(5)))


def sim_report(line: str) -> tuple[str, dict[str, str]] | None:
    """(word, {key: value}) of a `@@SIM word key=value ...` line, else None."""
    words = line.split(maxsplit=2)
    if len(words) < 2 or words[0] != "@@SIM":
        return None
    return words[1], dict(_KV.findall(line))
