"""Issue 11 (time): `stationctl run --rtc-drift-ppm` shows the station's clock error from the true
time, with the LoRaWAN network time (DeviceTimeReq) and without it (`--no-time-sync`)."""

from __future__ import annotations

import re

from hostkit.cli import stationctl

_END = re.compile(
    r"sim: clock end drift_ppm=(\S+) error_s=(\S+) worst_error_s=(\S+) time_answers=(\d+)"
)


def _clock_end(tmp_path, *extra):
    proc = stationctl(
        "run", "--uplink", "lorawan", "--hours", "26", "--trace", "synthetic", "--quiet",
        "--rtc-drift-ppm", "50", "--fs", str(tmp_path / "fs"), *extra, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "sim: clock day=1 error_s=" in proc.stdout, proc.stdout[-2000:]
    m = _END.search(proc.stdout)
    assert m, proc.stdout[-2000:]
    return float(m.group(2)), float(m.group(3)), int(m.group(4))


def test_drifting_rtc_is_kept_near_the_true_time_by_network_time(tmp_path):
    err, worst, answers = _clock_end(tmp_path)
    # 50 ppm is 1.44 s in the 8 h between DeviceTimeReqs (at join, then every 8 h: 4 in 26 h)
    assert abs(err) < 2.0 and abs(worst) < 2.0, (err, worst)
    assert answers == 4


def test_without_network_time_the_error_grows_with_the_drift(tmp_path):
    err, worst, answers = _clock_end(tmp_path, "--no-time-sync")
    assert abs(err - 26 * 3600 * 50e-6) < 0.1, err  # 4.68 s
    assert answers == 0
