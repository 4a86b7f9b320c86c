"""Setup benchmark: time per station for `stationctl setup` on fresh `sim-device` boards at the
real 115200-baud wire rate (empty flash -> verified, with report, label and registration
exports), run as the command-line program a technician runs (start-up included).

Reported: the wall time per station for three stations in a row (one output folder, as a
bench session), and the per-step times setup itself recorded for the last one.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stationctl.mpenv import REPO_ROOT
from stationctl.virtual.simdevice import SimDevice

STATIONS = 3


def _stationctl() -> str:
    cand = Path(sys.executable).parent / "stationctl"
    return str(cand) if cand.exists() else "stationctl"


def measure(baud: int = 115200, stations: int = STATIONS) -> dict:
    board = json.loads((REPO_ROOT / "board_configs" / "unix-sim-lorawan.json").read_text())
    times, steps = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        out = tmp / "stations"
        for n in range(stations):
            board["modem"]["sim"] = {"deveui": f"AC1F09FFFE0A{n:04X}"}
            bpath = tmp / f"board{n}.json"
            bpath.write_text(json.dumps(board))
            sid = f"st-b{n:03d}"
            cfg = tmp / f"{sid}.json"
            cfg.write_text(json.dumps({"station_id": sid, "uplink": "lorawan"}))
            dev = SimDevice(tmp / f"fs{n}", bpath, baud=baud, uid=f"be0c{n:04x}")
            port = dev.start()
            try:
                time.sleep(0.5)
                t0 = time.monotonic()
                proc = subprocess.run(
                    [_stationctl(), "setup", "--board", str(bpath), "--config", str(cfg),
                     "--port", port, "--out", str(out), "--join-eui", "70B3D57ED0000000"],
                    capture_output=True, text=True, timeout=600,
                )  # fmt: skip
                dt = time.monotonic() - t0
            finally:
                dev.stop()
            if proc.returncode != 0:
                raise RuntimeError(f"setup failed:\n{proc.stdout}\n{proc.stderr}")
            times.append(dt)
            state = json.loads((out / sid / "setup-state.json").read_text())
            steps = {k: v.get("seconds") for k, v in state["steps"].items()}
    return {"baud": baud, "times_s": times, "steps_s": steps}


def run() -> str:
    m = measure()
    t = m["times_s"]
    lines = [
        "# stationctl setup: time per station",
        "",
        f"`stationctl sim-device` boards with empty flash at {m['baud']} baud, RAK3172 modem; "
        "`stationctl setup` run as a program (start-up included) to a verified station with "
        "report, label and registration exports.",
        "",
        "| station | wall time (s) |",
        "| --- | --- |",
        *(f"| {i + 1} | {dt:.1f} |" for i, dt in enumerate(t)),
        "",
        f"mean {sum(t) / len(t):.1f} s per station",
        "",
        "Steps of the last station (s): "
        + ", ".join(f"{k} {v}" for k, v in m["steps_s"].items() if v is not None),
        "",
    ]
    return "\n".join(lines)
