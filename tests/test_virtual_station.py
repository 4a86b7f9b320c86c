"""`stationctl run`: the real firmware on the simulated board, end to end, as a user runs it."""

from __future__ import annotations

import re
import subprocess
import sys

from mpy import REPO


def stationctl(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stationctl.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(REPO),
    )


def summary(out: str) -> dict[str, int]:
    m = re.search(r"^summary: samples=(\d+) uplinked=(\d+) lost=(\d+)$", out, re.M)
    assert m, out[-2000:]
    return {"samples": int(m[1]), "uplinked": int(m[2]), "lost": int(m[3])}


def test_six_hours_of_readings_and_a_summary(tmp_path):
    proc = stationctl("run", "--hours", "6", "--fs", str(tmp_path / "fs"), "--uplink", "console")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    s = summary(proc.stdout)
    assert s == {"samples": 36, "uplinked": 36, "lost": 0}
    assert "BOOT climate-station" in proc.stdout
    decoded = [line for line in proc.stdout.splitlines() if line.startswith("  decoded:")]
    assert len(decoded) == 36
    # readings are the Stonehaven trace of 2018-07-20 (about 16 degC, 1015 hPa at midnight)
    first = decoded[0]
    t = float(re.search(r"T=([-\d.]+)", first)[1])
    p = float(re.search(r"p=([\d.]+)hPa", first)[1])
    assert 15.0 < t < 18.0 and 1010 < p < 1020, first


def test_injected_nack_shows_fault_and_station_keeps_sampling(tmp_path):
    proc = stationctl(
        "run",
        "--hours",
        "4",
        "--fs",
        str(tmp_path / "fs"),
        "--uplink",
        "console",
        "--fault",
        "bme280:nack@3000+3600",
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    s = summary(proc.stdout)
    assert s["samples"] == 24 and s["lost"] == 0
    assert re.search(r" E SENSOR\.FAIL bme280 .*errno=5", proc.stdout), proc.stdout[-3000:]
    assert "SENSOR.RECOVERED bme280" in proc.stdout


def test_broken_station_config_is_reported_and_defaults_used(tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text('{"interval_s": 5, "uplink": "console"}')
    proc = stationctl(
        "run",
        "--cycles",
        "3",
        "--fs",
        str(tmp_path / "fs"),
        "--config",
        str(bad),
        "--uplink",
        "console",
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    assert 'CONFIG.INVALID problem="interval_s: 5 is outside 10..86400"' in proc.stdout
    assert summary(proc.stdout)["samples"] == 3


def test_bad_options_fail_clearly(tmp_path):
    proc = stationctl(
        "run", "--cycles", "2", "--fs", str(tmp_path / "fs"), "--fault", "nosuch:nack"
    )
    assert proc.returncode != 0
    assert "not a fitted sensor" in proc.stdout + proc.stderr
