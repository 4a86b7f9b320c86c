"""What `stationctl setup` leaves behind, checked against the outside world: the label's QR code
read back by a real decoder (zbarimg), the report rendered by a real browser (headless Chromium),
the registration exports against the network servers' published field definitions, and UF2
images against the UF2 specification."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess

import pytest
from hostkit.cli import stationctl
from stationctl.mpenv import REPO_ROOT
from stationctl.registration import chirpstack, tts
from stationctl.registration.record import Registration, RegistrationError, eui, new_app_key
from stationctl.station import label as lb
from stationctl.station import report as rp
from stationctl.station import uf2
from stationctl.station.verify import Report

BUILD = REPO_ROOT / "build"
ZBAR = shutil.which("zbarimg")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_zbar = pytest.mark.skipif(not ZBAR, reason="zbarimg (Debian zbar-tools) is not installed")
needs_chromium = pytest.mark.skipif(
    not CHROMIUM, reason="chromium is not installed (Debian package chromium)"
)

REG = Registration(
    station_id="st-0042",
    board="esp32-devkitc",
    modem="rak3172",
    dev_eui="AC1F09FFFE0A1B2C",
    join_eui="70B3D57ED0000001",
    app_key="00112233445566778899AABBCCDDEEFF",
)


def _zbar(png) -> list[str]:
    r = subprocess.run([ZBAR, "--quiet", "--raw", str(png)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def _chromium(*args, timeout=60):
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# --- labels: LoRa Alliance TR005 --------------------------------------------------------------


def test_tr005_text_and_its_refusals():
    assert lb.tr005(REG.join_eui, REG.dev_eui) == "LW:D0:70B3D57ED0000001:AC1F09FFFE0A1B2C:00000000"
    assert lb.tr005(REG.join_eui, REG.dev_eui, "A1B20001", "st-0042").endswith(":A1B20001:SST-0042")
    for bad in (
        dict(join_eui="70b3d57ed0000001"),  # TR005 EUIs are upper-case hex
        dict(dev_eui="AC1F09FFFE0A1B2"),  # 15 digits
        dict(profile_id="A1B2"),
        dict(serial="st:0042"),  # ':' separates the elements
    ):
        args = dict(join_eui=REG.join_eui, dev_eui=REG.dev_eui, profile_id="00000000", serial="")
        args.update(bad)
        with pytest.raises(lb.LabelError):
            lb.tr005(**args)


@needs_zbar
def test_qr_reads_back_exactly_through_zbar(tmp_path):
    for station, profile in (("st-0042", "00000000"), ("PARK.NORD-7", "A1B20001")):
        text = lb.Label(station, "pico-w", REG.dev_eui, REG.join_eui, profile).qr_text
        png = lb.save_qr_png(text, tmp_path / f"{station}.png")
        assert _zbar(png) == [text]


@needs_zbar
@needs_chromium
def test_printed_label_sheet_scans(tmp_path):
    """The SVG sheet as a browser prints it still carries a QR code that decodes to the text."""
    labels = [
        lb.Label("st-0042", "esp32-devkitc", REG.dev_eui, REG.join_eui),
        lb.Label("st-0043", "pico-w", "AC1F09FFFE0A1B2D", REG.join_eui),
    ]
    (sheet,) = lb.write_sheets(labels, tmp_path)
    BUILD.mkdir(exist_ok=True)
    png = BUILD / "label-sheet.png"
    # 210 x 297 mm at 96 dpi: 794 x 1123 px; a QR module is then ~1.7 px, so render at 3x
    r = _chromium(f"--screenshot={png}", "--window-size=794,1123", "--force-device-scale-factor=3",
                  sheet.as_uri())  # fmt: skip
    assert png.exists(), r.stderr[-500:]
    assert sorted(_zbar(png)) == sorted(lab.qr_text for lab in labels)


# --- the report: HTML readable offline, rendered by a real browser -----------------------------


def _record():
    rep = Report(port="/dev/ttyUSB0", station_id="st-0042", board="esp32-devkitc")
    rep.micropython, rep.firmware, rep.config_digest, rep.uid = (
        "MicroPython 1.29.0", "0.1.0", "bec3906c", "a4cf12fe0b01",
    )  # fmt: skip
    rep.add("micropython", True, "3.4.0 on esp32")
    rep.add("sensor bme280", True, "humidity_pct=48.25 pressure_hpa=1013.2 temperature_c=21.43")
    rep.add("sensor scd4x", False, "does not answer (SENSOR ENODEV): check wiring")
    rep.add("uplink", True, "lorawan: reachable")
    return rp.build(
        station_id="st-0042", operator="a.tech", started_utc="2026-12-02T05:00:00Z",
        finished_utc="2026-12-02T05:01:10Z", verify_report=rep,
        files={"/lib/station.mpy": "9f" * 32}, board_file="esp32-devkitc.json", seconds=70.2,
        steps=[{"step": "deploy", "status": "done", "seconds": 9.3, "detail": "31 files sent"}],
        attempts=[{"started_utc": "2026-12-02T04:58:00Z", "outcome": "stopped at deploy"}],
        registration=REG.identifiers(),
    )  # fmt: skip


def test_report_json_twin_and_offline_html():
    rec = _record()
    assert rec["ok"] is False  # the scd4x failed
    assert [s["name"] for s in rec["sensors"]] == ["bme280", "scd4x"]
    page = rp.html_page(rec)
    # readable offline: no scripts, no external stylesheets, images or fonts
    assert "<script" not in page and not re.search(r"(src|href)=|url\(|@import", page)
    assert REG.app_key not in json.dumps(rec) + page  # the record has no place for a key


@needs_chromium
def test_report_renders_the_station_figures_in_chromium(tmp_path):
    rec = _record()
    _, page = rp.write(rec, tmp_path)
    r = _chromium("--dump-dom", page.as_uri())
    dom = r.stdout
    assert r.returncode == 0, r.stderr[-500:]
    for figure in ("st-0042", "NOT VERIFIED", "AC1F09FFFE0A1B2C", "70B3D57ED0000001",
                   "bec3906c", "temperature_c=21.43", "does not answer", "a.tech",
                   "stopped at deploy", "9f" * 32, "70.2 s"):  # fmt: skip
        assert figure in dom, figure
    BUILD.mkdir(exist_ok=True)
    shot = BUILD / "station-report.png"
    r = _chromium(f"--screenshot={shot}", "--window-size=1000,1400", page.as_uri())
    assert shot.exists() and shot.stat().st_size > 10_000, r.stderr[-500:]


# --- registration exports ------------------------------------------------------------------------
# The Things Stack: lorawan-stack api/protobuf (end_device.proto EndDevice, identifiers.proto
# EndDeviceIdentifiers with its id rule "^[a-z0-9](?:[-]?[a-z0-9]){2,}$", 3..36 characters;
# lorawan.proto MACVersion / PHYVersion; messages.proto PayloadFormatter), frequency plan ids
# from lorawan-frequency-plans. ChirpStack v4: chirpstack/api/proto (api/device.proto Device,
# DeviceKeys; api/device_profile.proto DeviceProfile, CodecRuntime; common/common.proto Region,
# MacVersion, RegParamsRevision), JSON names as its REST gateway writes them (lowerCamelCase).
TTS_ID = re.compile(r"^[a-z0-9](?:[-]?[a-z0-9]){2,}$")
TTS_MAC = {"MAC_V1_0", "MAC_V1_0_1", "MAC_V1_0_2", "MAC_V1_0_3", "MAC_V1_0_4", "MAC_V1_1"}
TTS_PHY = {"PHY_V1_0", "PHY_V1_0_1", "PHY_V1_0_2_REV_A", "PHY_V1_0_2_REV_B", "PHY_V1_1_REV_A",
           "PHY_V1_1_REV_B", "PHY_V1_0_3_REV_A", "RP001_V1_0_3_REV_A"}  # fmt: skip
TTS_FORMATTERS = {"FORMATTER_NONE", "FORMATTER_REPOSITORY", "FORMATTER_GRPC_SERVICE",
                  "FORMATTER_JAVASCRIPT", "FORMATTER_CAYENNELPP"}  # fmt: skip
CS_REGIONS = {"EU868", "US915", "CN779", "EU433", "AU915", "CN470", "AS923", "KR920", "IN865",
              "RU864", "ISM2400", "AS923_2", "AS923_3", "AS923_4"}  # fmt: skip
CS_MAC = {"LORAWAN_1_0_0", "LORAWAN_1_0_1", "LORAWAN_1_0_2", "LORAWAN_1_0_3", "LORAWAN_1_0_4",
          "LORAWAN_1_1_0"}  # fmt: skip
CS_REG_PARAMS = {"A", "B", "RP002_1_0_0", "RP002_1_0_1", "RP002_1_0_2", "RP002_1_0_3"}
HEX16, HEX32 = re.compile(r"^[0-9A-Fa-f]{16}$"), re.compile(r"^[0-9A-Fa-f]{32}$")


def _node_has_decoder(script: str) -> None:
    """The exported formatter is the project's JavaScript and defines decodeUplink, as both
    network servers call it."""
    prog = "const vm=require('vm');const c={};vm.createContext(c);vm.runInContext(" + json.dumps(
        script
    ) + ",c);process.stdout.write(typeof c.decodeUplink)"  # fmt: skip
    r = subprocess.run(["node", "-e", prog], capture_output=True, text=True, timeout=30)
    assert r.stdout == "function", r.stderr


def test_tts_export_matches_end_device_fields():
    regs = [REG, Registration("Park Nord 7", "pico-w", "lora_e5", "2CF7F1C0440004A1",
                              "0000000000000000", app_key=new_app_key())]  # fmt: skip
    lines = tts.export(regs, "climate-stations").splitlines()
    assert len(lines) == 2
    for line, reg in zip(lines, regs, strict=True):
        d = json.loads(line)
        ids = d["ids"]
        assert TTS_ID.match(ids["device_id"]) and 3 <= len(ids["device_id"]) <= 36
        assert TTS_ID.match(ids["application_ids"]["application_id"])
        assert HEX16.match(ids["dev_eui"]) and HEX16.match(ids["join_eui"])
        assert ids["dev_eui"] == reg.dev_eui
        assert d["lorawan_version"] in TTS_MAC and d["lorawan_phy_version"] in TTS_PHY
        assert d["lorawan_version"] == "MAC_V1_0_3"
        assert d["frequency_plan_id"] == "EU_863_870_TTN"
        assert d["supports_join"] is True and d["supports_class_c"] is False
        assert HEX32.match(d["root_keys"]["app_key"]["key"])
        assert d["root_keys"]["app_key"]["key"] == reg.app_key
        assert d["formatters"]["up_formatter"] in TTS_FORMATTERS
        assert d["formatters"]["up_formatter"] == "FORMATTER_JAVASCRIPT"
    assert json.loads(lines[1])["ids"]["device_id"] == "park-nord-7"
    _node_has_decoder(json.loads(lines[0])["formatters"]["up_formatter_parameter"])


def test_chirpstack_export_matches_api_fields():
    out = json.loads(chirpstack.export([REG], uplink_interval_s=300))
    (prof,) = out["deviceProfiles"]
    p = prof["deviceProfile"]
    assert p["region"] in CS_REGIONS and p["region"] == "EU868"
    assert p["macVersion"] in CS_MAC and p["macVersion"] == "LORAWAN_1_0_3"
    assert p["regParamsRevision"] in CS_REG_PARAMS
    assert p["payloadCodecRuntime"] in {"NONE", "CAYENNE_LPP", "JS"}
    assert p["supportsOtaa"] is True and not p["supportsClassB"] and not p["supportsClassC"]
    assert p["uplinkInterval"] == 300 and p["name"] and p["tenantId"]
    _node_has_decoder(p["payloadCodecScript"])
    (dev,) = out["devices"]
    d = dev["device"]
    for required in ("devEui", "name", "applicationId", "deviceProfileId"):
        assert d[required], required
    assert HEX16.match(d["devEui"]) and d["devEui"] == REG.dev_eui.lower()
    keys = dev["keys"]["deviceKeys"]
    # LoRaWAN 1.0.x: the AppKey goes in nwkKey (device.proto DeviceKeys)
    assert HEX32.match(keys["nwkKey"]) and keys["nwkKey"] == REG.app_key.lower()
    assert dev["keys"]["path"] == f"/api/devices/{REG.dev_eui.lower()}/keys"


def test_identifiers_are_checked_and_keys_are_fresh():
    assert eui("ac:1f:09:ff:fe:0a:1b:2c", "DevEUI") == "AC1F09FFFE0A1B2C"
    with pytest.raises(RegistrationError):
        eui("AC1F09FFFE0A1B2", "DevEUI")
    keys = {new_app_key() for _ in range(50)}
    assert len(keys) == 50 and all(HEX32.match(k) for k in keys)
    assert "app_key" not in json.dumps(REG.identifiers())


# --- UF2 images (UF2 specification: github.com/microsoft/uf2) -----------------------------------


def _uf2(n=3, family=0xE48BFF56, flags=0x2000, end=0x0AB16F30):
    blocks = []
    for i in range(n):
        b = bytearray(512)
        struct.pack_into("<IIIIIIII", b, 0, 0x0A324655, 0x9E5D5157, flags, 0x10000000 + 256 * i,
                         256, i, n, family)  # fmt: skip
        struct.pack_into("<I", b, 508, end)
        blocks.append(bytes(b))
    return b"".join(blocks)


def test_uf2_magic_numbers_and_rp2040_family_are_checked(tmp_path):
    good = tmp_path / "RPI_PICO_W.uf2"
    good.write_bytes(_uf2())
    assert uf2.check(good) == 3
    cases = {
        "esp32s2.uf2": (_uf2(family=0xBFDD4EEE), "family 0xbfdd4eee"),
        "noflag.uf2": (_uf2(flags=0), "names no family id"),
        "torn.uf2": (_uf2()[:-512] + _uf2(end=0)[:512], "magic"),
        "short.uf2": (_uf2()[:700], "512-byte"),
    }
    for name, (data, why) in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(uf2.Uf2Error, match=why):
            uf2.check(p)
    # `flash` refuses an ESP32-S2 UF2 for the Pico W before anything is copied
    drive = tmp_path / "RPI-RP2"
    drive.mkdir()
    (drive / "INFO_UF2.TXT").write_text("UF2 Bootloader v3.0\n")
    wrong = tmp_path / "ESP32S2.uf2"
    wrong.write_bytes(cases["esp32s2.uf2"][0])
    r = stationctl("flash", "--board", "pico-w", wrong, "--drive", drive)
    assert r.returncode == 2 and "not rp2040" in r.stderr, r.stderr
    assert sorted(p.name for p in drive.iterdir()) == ["INFO_UF2.TXT"]
