"""Issue 10 item 5: `stationctl configure` applies the firmware's own definition of a runnable
config (firmware/config.py, run inside MicroPython), cross-field rules included.

The base is an explicit `--config` holding `{}` (every key at its default, the same base configure
uses for a station without a config.json): `--set` without `--config` edits the station's own
config and would need a station on USB."""

from __future__ import annotations

import pytest
from hostkit.cli import stationctl


@pytest.fixture
def defaults_config(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("{}")
    return str(path)


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("journal.max_bytes=4096", "journal.max_bytes"),  # every boot would crash
        ("mqtt.max_payload=11", "mqtt.max_payload"),  # nothing would be delivered again
        ("lorawan.dr=0", "lorawan.dr"),  # US915 DR0 carries 11 bytes
    ],
)
def test_configure_check_refuses_a_config_the_station_cannot_run(defaults_config, setting, named):
    r = stationctl(
        "configure", "--config", defaults_config, "--check",
        "--set", "lorawan.region=\"US915\"", "--set", "lorawan.adr=false",
        "--set", "lorawan.dr=1", "--set", setting,
    )  # fmt: skip
    assert r.returncode == 2, r.stdout + r.stderr
    assert named in r.stderr and "nothing was written" in r.stderr


def test_configure_check_accepts_the_smallest_runnable_values(defaults_config):
    r = stationctl(
        "configure", "--config", defaults_config, "--check",
        "--set", "journal.max_bytes=8192", "--set", "mqtt.max_payload=32",
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
