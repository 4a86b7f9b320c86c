"""stationctl flash: offsets per chip family from the board configs, esptool's real failures on a
port that is not a bootloader, and plain-language help for the known failures."""

from __future__ import annotations

import json
import subprocess

import pytest
from esptool.util import FatalError
from hostkit.cli import BIN, stationctl
from hostkit.sim_device import sim_station
from stationctl.mpenv import REPO_ROOT as REPO
from stationctl.station import flash as fl

BOARDS = REPO / "board_configs"


@pytest.mark.parametrize(
    "board, chip, offset",
    [("esp32-devkitc", "esp32", 0x1000), ("esp32s3-devkitc", "esp32s3", 0x0)],
)
def test_plan_offsets_from_board_config(tmp_path, board, chip, offset):
    cfg = json.loads((BOARDS / f"{board}.json").read_text())
    p = fl.plan(cfg, tmp_path / "micropython.bin")
    assert (p.method, p.chip, p.offset) == ("esptool", chip, offset)
    assert p.offset == fl.FAMILY_OFFSETS[chip]
    argv = fl.esptool_argv(p, "/dev/ttyUSB0", 460800, erase=True)
    assert argv == [
        "--chip",
        chip,
        "--port",
        "/dev/ttyUSB0",
        "--baud",
        "460800",
        "write-flash",
        "--erase-all",
        hex(offset),
        str(tmp_path / "micropython.bin"),
    ]


def test_board_configs_share_the_structure():
    sim = json.loads((BOARDS / "unix-sim.json").read_text())
    for name in ("esp32-devkitc", "esp32s3-devkitc", "pico-w"):
        cfg = json.loads((BOARDS / f"{name}.json").read_text())
        assert cfg["board"] == name
        for key in ("i2c", "uart", "sensors", "family", "chip"):
            assert key in cfg, (name, key)
        assert set(cfg["i2c"]["main"]) >= set(sim["i2c"]["main"]) - {"id"}


def test_plan_refuses_wrong_offset_and_image_kind(tmp_path):
    cfg = json.loads((BOARDS / "esp32-devkitc.json").read_text())
    cfg["flash_offset"] = "0x0"
    with pytest.raises(fl.FlashError, match="start at 0x1000"):
        fl.plan(cfg, tmp_path / "fw.bin")
    pico = json.loads((BOARDS / "pico-w.json").read_text())
    assert fl.plan(pico, tmp_path / "fw.uf2").method == "uf2"
    with pytest.raises(fl.FlashError, match=".uf2"):
        fl.plan(pico, tmp_path / "fw.bin")
    with pytest.raises(fl.FlashError, match="known"):
        fl.plan({"board": "x", "chip": "z80"}, tmp_path / "fw.bin")


def test_known_failures_get_plain_help():
    boot = fl.explain(
        FatalError("Wrong boot mode detected (0x13)! The chip needs to be in download mode.")
    )
    assert "hold the BOOT button" in boot.replace("Hold", "hold")
    md5 = fl.explain(FatalError("MD5 of file does not match data in flash!"))
    assert "--erase" in md5 and "cable" in md5
    busy = fl.explain(FatalError("Could not open /dev/ttyUSB0, the port is busy or doesn't exist."))
    assert "another program" in busy or "held by" in busy


def test_esptool_against_a_micropython_repl_fails_clearly(tmp_path):
    image = tmp_path / "micropython.bin"
    image.write_bytes(b"\xe9" + bytes(range(1, 256)) + bytes(range(256)) * 15)  # ESP image magic
    with sim_station(tmp_path / "fs") as dev:
        r = stationctl(
            "flash",
            "--port",
            dev.port_path,
            "--board",
            BOARDS / "esp32-devkitc.json",
            image,
            "--quiet",
            timeout=120,
        )
        assert r.returncode == 1
        assert "flash failed" in r.stderr and "download mode" in r.stderr
        # the station is unharmed and still answers
        out = subprocess.run(
            [str(BIN / "mpremote"), "connect", dev.port_path, "exec", "print(7*6)"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "42" in out.stdout
        holder = subprocess.Popen(
            [
                str(BIN / "python"),
                "-c",
                "import serial,sys,time; s=serial.Serial(sys.argv[1], exclusive=True); "
                "print('open', flush=True); time.sleep(30)",
                dev.port_path,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout.readline().strip() == "open"
            r = stationctl(
                "flash",
                "--port",
                dev.port_path,
                "--board",
                BOARDS / "esp32-devkitc.json",
                image,
                "--quiet",
            )
            assert r.returncode == 1 and f"pid {holder.pid}" in r.stderr
        finally:
            holder.kill()
            holder.wait()


def test_dry_run_and_missing_image(tmp_path):
    r = stationctl(
        "flash",
        "--port",
        "/dev/ttyUSB9",
        "--board",
        BOARDS / "esp32s3-devkitc.json",
        tmp_path / "nope.bin",
    )
    assert r.returncode == 2 and "not found" in r.stderr  # a bad input file: usage
    (tmp_path / "fw.bin").write_bytes(b"\xe9" * 64)
    r = stationctl(
        "flash",
        "--port",
        "/dev/ttyUSB9",
        "--board",
        BOARDS / "esp32s3-devkitc.json",
        tmp_path / "fw.bin",
        "--dry-run",
    )
    assert r.returncode == 0 and "write-flash 0x0" in r.stdout


def _uf2_block() -> bytes:
    import struct

    block = bytearray(512)
    # magic numbers, flags (0x2000: family id present), family id RP2040 (UF2 specification)
    struct.pack_into("<III", block, 0, 0x0A324655, 0x9E5D5157, 0x2000)
    struct.pack_into("<I", block, 28, 0xE48BFF56)
    struct.pack_into("<I", block, 508, 0x0AB16F30)
    return bytes(block)


def test_images_are_checked_for_what_their_name_says(tmp_path):
    fake = tmp_path / "firmware.uf2"
    fake.write_bytes(b"this is a text file, not firmware\n" * 40)
    r = stationctl("flash", "--board", "pico-w", fake, "--drive", tmp_path)
    assert r.returncode == 2 and "is not a UF2 image" in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == [fake]  # nothing copied onto the "drive"
    real = tmp_path / "RPI_PICO_W.uf2"
    real.write_bytes(_uf2_block() * 3)
    r = stationctl("flash", "--board", "pico-w", real, "--dry-run")
    assert r.returncode == 0 and "would copy" in r.stdout
    fake_bin = tmp_path / "fw.bin"
    fake_bin.write_bytes(b"PK\x03\x04 a zip file")
    r = stationctl("flash", "--board", "esp32-devkitc", fake_bin, "--dry-run")
    assert r.returncode == 2 and "not an ESP32 firmware image" in r.stderr


def test_a_missing_port_is_not_called_busy(tmp_path):
    image = tmp_path / "fw.bin"
    image.write_bytes(b"\xe9" * 64)
    r = stationctl("flash", "--port", tmp_path / "ttyUSB9", "--board", "esp32-devkitc", image)
    assert r.returncode == 1
    assert "does not exist" in r.stderr and "busy" not in r.stderr, r.stderr


def test_dry_run_needs_no_board_attached(tmp_path):
    image = tmp_path / "fw.bin"
    image.write_bytes(b"\xe9" * 64)
    r = stationctl("flash", "--board", "esp32-devkitc", image, "--dry-run")  # --port auto
    assert r.returncode == 0, r.stderr
    assert "write-flash 0x1000" in r.stdout


def test_flash_help_gives_its_own_baud_default():
    r = stationctl("flash", "--help")
    assert "serial speed (default 460800)" in r.stdout


def test_esptool_styling_and_suggestions_do_not_leak():
    got = []
    log = fl._EsptoolLog(None, got.append)
    log.warning("\x1b[1mDeprecated: use --flash-mode\x1b[0m", suggestion="Try --before no-reset")
    log.print("\x1b[1mConnecting...\x1b[22m")
    assert got == ["warning: Deprecated: use --flash-mode", "Connecting..."]
    assert not any("\x1b" in g or "--before" in g for g in got)
