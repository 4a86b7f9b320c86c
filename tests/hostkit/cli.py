"""The stationctl command line run as a program, as a technician runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent  # the venv's programs: stationctl, mpremote, esptool


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
