"""A simulated station on a pseudo-terminal (`stationctl sim-device`), as a test fixture."""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

from stationctl.mpenv import REPO_ROOT
from stationctl.virtual.simdevice import SimDevice

BOARD = REPO_ROOT / "board_configs" / "unix-sim.json"


@contextmanager
def sim_station(fs: Path, board: Path = BOARD, **kw):
    dev = SimDevice(fs, board, **kw)
    port = dev.start()
    try:
        time.sleep(0.3)
        dev.port_path = port
        yield dev
    finally:
        dev.stop()


def tree(fs: Path) -> dict[str, bytes]:
    """Every file under fs: {relative path: content}."""
    return {str(p.relative_to(fs)): p.read_bytes() for p in sorted(fs.rglob("*")) if p.is_file()}
