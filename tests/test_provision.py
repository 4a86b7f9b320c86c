"""stationctl provision: three simulated stations from a fleet CSV with one bad row; resumable."""

from __future__ import annotations

import csv
import json
import threading
import time

import pytest
from hostkit.cli import stationctl
from hostkit.sim_device import BOARD
from stationctl.mpenv import REPO_ROOT
from stationctl.virtual.broker import Broker
from stationctl.virtual.simdevice import SimDevice

LORAWAN_BOARD = REPO_ROOT / "board_configs" / "unix-sim-lorawan.json"

KEY = "00112233445566778899AABBCCDDEEFF"
# st-002's broker is a real Mosquitto on loopback (MQTT_PORT), st-003's board has the modem:
# provision checks the uplink, and a station that cannot deliver is not ok
FLEET = f"""station_id,board,uplink,interval_s,mqtt_host,mqtt_port,mqtt_password,lorawan_deveui,lorawan_joineui,lorawan_appkey
st-001,unix-sim,console,60,,,,,,
st-002,unix-sim,mqtt,300,127.0.0.1,MQTT_PORT,pa55-word-secret,,,
st-bad,unix-sim,lorawan,5,,,,0011223344556677,0011223344556677,NOT-A-KEY-secret-value
st-003,unix-sim-lorawan,lorawan,600,,,,0011223344556677,70B3D57ED0000000,{KEY}
"""
BOARDS = {"a0000003": LORAWAN_BOARD}


def _report(path):
    with open(path, newline="") as f:
        return {r["station_id"]: r for r in csv.DictReader(f)}


class Bench:
    """A technician's bench: one USB socket (a stable port name); boards plugged one by one."""

    def __init__(self, tmp, report, uids, boards=None):
        self.tmp, self.link, self.report = tmp, tmp / "ttyUSB-sim", report
        self.uids = list(uids)
        self.boards = boards or {}
        self.dev = None
        self.plugged = []
        self.stop = threading.Event()

    def plug(self):
        uid = self.uids.pop(0)
        board = self.boards.get(uid, BOARD)
        self.dev = SimDevice(self.tmp / uid, board, baud=1_000_000, uid=uid, link=self.link)
        self.dev.start()
        self.plugged.append(uid)

    def swap_when_done(self):
        """Unplug a board once the report has a final line for it, plug in the next."""
        seen = 0
        while not self.stop.is_set():
            done = 0
            if self.report.exists():
                done = sum(
                    1 for r in _report(self.report).values() if r["status"] in ("ok", "failed")
                )
            if done > seen and self.uids:
                seen = done
                time.sleep(0.3)
                self.dev.stop()
                time.sleep(0.5)
                self.plug()
            time.sleep(0.1)


@pytest.fixture
def broker():
    b = Broker("mosquitto").start()
    try:
        yield b
    finally:
        b.close()


def _provision(fleet, report, bench, timeout=240):
    bench.plug()
    swapper = threading.Thread(target=bench.swap_when_done, daemon=True)
    swapper.start()
    try:
        return stationctl(
            "provision",
            fleet,
            "--report",
            report,
            "--port",
            bench.link,
            "--wait-timeout",
            "60",
            timeout=timeout,
        )
    finally:
        bench.stop.set()
        swapper.join()
        bench.dev.stop()


def test_provision_does_not_pass_a_station_that_cannot_deliver(tmp_path):
    closed = Broker("mosquitto").start()
    port = closed.port
    closed.close()  # nothing listens there now
    fleet = tmp_path / "fleet.csv"
    fleet.write_text(
        "station_id,board,uplink,mqtt_host,mqtt_port,lorawan_deveui,lorawan_joineui,lorawan_appkey\n"
        f"st-lora,unix-sim,lorawan,,,0011223344556677,70B3D57ED0000000,{KEY}\n"
        f"st-mqtt,unix-sim,mqtt,127.0.0.1,{port},,,\n"
    )
    report = tmp_path / "report.csv"
    r = _provision(fleet, report, Bench(tmp_path, report, ["b0000001", "b0000002"]))
    assert r.returncode == 1, r.stdout + r.stderr
    rep = _report(report)
    assert rep["st-lora"]["status"] == "failed" and "uplink" in rep["st-lora"]["detail"]
    assert rep["st-mqtt"]["status"] == "failed", rep["st-mqtt"]
    assert f"cannot reach 127.0.0.1:{port}" in rep["st-mqtt"]["detail"]
    assert "done: 0 ok, 2 failed" in r.stdout


def test_provision_fleet_with_bad_row_and_resume(tmp_path, broker):
    fleet = tmp_path / "fleet.csv"
    fleet.write_text(FLEET.replace("MQTT_PORT", str(broker.port)))
    report = tmp_path / "report.csv"
    bench = Bench(tmp_path, report, ["a0000001", "a0000002", "a0000003"], BOARDS)
    bench.plug()
    swapper = threading.Thread(target=bench.swap_when_done, daemon=True)
    swapper.start()
    try:
        r = stationctl(
            "provision",
            fleet,
            "--report",
            report,
            "--port",
            bench.link,
            "--wait-timeout",
            "60",
            timeout=240,
        )
    finally:
        bench.stop.set()
        swapper.join()
        bench.dev.stop()
    out = r.stdout + r.stderr
    assert r.returncode == 1 and report.exists(), out  # one row was skipped
    assert "pa55-word-secret" not in out and "NOT-A-KEY-secret-value" not in out
    rep = _report(report)
    assert set(rep) == {"st-001", "st-002", "st-bad", "st-003"}, out
    assert [rep[s]["status"] for s in ("st-001", "st-002", "st-bad", "st-003")] == [
        "ok",
        "ok",
        "skipped",
        "ok",
    ]
    assert "interval_s" in rep["st-bad"]["detail"] and "lorawan_appkey" in rep["st-bad"]["detail"]
    assert "pa55-word" not in report.read_text() and "NOT-A-KEY" not in report.read_text()
    assert [rep[s]["uid"] for s in ("st-001", "st-002", "st-003")] == [
        "a0000001",
        "a0000002",
        "a0000003",
    ]
    # each board holds its own station's config; secrets went to the station only
    for uid, sid, uplink in (
        ("a0000001", "st-001", "console"),
        ("a0000002", "st-002", "mqtt"),
        ("a0000003", "st-003", "lorawan"),
    ):
        cfg = json.loads((tmp_path / uid / "config.json").read_text())
        assert (cfg["station_id"], cfg["uplink"]) == (sid, uplink)
        assert (tmp_path / uid / "manifest.json").exists()
    assert (
        json.loads((tmp_path / "a0000002" / "secrets.json").read_text())["mqtt_password"]
        == "pa55-word-secret"
    )
    assert json.loads((tmp_path / "a0000003" / "secrets.json").read_text())["lorawan_appkey"] == KEY
    # the bad row touched nothing: no fourth board was needed, none was written
    assert bench.plugged == ["a0000001", "a0000002", "a0000003"]

    # resume: everything ok is skipped, only the (still bad) row is reported again
    r = stationctl(
        "provision", fleet, "--report", report, "--port", bench.link, "--wait-timeout", "2"
    )
    assert r.stdout.count("already provisioned (report)") == 3
    assert "done: 0 ok, 0 failed, 1 skipped, 3 already provisioned" in r.stdout


def test_provision_interrupted_then_resumed(tmp_path):
    fleet = tmp_path / "fleet.csv"
    fleet.write_text("station_id,board,uplink\nst-a,unix-sim,console\nst-b,unix-sim,console\n")
    report = tmp_path / "report.csv"
    dev = SimDevice(tmp_path / "b1", BOARD, baud=1_000_000, uid="b0000001", link=tmp_path / "tty")
    dev.start()
    try:
        # st-a is done; st-b waits for a new board that never comes: the session stops
        r = stationctl(
            "provision",
            fleet,
            "--report",
            report,
            "--port",
            tmp_path / "tty",
            "--wait-timeout",
            "3",
        )
        assert r.returncode == 3 and "run the same command again" in r.stderr
        assert _report(report)["st-a"]["status"] == "ok" and "st-b" not in _report(report)
    finally:
        dev.stop()
    dev = SimDevice(tmp_path / "b2", BOARD, baud=1_000_000, uid="b0000002", link=tmp_path / "tty")
    dev.start()
    try:
        r = stationctl(
            "provision",
            fleet,
            "--report",
            report,
            "--port",
            tmp_path / "tty",
            "--wait-timeout",
            "20",
        )
        assert r.returncode == 0, r.stdout + r.stderr
        rep = _report(report)
        assert rep["st-a"]["uid"] == "b0000001" and rep["st-b"]["uid"] == "b0000002"
    finally:
        dev.stop()


def test_fleet_file_errors(tmp_path):
    bad = tmp_path / "fleet.csv"
    bad.write_text("station_id,board,colour\nst-1,unix-sim,red\n")
    r = stationctl("provision", bad, "--report", tmp_path / "r.csv")
    assert r.returncode == 2 and "unknown column(s) colour" in r.stderr
    assert not (tmp_path / "r.csv").exists()


def test_provision_with_firmware_reports_a_flash_failure(tmp_path):
    """--firmware flashes with esptool first; a board that is not in its bootloader (here: a
    station already running MicroPython on a pty) fails that row with the plain-language help."""
    fleet = tmp_path / "fleet.csv"
    fleet.write_text("station_id,board\nst-e1,esp32-devkitc\n")
    image = tmp_path / "micropython.bin"
    # ESP image magic, chip id 0 (ESP32) at bytes 12-13 of the extended header
    image.write_bytes(b"\xe9" + bytes(range(1, 12)) + b"\0\0" + bytes(range(14, 256)) * 8)
    report = tmp_path / "report.csv"
    dev = SimDevice(tmp_path / "fs", BOARD, link=tmp_path / "tty")
    dev.start()
    try:
        r = stationctl(
            "provision",
            fleet,
            "--report",
            report,
            "--port",
            tmp_path / "tty",
            "--firmware",
            image,
            "--wait-timeout",
            "20",
        )
    finally:
        dev.stop()
    assert r.returncode == 1
    rep = _report(report)["st-e1"]
    assert rep["status"] == "failed"
    assert "flash failed" in rep["detail"] and "download mode" in rep["detail"]


def test_fleet_csv_wifi_columns(tmp_path):
    """A Pico W MQTT row needs its Wi-Fi network; the password is a secret, never echoed."""
    from stationctl.station.provision import check_rows, read_fleet

    fleet = tmp_path / "fleet.csv"
    fleet.write_text(
        "station_id,board,uplink,mqtt_host,wifi_ssid,wifi_password,wifi_country\n"
        "st-w1,pico-w,mqtt,broker.example,depot-ap,wifi-Pa55-secret,DE\n"
        "st-w2,pico-w,mqtt,broker.example,,,\n"
        "st-w3,pico-w,mqtt,broker.example,depot-ap,wifi-Pa55-secret,de\n"
    )
    rows = read_fleet(fleet)
    check_rows(rows)
    good, missing, bad_country = rows
    assert good.problems == [], good.problems
    assert json.loads(good.config_text)["wifi"] == {"country": "DE"}
    assert json.loads(good.secrets_text) == {
        "wifi_ssid": "depot-ap",
        "wifi_password": "wifi-Pa55-secret",
    }
    assert any("needs wifi_ssid" in p for p in missing.problems), missing.problems
    assert any(p.startswith("wifi.country") for p in bad_country.problems), bad_country.problems
    for row in rows:
        assert not any("wifi-Pa55-secret" in p for p in row.problems)
