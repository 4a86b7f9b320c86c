"""Device-sized memory: the firmware's share of the heap, with its code in flash (ROMFS).

The station runs from a ROMFS image (bytecode executed in place, as on a board with a romfs
partition). Under the unix port the same heap also holds the image itself (flash on a board) and
the simulation (silicon on a board). A first short run measures both (`rom_bytes`,
`heap_before_firmware`: the simulation's live heap before the firmware's first import, chips and
trace included); the real run then gets `-X heapsize` = image + simulation + the firmware's
budget, so the firmware has that budget and not a byte more. docs/memory.md has the figures.

Budgets: the firmware's needs measured on the 64-bit unix port (objects there take up to twice
the bytes they take on a 32-bit board) plus a margin; a change that needs more fails here. The
64 KiB of the architecture is the target: `test_firmware_fits_64k` is expected to fail until the
firmware gets there, and then fails as an unexpected pass so that the budgets get lowered.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest
from stationctl.mpenv import REPO_ROOT as REPO

KIB = 1024
TARGET = 64 * KIB
# The firmware's measured need (docs/memory.md): the smallest budget that ran a day cleanly was
# 82-89 KiB (console), 114-125 (MQTT), 113-129 (LoRaWAN). Fragmentation makes it jump with small
# changes (even the length of the flash folder's path: a clean clone in another folder needed more
# than 120 KiB for the console station, docs/memory.md), hence the wide margin.
BUDGET = {"console": 160 * KIB, "mqtt": 192 * KIB, "lorawan": 200 * KIB}
BOARD = {
    "console": "unix-sim-full.json",
    "mqtt": "unix-sim-full.json",
    "lorawan": "unix-sim-full-lorawan.json",
}
_PROBE_HEAP = 1024 * KIB
_ROMFS_EXTRA = 4096  # stationctl run gives the image this much on top of its size


def stationctl_run(tmp_path, uplink: str, *args: str, timeout: float = 600) -> str:
    cmd = [
        sys.executable,
        "-m",
        "stationctl.cli",
        "run",
        "--romfs",
        "--uplink",
        uplink,
        "--board",
        str(REPO / "board_configs" / BOARD[uplink]),
        "--fs",
        str(tmp_path / "fs"),
        *args,
    ]
    if uplink == "lorawan":
        tmp_path.mkdir(parents=True, exist_ok=True)
        secrets = tmp_path / "secrets.json"
        secrets.write_text(
            json.dumps(
                {
                    "lorawan_deveui": "0011223344556677",
                    "lorawan_joineui": "70B3D57ED0000000",
                    "lorawan_appkey": "000102030405060708090A0B0C0D0E0F",
                }
            )
        )
        cmd += ["--secrets", str(secrets)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=str(REPO))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    return proc.stdout


def figure(out: str, key: str) -> int:
    m = re.search(r"\b%s=(\d+)" % key, out)
    assert m, f"no {key} in the run's output: {out[-2000:]}"
    return int(m[1])


def heapsize_for(tmp_path, uplink: str, budget: int) -> tuple[str, int]:
    """The --heapsize (besides the image) giving the firmware `budget` bytes, from a probe run."""
    out = stationctl_run(tmp_path, uplink, "--cycles", "1", "--heapsize", str(_PROBE_HEAP))
    rom = figure(out, "rom_bytes")
    sim = figure(out, "heap_before_firmware")
    # the GC's tables take a fixed share of -X heapsize: scale by what the probe got
    ratio = figure(out, "heap_total") / (_PROBE_HEAP + rom + _ROMFS_EXTRA)
    total = int((sim + budget) / ratio) - 64
    return str(total - rom - _ROMFS_EXTRA), sim


def run_within(tmp_path, uplink: str, budget: int, days: int) -> str:
    heapsize, sim = heapsize_for(tmp_path / "probe", uplink, budget)
    out = stationctl_run(
        tmp_path, uplink, "--days", str(days), "--heapsize", heapsize, "--heap-every", "36"
    )
    before = figure(out, "heap_before_firmware")
    firmware = figure(out, "heap_total") - before
    series = [(c, b - before) for c, b in live_series(out)]
    print(
        f"{uplink}: simulation {sim} B before the firmware; the firmware had {firmware} B; its "
        f"live heap every 6 h: {' '.join(str(b) for _, b in series)} B"
    )
    assert budget - 2 * KIB <= firmware <= budget, (
        f"the run gave the firmware {firmware} B, not {budget}"
    )
    assert_flat(series, 72)  # from 12 h on: sensors warmed up, VOC index learning, joined
    return out


def assert_clean(out: str, samples: int) -> None:
    """No allocation failed, no cycle failed, at least `samples` samples and every one arrived."""
    for bad in ("MemoryError", "CYCLE.ERROR"):
        assert bad not in out, [line for line in out.splitlines() if bad in line][:5]
    m = re.search(r"^summary: samples=(\d+) uplinked=(\d+) lost=(\d+)$", out, re.M)
    assert m, out[-2000:]
    assert int(m[1]) >= samples and int(m[2]) == int(m[1]) and int(m[3]) == 0, m[0]


@pytest.mark.parametrize("uplink", ["console", "mqtt", "lorawan"])
def test_six_sensor_station_runs_three_days_within_its_heap_budget(tmp_path, uplink):
    out = run_within(tmp_path, uplink, BUDGET[uplink], days=3)
    assert_clean(out, 3 * 144)


@pytest.mark.xfail(
    strict=True, reason="the firmware needs more than 64 KiB on the unix port (docs/memory.md)"
)
def test_firmware_fits_64k(tmp_path):
    out = run_within(tmp_path, "console", TARGET, days=1)
    assert_clean(out, 144)


def live_series(out: str) -> list[tuple[int, int]]:
    return [(int(c), int(b)) for c, b in re.findall(r"sim: live cycles=(\d+) live_heap=(\d+)", out)]


def assert_flat(series: list[tuple[int, int]], from_cycle: int) -> None:
    """Live heap from `from_cycle` on: a leak of a few bytes per cycle would be kilobytes."""
    steady = [(c, b) for c, b in series if c >= from_cycle]
    assert len(steady) >= 2, series
    base, last, peak = steady[0][1], steady[-1][1], max(b for _, b in steady)
    assert last - base <= 256 and peak - base <= 512, f"the live heap grows: {series}"


def check_flat(tmp_path, cycles: int, every: int) -> None:
    t0 = time.monotonic()
    out = stationctl_run(
        tmp_path,
        "console",
        "--cycles",
        str(cycles),
        "--interval",
        "60",
        "--heap-every",
        str(every),
        "--heapsize",
        "512K",
        timeout=1800,
    )
    wall = time.monotonic() - t0
    series = live_series(out)
    assert len(series) >= cycles // every - 1, series
    (c0, base), (c_end, last) = series[0], series[-1]
    peak = max(b for _, b in series)
    print(
        f"live heap {base} B at cycle {c0}, {last} B at cycle {c_end}, peak {peak} B; "
        f"{cycles} cycles in {wall:.0f} s"
    )
    # after the first cycles (driver imports, the journal's first segments) nothing accumulates
    assert_flat(series, series[0][0])
    assert_clean(out, cycles - 1)


def test_live_heap_flat_over_four_hundred_cycles(tmp_path):
    check_flat(tmp_path, 400, 50)


@pytest.mark.skipif(not os.environ.get("STATION_SOAK"), reason="long: make soak (STATION_SOAK=1)")
def test_live_heap_flat_over_ten_thousand_cycles(tmp_path):
    check_flat(tmp_path, 10000, 500)
