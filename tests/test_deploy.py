"""deploy, configure and verify against the simulated station on a pseudo-terminal."""

from __future__ import annotations

import json

import pytest
from hostkit.cli import stationctl
from hostkit.sim_device import BOARD, sim_station, tree
from stationctl.station import deploy as dp
from stationctl.station.session import connect
from stationctl.station.transport import TransportError

FAST = 1_000_000  # simulated baud for functional tests (the benchmark uses 115200)
GOOD = {
    "station_id": "st-0042",
    "interval_s": 60,
    "uplink": "mqtt",
    "mqtt": {"host": "broker.example", "user": "st42"},
}
SECRET = "hunter2-very-secret"


@pytest.fixture(scope="module")
def files():
    return dp.build_files(BOARD)


def _station_files(fs):
    """What configure and deploy own (not the journal and RTC memory the firmware writes)."""
    keep = ("config.json", "secrets.json", "manifest.json", "board.json", "main.py")
    return {p: c for p, c in tree(fs).items() if p in keep or p.startswith("lib/")}


def _assert_matches_manifest(fs, paths):
    """Every deployed file on the station's flash has the sha256 its manifest lists."""
    manifest = json.loads((fs / "manifest.json").read_text())
    assert set(manifest["files"]) == paths
    for path, sha in manifest["files"].items():
        assert dp.sha256((fs / path.lstrip("/")).read_bytes()) == sha, path
    assert not [p for p in tree(fs) if p.endswith(".dtmp")]


def _write(path, obj):
    path.write_text(json.dumps(obj))
    return path


def test_deploy_configure_verify(tmp_path, files):
    fs = tmp_path / "fs"
    cfg = _write(tmp_path / "cfg.json", GOOD)
    sec = _write(tmp_path / "sec.json", {"mqtt_password": SECRET})
    with sim_station(fs, baud=FAST) as dev:
        port = dev.port_path
        r = stationctl("deploy", "--port", port, "--board", BOARD, "--quiet")
        assert r.returncode == 0, r.stderr
        assert f"{len(files)} sent, 0 unchanged" in r.stdout
        # (the firmware sources may change while tests run: check against what was deployed)
        _assert_matches_manifest(fs, set(files))

        r = stationctl("deploy", "--port", port, "--quiet")  # keeps the station's board.json
        assert r.returncode == 0, r.stderr
        assert "verified on the station" in r.stdout

        r = stationctl("configure", "--port", port, "--config", cfg, "--secrets", sec)
        assert r.returncode == 0, r.stderr
        assert SECRET not in r.stdout + r.stderr
        assert "mqtt_password" in r.stdout
        assert json.loads((fs / "secrets.json").read_text())["mqtt_password"] == SECRET
        assert json.loads((fs / "config.json").read_text())["station_id"] == "st-0042"

        r = stationctl(
            "verify", "--port", port, "--config", cfg, "--json", "--save", tmp_path / "reports"
        )
        assert r.returncode == 0, r.stdout + r.stderr
        rep = json.loads(r.stdout)
        assert rep["ok"] and rep["station_id"] == "st-0042" and rep["board"] == "unix-sim"
        names = {c["name"]: c for c in rep["checks"]}
        assert names["files"]["ok"] and names["sensor bme280"]["ok"]
        assert "temperature_c=" in names["sensor bme280"]["detail"]
        assert SECRET not in r.stdout
        saved = list((tmp_path / "reports").glob("st-0042-*.json"))
        assert len(saved) == 1 and json.loads(saved[0].read_text())["ok"]

        # the firmware runs again after verify (soft reset into main.py)
        with connect(port) as st:
            assert st.t.eval("1") == 1


def test_bad_config_rejected_station_unchanged(tmp_path):
    fs = tmp_path / "fs"
    bad = _write(
        tmp_path / "bad.json",
        {"station_id": "has space", "interval_s": 1, "uplink": "pigeon", "colour": "red"},
    )
    bad_sec = _write(
        tmp_path / "sec.json", {"lorawan_appkey": "not-hex-" + SECRET, "mqtt_password": 12345678}
    )
    good = _write(tmp_path / "good.json", GOOD)
    with sim_station(fs, baud=FAST) as dev:
        r = stationctl("configure", "--port", dev.port_path, "--config", good)
        assert r.returncode == 1 and "no firmware yet" in r.stderr
        assert (
            stationctl("deploy", "--port", dev.port_path, "--board", BOARD, "--quiet").returncode
            == 0
        )
        r = stationctl("configure", "--port", dev.port_path, "--config", good)
        assert r.returncode == 0, r.stderr
        before = _station_files(fs)
        assert "config.json" in before
        boots = dev.boots
        r = stationctl("configure", "--port", dev.port_path, "--config", bad, "--secrets", bad_sec)
        assert r.returncode == 2
        err = r.stderr
        for needle in (
            "station_id",
            "interval_s: 1 is outside 10..86400",
            "uplink",
            "colour: unknown key",
            "lorawan_appkey",
            "mqtt_password",
            "nothing was written",
        ):
            assert needle in err, (needle, err)
        assert SECRET not in err and "12345678" not in err
        assert _station_files(fs) == before
        assert dev.boots == boots
        r = stationctl("configure", "--port", dev.port_path, "--set", "interval_s=abc", "--check")
        assert r.returncode == 2 and "interval_s: expected an integer" in r.stderr


def test_verify_fails_on_tampered_file_and_missing_sensor(tmp_path):
    fs = tmp_path / "fs"
    cfg = _write(tmp_path / "cfg.json", {"station_id": "st-7"})
    with sim_station(fs, baud=FAST) as dev:
        assert (
            stationctl("deploy", "--port", dev.port_path, "--board", BOARD, "--quiet").returncode
            == 0
        )
        assert stationctl("configure", "--port", dev.port_path, "--config", cfg).returncode == 0
        assert stationctl("verify", "--port", dev.port_path).returncode == 0
        with open(fs / "lib" / "sample.mpy", "ab") as f:
            f.write(b"\0")
        r = stationctl("verify", "--port", dev.port_path)
        assert r.returncode == 1
        assert "FAIL  files" in r.stdout and "/lib/sample.mpy" in r.stdout
        assert "RESULT: FAIL" in r.stdout
        # redeploy repairs it (sending only what differs: that file, plus any source edited
        # meanwhile by parallel work)
        r = stationctl("deploy", "--port", dev.port_path, "--quiet")
        assert r.returncode == 0 and " unchanged" in r.stdout, r.stdout + r.stderr
        assert int(r.stdout.split("deploy: ")[1].split(" sent")[0]) < 5
        _assert_matches_manifest(fs, set(json.loads((fs / "manifest.json").read_text())["files"]))
        assert stationctl("verify", "--port", dev.port_path).returncode == 0
    with sim_station(fs, baud=FAST, absent=("bme280",)) as dev:
        r = stationctl("verify", "--port", dev.port_path, "--json")
        assert r.returncode == 1
        rep = json.loads(r.stdout)
        checks = {c["name"]: c for c in rep["checks"]}
        assert checks["files"]["ok"]
        assert not checks["sensor bme280"]["ok"]
        assert "does not answer" in checks["sensor bme280"]["detail"]


def test_interrupted_deploy_is_repaired(tmp_path, files):
    fs = tmp_path / "fs"
    with sim_station(fs, baud=FAST) as dev:
        with connect(dev.port_path) as st:
            dp.deploy(st, files)
            again = dp.deploy(st, files)  # nothing changed: nothing is sent
            assert again.sent_files == [] and again.wire_bytes == 0
            assert again.unchanged == len(files) and again.verified
    old = tree(fs)
    # a new release: every compiled file changes
    new = {p: (c + b"\0" * 64 if p.endswith(".mpy") else c) for p, c in files.items()}

    class Cut:
        """Progress that pulls the cable half way through the transfer."""

        def __init__(self, dev):
            self.dev, self.sent, self.total = dev, 0, 0

        def start(self, total, label=""):
            self.total = total

        def advance(self, n):
            self.sent += n
            if self.sent > self.total // 2:
                self.dev.stop()

        def done(self):
            pass

    with sim_station(fs, baud=FAST) as dev:
        with pytest.raises(TransportError):
            with connect(dev.port_path) as st:
                dp.deploy(st, new, progress=Cut(dev))
    after = tree(fs)
    for path in files:
        rel = path.lstrip("/")
        assert after[rel] == old[rel], f"{path} was changed by the cut deploy"
    assert "manifest.json" not in after  # the station reads as "deploy incomplete"
    with sim_station(fs, baud=FAST) as dev:
        r = stationctl("verify", "--port", dev.port_path)
        assert r.returncode == 1 and "no /manifest.json" in r.stdout
        r = stationctl("deploy", "--port", dev.port_path, "--quiet")
        assert r.returncode == 0, r.stderr
    repaired = tree(fs)
    assert not [p for p in repaired if p.endswith(".dtmp") or "deploy.bundle" in p]
    _assert_matches_manifest(fs, set(files))
    for path in files:
        assert not repaired[path.lstrip("/")].endswith(b"\0" * 64), f"{path}: cut release left"


def test_mpy_version_mismatch_refused():
    dp.check_mpy(6 | (3 << 8) | (2 << 10), (6, 3))
    with pytest.raises(dp.DeployError) as exc:
        dp.check_mpy(6 | (1 << 8) | (2 << 10), (6, 3))
    assert "v6.1" in str(exc.value) and "v6.3" in str(exc.value)
    with pytest.raises(dp.DeployError):
        dp.check_mpy(None, (6, 3))
    assert dp.escape(b"a\x03b\x1bc") == b"a\x1bCb\x1b[c"


def test_verify_lorawan_station_modem_and_uplink(tmp_path):
    board = BOARD.parent / "unix-sim-lorawan.json"
    fs = tmp_path / "fs"
    cfg = _write(tmp_path / "cfg.json", {"station_id": "st-lora", "uplink": "lorawan"})
    sec = _write(
        tmp_path / "sec.json",
        {
            "lorawan_deveui": "0011223344556677",
            "lorawan_joineui": "70B3D57ED0000000",
            "lorawan_appkey": "00112233445566778899AABBCCDDEEFF",
        },
    )
    with sim_station(fs, board=board, baud=FAST, speed=10) as dev:
        assert (
            stationctl("deploy", "--port", dev.port_path, "--board", board, "--quiet").returncode
            == 0
        )
        assert stationctl("configure", "--port", dev.port_path, "--config", cfg).returncode == 0
        r = stationctl("verify", "--port", dev.port_path, "--uplink")
        assert r.returncode == 1  # no keys yet
        assert "FAIL  secrets" in r.stdout and "lorawan_appkey" in r.stdout
        assert "PASS  modem" in r.stdout
        r = stationctl("configure", "--port", dev.port_path, "--config", cfg, "--secrets", sec)
        assert r.returncode == 0 and "00112233445566778899AABBCCDDEEFF" not in r.stdout
        r = stationctl("verify", "--port", dev.port_path, "--uplink")
        assert r.returncode == 0, r.stdout
        assert "00112233445566778899AABBCCDDEEFF" not in r.stdout
    with sim_station(fs, board=board, baud=FAST, speed=10, absent=("modem",)) as dev:
        r = stationctl("verify", "--port", dev.port_path, "--uplink")
        assert r.returncode == 1
        assert "FAIL  modem" in r.stdout and "FAIL  uplink" in r.stdout


def test_verify_shows_laser_run_hours(tmp_path):
    fs = tmp_path / "fs"
    full = BOARD.parent / "unix-sim-full.json"
    with sim_station(fs, board=full, baud=FAST, speed=100) as dev:  # fan warm-ups: 30 s each
        r = stationctl("deploy", "--port", dev.port_path, "--board", full, "--quiet")
        assert r.returncode == 0, r.stderr
        # the station's count so far: the PMS5003 is past its rated life, the SDS011 is not
        (fs / "laser-pms5003").write_text(f"{8001 * 3600}\n")
        (fs / "laser-sds011").write_text(f"{1234 * 3600 + 5}\n")
        r = stationctl("verify", "--port", dev.port_path, "--json")
    checks = {c["name"]: c for c in json.loads(r.stdout)["checks"]}
    assert checks["laser sds011"]["ok"], checks["laser sds011"]
    assert checks["laser sds011"]["detail"].startswith("1234 h of ~8000 h")
    assert not checks["laser pms5003"]["ok"]
    assert "8001 h" in checks["laser pms5003"]["detail"]
    assert "replacement" in checks["laser pms5003"]["detail"]
