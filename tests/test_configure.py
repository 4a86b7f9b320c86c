"""configure never surprises: --set edits the station's current config, and every rejected file
gets one readable reason (no traceback, no empty message, no 200,000-character echo)."""

from __future__ import annotations

import json
import shutil

import pytest
from hostkit.cli import stationctl
from hostkit.sim_device import BOARD, sim_station

FAST = 1_000_000
CURRENT = {
    "station_id": "st-0042",
    "interval_s": 600,
    "uplink": "mqtt",
    "mqtt": {"host": "broker.example", "user": "st42"},
}


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """A station's flash with the firmware deployed and CURRENT configured (copied per test)."""
    fs = tmp_path_factory.mktemp("deployed") / "fs"
    cfg = tmp_path_factory.mktemp("cfg") / "cfg.json"
    cfg.write_text(json.dumps(CURRENT))
    with sim_station(fs, baud=FAST) as dev:
        r = stationctl("deploy", "--port", dev.port_path, "--board", BOARD, "--quiet")
        assert r.returncode == 0, r.stderr
        r = stationctl("configure", "--port", dev.port_path, "--config", cfg, "--no-reset")
        assert r.returncode == 0, r.stderr
    return fs


def test_set_alone_edits_the_stations_current_config(tmp_path, deployed):
    fs = tmp_path / "fs"
    shutil.copytree(deployed, fs)
    with sim_station(fs, baud=FAST) as dev:
        r = stationctl("configure", "--port", dev.port_path, "--set", "interval_s=300")
        assert r.returncode == 0, r.stderr
        assert "station st-0042: uplink mqtt" in r.stdout
    got = json.loads((fs / "config.json").read_text())
    assert got["interval_s"] == 300
    assert got["station_id"] == "st-0042" and got["uplink"] == "mqtt"
    assert got["mqtt"]["host"] == "broker.example" and got["mqtt"]["user"] == "st42"


def test_secrets_alone_keep_the_config(tmp_path, deployed):
    fs = tmp_path / "fs"
    shutil.copytree(deployed, fs)
    sec = tmp_path / "sec.json"
    sec.write_text(json.dumps({"mqtt_password": "pw-123456"}))
    before = (fs / "config.json").read_text()
    with sim_station(fs, baud=FAST) as dev:
        r = stationctl("configure", "--port", dev.port_path, "--secrets", sec)
        assert r.returncode == 0, r.stderr
    assert (fs / "config.json").read_text() == before
    assert "pw-123456" not in r.stdout + r.stderr


def test_nothing_to_configure_is_a_usage_error():
    r = stationctl("configure", "--port", "/nonexistent")
    assert r.returncode == 2 and "nothing to configure" in r.stderr


BAD_FILES = {
    "empty": (b"", "is empty"),
    "blank": (b"  \n", "is empty"),
    "latin1": ('{"station_id": "st-\u00e9"}'.encode("latin-1"), "is not UTF-8 text (byte 0xe9"),
    "huge": (b'{"station_id": "' + b"x" * (1024 * 1024) + b'"}', "a station config is at most"),
    "nested": (b"[" * 5000 + b"]" * 5000, "nested more than 8 levels deep"),
    "nested_dict": (b'{"a":' * 20 + b"1" + b"}" * 20, "nested more than 8 levels deep"),
    "syntax": (
        b'{\n  "station_id": "st-1",\n  "interval_s": 60\n  "uplink": "mqtt"\n}',
        "line 4, column 3",
    ),
    "list": (b"[1, 2]", "config: expected an object"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_every_bad_config_gets_one_readable_reason(tmp_path, name):
    content, reason = BAD_FILES[name]
    path = tmp_path / f"{name}.json"
    path.write_bytes(content)
    r = stationctl("configure", "--config", path, "--check")
    assert r.returncode == 2, (name, r.stderr[-500:])
    assert reason in r.stderr, (name, r.stderr[-500:])
    assert "Traceback" not in r.stderr and "inside MicroPython" not in r.stderr
    assert len(r.stderr) < 600, (name, len(r.stderr))


def test_a_huge_unknown_key_is_quoted_by_its_start_only(tmp_path):
    path = tmp_path / "key.json"
    path.write_text(json.dumps({"k" * 200_000: 1}))
    r = stationctl("configure", "--config", path, "--check")
    assert r.returncode == 2
    # bigger than the size limit: refused before anything quotes the key
    assert len(r.stderr) < 600 and "at most" in r.stderr
    path.write_text(json.dumps({"k" * 10_000: 1}))
    r = stationctl("configure", "--config", path, "--check")
    assert r.returncode == 2 and "unknown key" in r.stderr and "(10000 characters)" in r.stderr
    assert len(r.stderr) < 600, len(r.stderr)
