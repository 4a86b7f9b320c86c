"""stationctl setup end to end on `stationctl sim-device`: a fresh simulated board (empty flash)
becomes a verified station with report, label and registration exports in one command; the cable
pulled mid-deploy, the same command finishes the job."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import time

from hostkit.cli import BIN
from stationctl.mpenv import REPO_ROOT
from stationctl.virtual.simdevice import SimDevice

FACTORY_DEVEUI = "AC1F09FFFE0A1B2C"
JOIN_EUI = "70B3D57ED0000001"


def _board(tmp):
    b = json.loads((REPO_ROOT / "board_configs" / "unix-sim-lorawan.json").read_text())
    b["modem"]["sim"] = {"deveui": FACTORY_DEVEUI}  # the modem's factory DevEUI
    path = tmp / "board.json"
    path.write_text(json.dumps(b))
    return path


def _setup(tmp, board, config, link, out):
    return subprocess.Popen(
        [str(BIN / "stationctl"), "setup", "--board", board, "--config", config, "--port", link,
         "--out", out, "--join-eui", JOIN_EUI, "--operator", "test-bench"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip


def test_setup_fresh_board_pulled_cable_then_resume(tmp_path):
    board = _board(tmp_path)
    config = tmp_path / "st-0101.json"
    config.write_text(json.dumps({"station_id": "st-0101", "uplink": "lorawan", "interval_s": 300}))
    fs, link, out = tmp_path / "flash", tmp_path / "ttyUSB-sim", tmp_path / "stations"
    dev = SimDevice(fs, board, baud=230400, uid="5eed0101", link=link)
    dev.start()
    try:
        # first run: the cable is pulled as soon as the deploy starts
        proc = _setup(tmp_path, board, config, link, out)
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "[3/7] deploy ..." in line:
                time.sleep(0.5)
                dev.stop()
                break
        rest = proc.stdout.read()
        first = "".join(lines) + rest
        assert proc.wait(timeout=60) == 3, first  # UNREACHABLE
        assert "lost the station during deploy" in first
        assert "run the same command again" in first
        state = json.loads((out / "st-0101" / "setup-state.json").read_text())
        assert state["steps"]["deploy"]["status"] == "failed"
        assert not (out / "st-0101" / "report.json").exists()

        # plugged back in (same flash, a half-written deploy on it): the same command finishes
        dev = SimDevice(fs, board, baud=230400, uid="5eed0101", link=link)
        dev.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        proc = _setup(tmp_path, board, config, link, out)
        second = proc.stdout.read()
        assert proc.wait(timeout=180) == 0, second
        print(f"second run: {time.monotonic() - t0:.1f} s")
    finally:
        dev.stop()
    assert "[2/7] micropython: MicroPython" in second
    assert "[7/7] records: wrote" in second
    assert f"DevEUI {FACTORY_DEVEUI} (read from the modem)" in second
    assert "VERIFIED" in second
    # verify checks the modem, not a join: it must not call the LoRaWAN network reachable
    html = (out / "st-0101" / "report.html").read_text()
    assert "modem answers (verify does not try a join)" in html

    folder = out / "st-0101"
    secrets = json.loads((folder / "secrets.json").read_text())
    key = secrets["lorawan_appkey"]
    assert len(key) == 32 and int(key, 16) >= 0
    assert secrets["lorawan_deveui"] == FACTORY_DEVEUI
    assert secrets["lorawan_joineui"] == JOIN_EUI
    assert stat.S_IMODE((folder / "secrets.json").stat().st_mode) == 0o600
    # the AppKey never on screen, nor in the state, report or label
    for text in (first, second, *(p.read_text() for p in folder.glob("*") if p.suffix != ".png")):
        if p_is_secret(text, folder):
            continue
        assert key not in text

    rep = json.loads((folder / "report.json").read_text())
    assert rep["ok"] and rep["uid"] == "5eed0101" and rep["operator"] == "test-bench"
    assert rep["lorawan"]["dev_eui"] == FACTORY_DEVEUI
    assert rep["attempts"][-1]["outcome"] == "verified"  # this very run
    assert rep["attempts"][0]["outcome"].startswith("stopped at deploy")
    assert rep["uplink"]["ok"] and rep["sensors"][0]["name"] == "bme280"
    assert rep["files"]["/lib/station.mpy"]
    assert (folder / "report.html").exists() and (folder / "qr.png").exists()
    assert (folder / "label-1.svg").read_text().count("<image") == 1

    # the registration exports hold this station, key included (the operator's import files)
    tts_lines = (out / "registrations" / "tts-end-devices.json").read_text().splitlines()
    dev_json = json.loads(tts_lines[0])
    assert dev_json["ids"]["dev_eui"] == FACTORY_DEVEUI
    assert dev_json["root_keys"]["app_key"]["key"] == key
    cs = json.loads((out / "registrations" / "chirpstack-v4.json").read_text())
    assert cs["devices"][0]["keys"]["deviceKeys"]["nwkKey"] == key.lower()
    for p in (out / "registrations").iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600

    # the label setup wrote scans back to the TR005 text with the modem's DevEUI, and the report
    # renders; both kept under build/ as this test produced them
    want = f"LW:D0:{JOIN_EUI}:{FACTORY_DEVEUI}:00000000:SST-0101"
    zbar, chromium = shutil.which("zbarimg"), shutil.which("chromium")
    if zbar and chromium:
        build = REPO_ROOT / "build"
        build.mkdir(exist_ok=True)
        shots = {
            build / "setup-label.png": (folder / "label-1.svg", "794,1123", "3"),
            build / "setup-report.png": (folder / "report.html", "1000,1600", "1"),
        }
        for png, (page, size, scale) in shots.items():
            subprocess.run(
                [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                 f"--screenshot={png}", f"--window-size={size}",
                 f"--force-device-scale-factor={scale}", page.as_uri()],
                capture_output=True, timeout=60,
            )  # fmt: skip
            assert png.exists()
        r = subprocess.run([zbar, "--quiet", "--raw", str(build / "setup-label.png")],
                           capture_output=True, text=True)  # fmt: skip
        assert r.stdout.splitlines() == [want]


def p_is_secret(text, folder):
    """secrets.json itself holds the key (that is where it belongs)."""
    return text == (folder / "secrets.json").read_text()


def test_setup_failed_check_is_reported_then_finished(tmp_path):
    """A LoRa-E5 station whose sensor does not answer: setup reads the modem's DevEUI
    (AT+ID=DevEui), writes a NOT VERIFIED report and says what to do; once the sensor answers
    the same command finishes without repeating the steps already done."""
    b = json.loads((REPO_ROOT / "board_configs" / "unix-sim-lora-e5.json").read_text())
    b["modem"]["sim"] = {"deveui": "2CF7F1C0440004A1"}
    board = tmp_path / "board.json"
    board.write_text(json.dumps(b))
    config = tmp_path / "st-0102.json"
    config.write_text(json.dumps({"station_id": "st-0102", "uplink": "lorawan"}))
    secrets = tmp_path / "st-0102.secrets.json"
    secrets.write_text(json.dumps({"lorawan_joineui": JOIN_EUI}))
    fs, link, out = tmp_path / "flash", tmp_path / "ttyACM-sim", tmp_path / "stations"
    runs = []
    for absent in (("bme280",), ()):
        dev = SimDevice(fs, board, baud=1_000_000, uid="5eed0102", link=link, absent=absent)
        dev.start()
        time.sleep(0.3)
        try:
            proc = subprocess.run(
                [str(BIN / "stationctl"), "setup", "--board", board, "--config", config,
                 "--secrets", secrets, "--port", link, "--out", out],
                capture_output=True, text=True, timeout=180,
            )  # fmt: skip
        finally:
            dev.stop()
        runs.append(proc)
        if absent:
            rep = json.loads((out / "st-0102" / "report.json").read_text())
    first, second = runs
    assert first.returncode == 1, first.stdout + first.stderr
    assert "DevEUI 2CF7F1C0440004A1 (read from the modem)" in first.stdout
    assert "sensor bme280: does not answer" in first.stdout and "check wiring" in first.stdout
    assert rep["ok"] is False and rep["attempts"][-1]["outcome"] == "verify failed"
    assert not rep["sensors"][0]["ok"]
    assert second.returncode == 0, second.stdout + second.stderr
    for step in ("deploy", "identity", "configure"):
        assert f"{step}: done in an earlier run" in second.stdout
    key = json.loads(secrets.read_text())["lorawan_appkey"]
    assert key not in first.stdout + second.stdout + first.stderr + second.stderr
    rep = json.loads((out / "st-0102" / "report.json").read_text())
    assert rep["ok"] and rep["lorawan"]["dev_eui"] == "2CF7F1C0440004A1"
    assert rep["lorawan"]["join_eui"] == JOIN_EUI  # from the given secrets


def test_setup_wrong_micropython_on_a_uf2_board(tmp_path):
    """A native-USB UF2 board running another MicroPython: without --firmware setup says which
    image to give; with a UF2 for another chip family it refuses before copying; with a good
    one it asks the board into its bootloader and goes to the boot drive, never to esptool."""
    b = json.loads((REPO_ROOT / "board_configs" / "unix-sim.json").read_text())
    b.update({"micropython": "1.30", "usb": "native", "flash_method": "uf2", "chip": "rp2040"})
    board = tmp_path / "board.json"
    board.write_text(json.dumps(b))
    config = tmp_path / "st-0103.json"
    config.write_text(json.dumps({"station_id": "st-0103", "uplink": "console"}))
    good, wrong = tmp_path / "RPI_PICO_W.uf2", tmp_path / "ESP32S2.uf2"
    for path, family in ((good, 0xE48BFF56), (wrong, 0xBFDD4EEE)):
        block = bytearray(512)
        block[0:12] = (
            (0x0A324655).to_bytes(4, "little")
            + (0x9E5D5157).to_bytes(4, "little")
            + (0x2000).to_bytes(4, "little")
        )
        block[28:32] = family.to_bytes(4, "little")
        block[508:512] = (0x0AB16F30).to_bytes(4, "little")
        path.write_bytes(bytes(block) * 2)
    link, out = tmp_path / "ttyACM0", tmp_path / "stations"
    results = []
    for firmware in (None, wrong, good):
        dev = SimDevice(tmp_path / "flash", board, baud=1_000_000, link=link)
        dev.start()
        time.sleep(0.3)
        argv = [str(BIN / "stationctl"), "setup", "--board", board, "--config", config,
                "--port", link, "--out", out]  # fmt: skip
        if firmware:
            argv += ["--firmware", firmware]
        try:
            results.append(subprocess.run(argv, capture_output=True, text=True, timeout=120))
        finally:
            dev.stop()
    none, bad, ok = results
    assert none.returncode == 1 and "asks for 1.30" in none.stdout, none.stdout
    assert "add --firmware IMAGE with MicroPython 1.30" in none.stdout
    assert bad.returncode == 2 and "not rp2040" in bad.stdout, bad.stdout
    assert ok.returncode == 1, ok.stdout
    assert "flashing RPI_PICO_W.uf2 (MicroPython 1.29.0, not 1.30) with uf2" in ok.stdout
    assert "no RPI-RP2 drive found" in ok.stdout and "BOOTSEL" in ok.stdout
    assert "esptool" not in ok.stdout.lower()


def test_provision_rows_go_through_setup_steps(tmp_path):
    """provision --records: a LoRaWAN row without keys in the CSV gets its DevEUI from the modem,
    a generated AppKey, a report, a label and a line in the fleet's registration exports."""
    board = _board(tmp_path)
    fleet = tmp_path / "fleet.csv"
    fleet.write_text(
        "station_id,board,uplink,lorawan_joineui\n"
        f"st-r1,{board},lorawan,{JOIN_EUI}\n"
        "st-r2,unix-sim,pigeon\n"  # a bad row: still skipped, nothing done
    )
    link, records, report = tmp_path / "tty", tmp_path / "records", tmp_path / "report.csv"
    dev = SimDevice(tmp_path / "fs", board, baud=1_000_000, uid="5eed0201", link=link)
    dev.start()
    try:
        proc = subprocess.run(
            [str(BIN / "stationctl"), "provision", fleet, "--report", report, "--port", link,
             "--records", records, "--wait-timeout", "30"],
            capture_output=True, text=True, timeout=180,
        )  # fmt: skip
    finally:
        dev.stop()
    out = proc.stdout + proc.stderr
    assert "SKIPPED" in out and "st-r2" in out
    assert f"DevEUI {FACTORY_DEVEUI} (read from the modem)" in out, out
    assert "[7/7] records: wrote" in out
    import csv

    with open(report, newline="") as f:
        rows = {r["station_id"]: r for r in csv.DictReader(f)}
    assert rows["st-r1"]["status"] == "ok" and rows["st-r1"]["uid"] == "5eed0201", rows
    assert rows["st-r2"]["status"] == "skipped"
    key = json.loads((records / "st-r1" / "secrets.json").read_text())["lorawan_appkey"]
    assert key not in out and key not in report.read_text()
    (line,) = (records / "registrations" / "tts-end-devices.json").read_text().splitlines()
    assert json.loads(line)["ids"]["dev_eui"] == FACTORY_DEVEUI
    assert json.loads((records / "st-r1" / "report.json").read_text())["ok"]
