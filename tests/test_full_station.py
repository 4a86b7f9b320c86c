"""The virtual station with all six sensors (board_configs/unix-sim-full.json), end to end.

Real firmware and drivers inside unix MicroPython against the byte-level chip models, decoded on
the host: every channel flows; injected faults show up in the health flags of the affected
channels while every other channel keeps flowing.
"""

from __future__ import annotations

import json
import subprocess
import sys

from stationctl.mpenv import REPO_ROOT as REPO

BOARD = str(REPO / "board_configs" / "unix-sim-full.json")
CHANNELS = (
    "temperature_c",
    "humidity_pct",
    "pressure_hpa",
    "co2_ppm",
    "pm1_0_ugm3",
    "pm2_5_ugm3",
    "pm10_ugm3",
    "voc_index",
    "battery_v",
)


def run_station(tmp_path, hours: float, *faults: str) -> list[dict]:
    cmd = [
        sys.executable,
        "-m",
        "stationctl.cli",
        "run",
        "--board",
        BOARD,
        "--hours",
        str(hours),
        "--trace",
        "synthetic",
        "--quiet",
        "--json",
        "--fs",
        str(tmp_path / "fs"),
    ]
    for f in faults:
        cmd += ["--fault", f]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=str(REPO))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    samples = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert f"summary: samples={len(samples)} uplinked={len(samples)} lost=0" in proc.stdout
    return samples


def test_all_channels_flow_and_warmups_end(tmp_path):
    samples = run_station(tmp_path, 2)
    assert len(samples) == 12
    for s in samples:
        assert s["health"]["fault"] == [], s
        assert s["health"]["implausible"] == [], s
    # from the third cycle on (VOC index blackout over) every channel carries a value
    for s in samples[2:]:
        missing = [k for k in CHANNELS if k not in s]
        assert not missing, (missing, s)
    # warm-up: the SCD4x's first reading, the VOC index while it learns (about 45 min)
    assert samples[0]["health"]["warmup"] == ["co2_ppm", "voc_index"]
    assert samples[1]["health"]["warmup"] == ["voc_index"]
    assert samples[-1]["health"]["warmup"] == []
    # the synthetic air at night (docs: sim/env.py): CO2 425 ppm, PM2.5 7..10, PM10 = 1.6 PM2.5
    last = samples[-1]
    assert 405 <= last["co2_ppm"] <= 445
    assert 5 <= last["pm2_5_ugm3"] <= 11 and 1.3 < last["pm10_ugm3"] / last["pm2_5_ugm3"] < 1.9
    assert 80 <= last["voc_index"] <= 120  # steady air reads about 100
    assert last["health"]["rh_high"] == (last["humidity_pct"] > 70)


def test_faults_show_in_health_while_other_channels_flow(tmp_path):
    samples = run_station(
        tmp_path,
        3,
        "pms5003:truncate@1800+2400",  # PM1 only from the PMS5003; SDS011 covers PM2.5/PM10
        "scd4x:force@3000+1200",  # CO2 reads 50000 ppm: out of range
        "sgp40:force@5400+1200",  # raw signal 0: broken hotplate
        "sht4x:nack@600+1200",  # T/RH fall back to the SCD4x
    )
    by_t = {s["seq"]: s for s in samples}
    assert len(by_t) == 18

    def cycle_at(t_s: int) -> dict:
        return by_t[t_s // 600 + 1]

    pm_fault = cycle_at(2400)
    assert pm_fault["health"]["fault"] == ["pm1_0_ugm3"], pm_fault
    assert "pm2_5_ugm3" in pm_fault and "pm10_ugm3" in pm_fault
    co2 = cycle_at(3600)
    assert "co2_ppm" not in co2 and co2["health"]["implausible"] == ["co2_ppm"], co2
    voc = cycle_at(6000)
    assert "voc_index" not in voc and "voc_index" in voc["health"]["fault"], voc
    sht = cycle_at(1200)
    assert "temperature_c" in sht and "humidity_pct" in sht and sht["health"]["fault"] == []
    # every other channel kept flowing in every cycle, and all recover at the end
    for s in samples:
        for k in ("pressure_hpa", "battery_v", "temperature_c", "humidity_pct", "pm2_5_ugm3"):
            assert k in s, (k, s)
    assert samples[-1]["health"]["fault"] == [] and samples[-1]["health"]["implausible"] == []
    assert "pm1_0_ugm3" in samples[-1] and "co2_ppm" in samples[-1]
