"""A Wi-Fi station in the virtual station (sim/wlan.py gates the host's real sockets): Wi-Fi is
brought up before MQTT, each failure of the access point is named in the diagnostics, and no
sample is lost while the link is down."""

import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BOARD = "board_configs/unix-sim-wifi.json"
WIFI_PASSWORD = "sim-wifi-password"  # sim/wlan.py's access point


def stationctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stationctl.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(REPO),
    )


def summary(out: str) -> dict[str, int]:
    m = re.search(r"^summary: samples=(\d+) uplinked=(\d+) lost=(\d+)$", out, re.M)
    assert m, out[-2000:]
    return {"samples": int(m[1]), "uplinked": int(m[2]), "lost": int(m[3])}


def test_wifi_faults_lose_nothing_and_each_is_named(tmp_path):
    secrets = tmp_path / "secrets.json"
    secrets.write_text(
        json.dumps(
            {
                "wifi_ssid": "depot-old",
                "wifi_password": "old-depot-secret",
                "wifi_networks": [{"ssid": "climate-sim", "password": WIFI_PASSWORD}],
            }
        )
    )
    proc = stationctl(
        "run",
        "--board",
        BOARD,
        "--hours",
        "9",
        "--fs",
        str(tmp_path / "fs"),
        "--secrets",
        str(secrets),
        "--fault",
        "wifi:badpass@3600+1800",
        "--fault",
        "wifi:noap@7200+1800",
        "--fault",
        "wifi:nodhcp@12600+1800",
        "--fault",
        "wifi:weak@18000+1800",
        "--fault",
        "net:down@25200+1800",
    )
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr
    assert summary(out) == {"samples": 54, "uplinked": 54, "lost": 0}
    downs = [ln for ln in out.splitlines() if " WIFI.DOWN " in ln]
    # the first network is not in range: tried, named, then the second one joins
    assert all("reason=" in ln and "action=" in ln for ln in downs)
    named = {(ln.split()[3], re.search(r"reason=(\w+)", ln)[1]) for ln in downs}
    assert named == {
        ("depot-old", "network_not_found"),
        ("climate-sim", "wrong_password"),
        ("climate-sim", "network_not_found"),
        ("climate-sim", "no_dhcp_lease"),
    }, downs
    assert re.search(r" WIFI\.WEAK_SIGNAL climate-sim .*rssi=-89", out)
    # associated, but the broker's network is cut: said so, not blamed on Wi-Fi
    assert re.search(r" WIFI\.NO_ROUTE climate-sim .*broker=127\.0\.0\.1", out)
    assert re.search(r" WIFI\.UP climate-sim ip=\S+ ms=\d+ rssi=-58", out)
    assert " WIFI.BACKOFF " in out
    for text in (out, proc.stderr):
        assert WIFI_PASSWORD not in text and "old-depot-secret" not in text


def test_wifi_fault_on_a_board_without_wifi_is_refused(tmp_path):
    proc = stationctl(
        "run", "--cycles", "2", "--fs", str(tmp_path / "fs"), "--fault", "wifi:noap@0+60"
    )
    assert proc.returncode != 0
    assert "the board has no Wi-Fi" in proc.stdout + proc.stderr


def test_unknown_wifi_fault_is_refused(tmp_path):
    proc = stationctl(
        "run",
        "--board",
        BOARD,
        "--cycles",
        "2",
        "--fs",
        str(tmp_path / "fs"),
        "--fault",
        "wifi:rain",
    )
    assert proc.returncode != 0
    assert "unknown kind rain" in proc.stdout + proc.stderr


def test_verify_uplink_joins_wifi_and_reaches_the_broker(tmp_path):
    """`verify --uplink` on a Wi-Fi station: the network joined and its signal, or why none."""
    from hostkit.cli import stationctl as cli
    from hostkit.sim_device import sim_station
    from stationctl.virtual.broker import Broker

    board = REPO / BOARD
    broker = Broker("amqtt").start()
    try:
        cfg = tmp_path / "cfg.json"
        cfg.write_text(
            json.dumps({"station_id": "st-w", "uplink": "mqtt", "mqtt": {"port": broker.port}})
        )
        good = tmp_path / "good.json"
        good.write_text(json.dumps({"wifi_ssid": "climate-sim", "wifi_password": WIFI_PASSWORD}))
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({"wifi_ssid": "climate-sim", "wifi_password": "not-the-key"}))
        with sim_station(tmp_path / "fs", board=board, baud=1_000_000, speed=10) as dev:
            r = cli("deploy", "--port", dev.port_path, "--board", board, "--quiet")
            assert r.returncode == 0, r.stderr
            r = cli("configure", "--port", dev.port_path, "--config", cfg, "--secrets", bad)
            assert r.returncode == 0, r.stdout + r.stderr
            r = cli("verify", "--port", dev.port_path, "--uplink")
            assert r.returncode == 1, r.stdout
            assert "FAIL  wifi" in r.stdout and "reason=wrong_password" in r.stdout, r.stdout
            r = cli("configure", "--port", dev.port_path, "--config", cfg, "--secrets", good)
            assert r.returncode == 0, r.stdout + r.stderr
            r = cli("verify", "--port", dev.port_path, "--uplink")
            assert r.returncode == 0, r.stdout
            assert "PASS  wifi" in r.stdout and "joined climate-sim at -58 dBm" in r.stdout
            assert "PASS  uplink" in r.stdout
            assert WIFI_PASSWORD not in r.stdout + r.stderr
    finally:
        broker.close()
