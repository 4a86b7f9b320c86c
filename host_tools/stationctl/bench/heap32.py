"""Heap bytes per call of the firmware's hot paths on the 64-bit unix port and on the 32-bit
WebAssembly port (small ints of 31 bits, like ESP32 and RP2040), side by side.

Runs sim/hotpath.py (codec, BME280 compensation) and sim/drivercost.py (one steady-state read of
every driver) on both ports. A figure that is 0 on unix and not on wasm32 is made of integers
above 2**30, heap objects on every board.
"""

from __future__ import annotations

import re
import subprocess

from stationctl.mpenv import REPO_ROOT, micropython_env, micropython_exe, wasm32_command

SCRIPTS = ("sim/hotpath.py", "sim/drivercost.py")
_HOT_RE = re.compile(r"^(\S+)\s+(\d+) B/call", re.M)
_DRV_RE = re.compile(r"^(\w+)\s+read\s+[\d.]+ ms\s+driver\s+(\d+) B/read", re.M)


def _run(cmd: list[str]) -> str:
    env = micropython_env()
    # the test kit sim/drivercost.py uses (replay); the wasm32 runner copies only these folders
    env["MICROPYPATH"] = str(REPO_ROOT / "tests" / "mpkit") + ":" + env["MICROPYPATH"]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=env, cwd=str(REPO_ROOT), timeout=600
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def figures() -> dict[str, dict[str, int]]:
    """{port: {path: bytes per call}} for the unix and wasm32 ports."""
    ports = {
        "unix": [str(micropython_exe()), "-X", "heapsize=1M"],
        "wasm32": wasm32_command() + ["-X", "heapsize=1M"],
    }
    out: dict[str, dict[str, int]] = {}
    for port, prefix in ports.items():
        rows: dict[str, int] = {}
        for script in SCRIPTS:
            text = _run(prefix + [script])
            for name, used in _HOT_RE.findall(text):
                rows[name] = int(used)
            for name, used in _DRV_RE.findall(text):
                rows[f"{name} driver read"] = int(used)
        out[port] = rows
    return out


def run() -> str:
    figs = figures()
    lines = [
        "# Heap bytes per call: unix (64-bit) vs wasm32 (31-bit small ints)",
        "",
        "| hot path | unix B/call | wasm32 B/call |",
        "| --- | ---: | ---: |",
    ]
    for name in figs["unix"]:
        lines.append(f"| {name} | {figs['unix'][name]} | {figs['wasm32'].get(name, '-')} |")
    lines.append("")
    lines.append("Reproduce: `stationctl bench heap32` (sim/hotpath.py, sim/drivercost.py).")
    return "\n".join(lines) + "\n"
