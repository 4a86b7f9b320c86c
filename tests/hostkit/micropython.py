"""Run code inside the pinned unix MicroPython from host tests (and the mp_test_*.py runner)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from stationctl.mpenv import REPO_ROOT, micropython_env, micropython_exe


def run_mp(
    code: str | None = None,
    script: str | None = None,
    args=(),
    heapsize: str | None = None,
    timeout: float = 120,
    env_extra: dict | None = None,
    cwd: Path | None = None,
    check: bool = True,
    interpreter: list[str] | None = None,
) -> subprocess.CompletedProcess:
    """Run MicroPython code or a script from the repository root with the firmware path set up;
    returns the process (text). Raises subprocess.TimeoutExpired after `timeout` seconds.
    `interpreter` replaces the pinned unix port and `heapsize` (e.g. the wasm32 port's command)."""
    cmd = list(interpreter) if interpreter else [str(micropython_exe())]
    if heapsize and not interpreter:
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
        cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=str(cwd or REPO_ROOT)
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"micropython exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc
