"""Test helpers: simulated stations on pseudo-terminals (stationctl sim-device), and stationctl
run as a program."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "host_tools"))

from stationctl.virtual.simdevice import SimDevice  # noqa: E402

BOARD = REPO / "board_configs" / "unix-sim.json"
BIN = Path(sys.executable).parent


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


def stationctl(*args, timeout: float = 120, env: dict | None = None, input: str | None = None):
    """Run the stationctl command line; returns the CompletedProcess (text)."""
    e = dict(os.environ)
    e["NO_COLOR"] = "1"
    if env:
        e.update(env)
    return subprocess.run(
        [str(BIN / "stationctl"), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=e,
        input=input,
    )


def tree(fs: Path) -> dict[str, bytes]:
    """Every file under fs: {relative path: content}."""
    return {str(p.relative_to(fs)): p.read_bytes() for p in sorted(fs.rglob("*")) if p.is_file()}
