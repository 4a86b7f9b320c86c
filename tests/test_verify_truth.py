"""verify and deploy do not pass a broken station: safe mode and crash loops from the
breadcrumbs, a cycle that does not run, files compared with the laptop's build (not the
station's own manifest), the board config against the firmware's schema and the station's
platform, contained file names, and messages instead of tracebacks."""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import time

import pytest
from hostkit.cli import stationctl
from hostkit.sim_device import sim_station
from stationctl.mpenv import REPO_ROOT as REPO
from stationctl.station import deploy as dp

FAST = 1_000_000
CFG = {"station_id": "st-0007", "interval_s": 60, "uplink": "console"}
# firmware/lifecycle.py breadcrumbs layout: magic, layout, phase, seq, reason, flags, boots,
# safe_until, 4 reset times
_CRUMBS = ">HBBIBBHIIIII"
PHASE_IDLE, PHASE_SAFE = 9, 8
REASON_NONE, REASON_CRASH = 0, 3


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """A station's flash with the firmware deployed (by the board's short name) and configured."""
    fs = tmp_path_factory.mktemp("deployed") / "fs"
    cfg = tmp_path_factory.mktemp("cfg") / "cfg.json"
    cfg.write_text(json.dumps(CFG))
    with sim_station(fs, baud=FAST, speed=20) as dev:
        r = stationctl("deploy", "--port", dev.port_path, "--board", "unix-sim", "--quiet")
        assert r.returncode == 0, r.stderr
        r = stationctl("configure", "--port", dev.port_path, "--config", cfg, "--no-reset")
        assert r.returncode == 0, r.stderr
    return fs


@pytest.fixture
def station(tmp_path, deployed):
    fs = tmp_path / "fs"
    shutil.copytree(deployed, fs)
    return fs


def _stop_firmware(port):
    """Enter the raw REPL (the firmware stops, nothing writes the breadcrumbs meanwhile)."""
    from stationctl.station.session import connect

    with connect(str(port), FAST):
        pass


def _crumbs(fs, safe: bool, resets_ago_s: list[int]):
    now = int(time.time())
    resets = [now - a for a in resets_ago_s] + [0] * (4 - len(resets_ago_s))
    (fs / ".rtc_memory").write_bytes(
        struct.pack(
            _CRUMBS,
            0x4353,
            1,
            PHASE_SAFE if safe else PHASE_IDLE,
            42,
            REASON_CRASH if resets_ago_s else REASON_NONE,
            1 if safe else 0,
            9,
            now + 3600 if safe else 0,
            *resets,
        )
    )


def _manifest_says(fs, path: str):
    """Write a file's current hash into the station's own manifest (a tamperer's move)."""
    man = json.loads((fs / "manifest.json").read_text())
    man["files"][path] = hashlib.sha256((fs / path.lstrip("/")).read_bytes()).hexdigest()
    (fs / "manifest.json").write_text(json.dumps(man))


def _line(out: str, name: str) -> str:
    return next((x for x in out.splitlines() if x.split()[1:2] == [name]), "")


def test_a_healthy_station_passes_with_its_cycle_running(station):
    with sim_station(station, baud=FAST, speed=20) as dev:
        r = stationctl("verify", "--port", dev.port_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _line(r.stdout, "cycle").startswith("  PASS  cycle")
    assert "restarted and sampled" in r.stdout
    assert "equal this laptop's firmware build" in r.stdout
    assert "unix-sim on linux: bme280" in r.stdout


def test_safe_mode_fails_verify_with_the_reason(station):
    with sim_station(station, baud=FAST, speed=20) as dev:
        _stop_firmware(dev.port_path)
        _crumbs(station, safe=True, resets_ago_s=[30, 60, 90])
        r = stationctl("verify", "--port", dev.port_path)
    assert r.returncode == 1, r.stdout
    life = _line(r.stdout, "lifecycle")
    assert "FAIL" in life and "SAFE MODE" in life and "last reason crash" in life, r.stdout
    assert "3 unexpected resets" in life
    cycle = _line(r.stdout, "cycle")
    assert "FAIL" in cycle and "SAFE.ACTIVE" in cycle, r.stdout


def test_crash_loop_resets_in_the_window_fail_verify(station):
    with sim_station(station, baud=FAST, speed=20) as dev:
        _stop_firmware(dev.port_path)
        _crumbs(station, safe=False, resets_ago_s=[20, 40])
        r = stationctl("verify", "--port", dev.port_path, "--no-reset")
    assert r.returncode == 1, r.stdout
    life = _line(r.stdout, "lifecycle")
    assert "FAIL" in life and "2 unexpected reset(s)" in life and "safe mode at 3" in life


def test_a_cycle_that_does_not_run_fails_verify(station):
    # a firmware that imports but whose main.py never starts the cycle (stays at the REPL)
    (station / "main.py").write_text("print('hello')\n")
    _manifest_says(station, "/main.py")
    with sim_station(station, baud=FAST, speed=20) as dev:
        r = stationctl("verify", "--port", dev.port_path)
    assert r.returncode == 1
    assert "FAIL  cycle" in r.stdout, r.stdout


def test_a_changed_file_fails_even_when_the_station_manifest_agrees(station):
    main = station / "main.py"
    main.write_text(main.read_text() + "\n# changed on the station\n")
    _manifest_says(station, "/main.py")
    with sim_station(station, baud=FAST, speed=20) as dev:
        r = stationctl("verify", "--port", dev.port_path, "--no-reset")
    assert r.returncode == 1
    files = _line(r.stdout, "files")
    assert "FAIL" in files and "differ from this laptop's firmware build: /main.py" in files


def test_a_board_config_for_another_platform_fails(station, tmp_path):
    shutil.copy(REPO / "board_configs" / "esp32-devkitc.json", station / "board.json")
    _manifest_says(station, "/board.json")
    with sim_station(station, baud=FAST, speed=20) as dev:
        r = stationctl("verify", "--port", dev.port_path, "--no-reset")
        assert r.returncode == 1
        board = _line(r.stdout, "board")
        assert "FAIL" in board and "esp32" in board and "runs MicroPython for linux" in board
        d = stationctl("deploy", "--port", dev.port_path, "--board", "esp32-devkitc", "--quiet")
    assert d.returncode == 1 and "runs MicroPython for linux" in d.stderr, d.stderr


def test_verify_save_into_an_unwritable_folder_is_a_message(station):
    with sim_station(station, baud=FAST, speed=20) as dev:
        r = stationctl("verify", "--port", dev.port_path, "--no-reset", "--save", "/proc/nope")
    assert r.returncode == 1
    assert "RESULT: PASS" in r.stdout  # the report is not lost
    assert "could not be saved in /proc/nope" in r.stderr and "Traceback" not in r.stderr


BAD_BOARDS = {
    "list": (b"[1, 2]", "expected a JSON object, got a list"),
    "no_sensors": (
        b'{"board": "x", "family": "esp32", "sensors": []}',
        "lists no sensors",
    ),
    "unknown_bus": (
        b'{"board": "x", "family": "esp32", "i2c": {"main": {"id": 0}}, '
        b'"sensors": [{"type": "bme280", "bus": "i2c9"}]}',
        'bus "i2c9" is not one of the board\'s I2C buses (main)',
    ),
    "huge": (b'{"board": "' + b"x" * (3 * 1024 * 1024) + b'"}', "a board config is at most"),
    "syntax": (b'{"board": "x",\n "family": }', "not valid JSON: Expecting value at line 2"),
    "latin1": ('{"board": "\u00e9"}'.encode("latin-1"), "is not UTF-8 text"),
}


@pytest.mark.parametrize("name", sorted(BAD_BOARDS))
def test_deploy_refuses_a_bad_board_config_before_touching_a_station(tmp_path, name):
    content, reason = BAD_BOARDS[name]
    board = tmp_path / f"{name}.json"
    board.write_bytes(content)
    r = stationctl("deploy", "--port", tmp_path / "ttyNONE", "--board", board, "--quiet")
    assert r.returncode == 2, r.stderr
    assert reason in r.stderr and "nothing was sent" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr) < 800


def test_short_board_names_resolve():
    from stationctl.station import boardconfig

    assert boardconfig.resolve("esp32-devkitc") == REPO / "board_configs" / "esp32-devkitc.json"
    assert boardconfig.load("pico-w").platform == "rp2"
    with pytest.raises(boardconfig.BoardError, match="not found .*esp32-devkitc"):
        boardconfig.resolve("esp99")


@pytest.mark.parametrize("name", ["../../../tmp/x.py", "/abs.py", "a/../../b.py", "a//b.py"])
def test_deploy_refuses_names_that_leave_their_folder(name):
    with pytest.raises(dp.DeployError, match="must stay inside its folder"):
        dp.build_files(None, libraries={name: b"x = 1\n"})


def _deploy_cut(port, fs, sig):
    """Start a deploy and stop it with `sig` once the station is receiving the bundle."""
    import signal
    import subprocess

    from hostkit.cli import BIN
    from hostkit.sim_device import BOARD

    proc = subprocess.Popen(
        [str(BIN / "stationctl"), "deploy", "--port", str(port), "--board", str(BOARD), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    bundle = fs / ".deploy.bundle"
    while time.monotonic() < deadline and not (bundle.exists() and bundle.stat().st_size > 4096):
        time.sleep(0.05)
    proc.send_signal(getattr(signal, sig))
    out, err = proc.communicate(timeout=30)
    return proc.returncode, err


def test_an_interrupted_or_killed_deploy_leaves_the_station_reachable(tmp_path):
    fs = tmp_path / "fs"
    with sim_station(fs, baud=115200) as dev:  # slow enough to stop mid-stream
        rc, err = _deploy_cut(dev.port_path, fs, "SIGINT")
        assert rc == 130, err
        assert "run the same deploy again" in err and "reflash" not in err
        r = stationctl("verify", "--port", dev.port_path, "--no-reset")
        assert r.returncode == 1 and "RESULT: FAIL" in r.stdout, r.stderr  # reached, honest
        rc, err = _deploy_cut(dev.port_path, fs, "SIGKILL")
        assert rc == -9
        r = stationctl("verify", "--port", dev.port_path, "--no-reset")
        assert r.returncode == 1 and "RESULT: FAIL" in r.stdout, r.stderr
        r = stationctl("deploy", "--port", dev.port_path, "--board", "unix-sim", "--quiet")
        assert r.returncode == 0, r.stderr
        assert "verified on the station" in r.stdout
