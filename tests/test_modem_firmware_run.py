"""`stationctl run --uplink lorawan --modem-firmware V`: the virtual station on a simulated
modem answering as an older RUI3 generation (no AT+EVT:TX_DONE, AT+NWM restarting silently):
everything delivered. An unknown generation is a clear error, not a silent default."""

from __future__ import annotations

import re

from hostkit.cli import stationctl


def test_run_lorawan_on_rui3_without_tx_done(tmp_path):
    proc = stationctl(
        "run", "--uplink", "lorawan", "--modem-firmware", "3.4.2", "--hours", "3",
        "--fs", str(tmp_path / "fs"), "--quiet",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    m = re.search(r"^summary: samples=(\d+) uplinked=(\d+) lost=(\d+)$", proc.stdout, re.M)
    assert m, proc.stdout[-3000:]
    assert int(m[1]) == 18 and int(m[2]) == 18 and int(m[3]) == 0, m[0]


def test_unknown_modem_firmware_is_refused_by_name(tmp_path):
    proc = stationctl(
        "run", "--uplink", "lorawan", "--modem-firmware", "9.9", "--cycles", "1",
        "--fs", str(tmp_path / "fs"),
    )  # fmt: skip
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "9.9" in out and "4.0.6" in out, out[-2000:]
