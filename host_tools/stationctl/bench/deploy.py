"""Deploy benchmark: stationctl deploy vs `mpremote cp -r` of the same files, same simulated line.

Both run as command-line programs (start-up included) against fresh `sim-device` stations at
the same simulated wire rate. Reported: cold deploy, unchanged redeploy, mpremote cold copy,
and the ratio.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stationctl.mpenv import REPO_ROOT
from stationctl.virtual.simdevice import SimDevice

BOARD = REPO_ROOT / "board_configs" / "unix-sim.json"


def _bin(name: str) -> str:
    cand = Path(sys.executable).parent / name
    return str(cand) if cand.exists() else name


def _timed(cmd: list[str]) -> float:
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    dt = time.monotonic() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    return dt


def measure(baud: int = 115200) -> dict:
    from stationctl.station.deploy import build_files, manifest_text, mpy_cross_version

    files = build_files(BOARD)
    files["/manifest.json"] = manifest_text(files, mpy_cross_version()).encode()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        stage = tmp / "stage"
        for path, content in files.items():
            dest = stage / path.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(content)
        ours = SimDevice(tmp / "ours", BOARD, baud=baud, uid="bench0001")
        theirs = SimDevice(tmp / "theirs", BOARD, baud=baud, uid="bench0002")
        p1, p2 = ours.start(), theirs.start()
        try:
            time.sleep(0.5)
            deploy = [
                _bin("stationctl"),
                "deploy",
                "--port",
                p1,
                "--board",
                str(BOARD),
                "--quiet",
                "--no-reset",
            ]
            cold = _timed(deploy)
            again = _timed(deploy[:4] + ["--quiet", "--no-reset"])
            entries = sorted(str(p) for p in stage.iterdir())
            mpremote = _timed([_bin("mpremote"), "connect", p2, "fs", "cp", "-r", *entries, ":"])
        finally:
            ours.stop()
            theirs.stop()
    size = sum(len(c) for c in files.values())
    return {
        "files": len(files),
        "bytes": size,
        "baud": baud,
        "deploy_cold_s": cold,
        "deploy_unchanged_s": again,
        "mpremote_cp_s": mpremote,
        "ratio": mpremote / cold,
    }


def run() -> str:
    """Markdown report for `stationctl bench deploy` (make bench)."""
    m = measure()
    cold_ok = "yes" if m["ratio"] >= 3 else "NO"
    again_ok = "yes" if m["deploy_unchanged_s"] < 2 else "NO"
    return "\n".join(
        [
            "## Deploy",
            "",
            f"The full firmware ({m['files']} files, {m['bytes']} bytes: compiled firmware, drivers and "
            f"libraries, board config, manifest) to a fresh simulated station at {m['baud']} baud; "
            "every figure is the wall time of the command-line program, start-up included.",
            "",
            "| what | seconds | goal | met |",
            "| --- | ---: | --- | --- |",
            f"| `stationctl deploy`, cold | {m['deploy_cold_s']:.2f} | | |",
            f"| `mpremote fs cp -r` of the same files, cold | {m['mpremote_cp_s']:.2f} | | |",
            f"| speed-up, cold | {m['ratio']:.1f}x | >= 3x | {cold_ok} |",
            f"| `stationctl deploy`, nothing changed | {m['deploy_unchanged_s']:.2f} | < 2 s | {again_ok} |",
            "",
        ]
    )


if __name__ == "__main__":
    print(run())
