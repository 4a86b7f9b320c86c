"""Helpers to run code inside the pinned unix MicroPython from host tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "host_tools"))

from stationctl.mpenv import micropython_env, micropython_exe  # noqa: E402

MICROPYTHON = micropython_exe()


def run_mp(
    code: str | None = None,
    script: str | None = None,
    args=(),
    heapsize: str | None = None,
    timeout: float = 120,
    env_extra: dict | None = None,
    cwd: Path | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess:
    """Run MicroPython code or a script with the firmware path set up; returns the process."""
    cmd = [str(MICROPYTHON)]
    if heapsize:
        cmd += ["-X", f"heapsize={heapsize}"]
    if code is not None:
        cmd += ["-c", code]
    elif script is not None:
        cmd += [script]
    cmd += list(args)
    env = micropython_env()
    if env_extra:
        env.update(env_extra)
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=str(cwd or REPO)
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"micropython exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


__all__ = ["run_mp", "MICROPYTHON", "REPO", "os"]
