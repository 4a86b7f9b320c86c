"""Golden vectors (tests/vectors/golden.json): the firmware encoder (inside MicroPython), the
Python decoder and the JavaScript formatter must all agree with them; two frames are assembled
here bit by bit from docs/payload-format.md, independently of every encoder."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from stationctl.payload import decoder as codec
from stationctl.payload.firmware_codec import FirmwareCodec

REPO = Path(__file__).resolve().parents[1]
GOLDEN = json.loads((REPO / "tests" / "vectors" / "golden.json").read_text())
JS = REPO / "host_tools" / "payload" / "climate-station.js"


@pytest.fixture(scope="module")
def fw():
    with FirmwareCodec() as f:
        yield f


def _vectors(kind=None):
    return [v for v in GOLDEN["vectors"] if kind is None or v["kind"] == kind]


@pytest.mark.parametrize("vec", _vectors(), ids=lambda v: v["name"])
def test_firmware_encoder_reproduces_vector(fw, vec):
    inp = vec["input"]
    if vec["kind"] == "extension":
        # the firmware writes no extension channel; its journal reader steps over them
        got = fw.decode_sample(bytes.fromhex(vec["frames"][0]["hex"]))
        dec = vec["frames"][0]["decoded"][0]
        assert got["seq"] == dec["seq"] and got["time"] == dec["time"]
        assert [got[k] for k in codec.KEYS if k in got] == [dec[k] for k in codec.KEYS if k in dec]
        return
    if vec["kind"] == "status":
        got = [fw.status(**inp).hex()]
    elif vec["kind"] == "ack":
        got = [fw.ack(inp["cmd_id"], inp["status"], inp.get("result")).hex()]
    elif vec["kind"] == "lpp":
        got = [f.hex() for f, _ in fw.encode(inp["samples"], fmt="lpp")]
    else:
        frames = fw.encode(
            inp["samples"],
            batch=inp["batch"],
            max_len=inp["max_len"],
            live=inp["live"],
            now=inp.get("now"),
        )
        assert [n for _, n in frames] == [f["samples"] for f in vec["frames"]]
        got = [f.hex() for f, _ in frames]
    assert got == [f["hex"] for f in vec["frames"]]


@pytest.mark.parametrize("vec", _vectors(), ids=lambda v: v["name"])
def test_python_decoder_matches_vector(vec):
    for f in vec["frames"]:
        assert (
            codec.decode(bytes.fromhex(f["hex"]), vec["fport"], vec["received_at"]) == f["decoded"]
        )


@pytest.mark.parametrize("bad", GOLDEN["invalid"], ids=lambda b: b["name"])
def test_python_decoder_rejects_invalid_frame(bad):
    with pytest.raises(codec.FrameError, match=bad["error"]):
        codec.decode(bytes.fromhex(bad["hex"]), bad["fport"])


def _js_decode_all(items: list[dict]) -> list[dict]:
    script = f"""
const c = require({json.dumps(str(JS))});
const items = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = items.map(it => c.decodeUplink({{bytes: Buffer.from(it.hex, 'hex').toJSON().data,
  fPort: it.fport, recvTime: it.recv === null ? undefined : new Date(it.recv * 1000)}}));
process.stdout.write(JSON.stringify(out));
"""
    proc = subprocess.run(
        ["node", "-e", script],
        input=json.dumps(items),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(proc.stdout)


def _js_samples(data: dict) -> list[dict]:
    """The JS formatter's data object in the Python decoder's list form."""
    data = dict(data)
    frame = data.pop("frame")
    if frame == "batch":
        return data["samples"]
    if frame in ("status", "ack"):
        return [dict(data, frame=frame)]
    return [data]


def test_javascript_decoder_matches_vectors():
    items, expected = [], []
    for vec in GOLDEN["vectors"]:
        for f in vec["frames"]:
            items.append({"hex": f["hex"], "fport": vec["fport"], "recv": vec["received_at"]})
            expected.append(f["decoded"])
    for got, exp in zip(_js_decode_all(items), expected, strict=True):
        assert got["errors"] == []
        assert _js_samples(got["data"]) == exp


def test_javascript_decoder_rejects_invalid_frames():
    bad = GOLDEN["invalid"]
    got = _js_decode_all([{"hex": b["hex"], "fport": b["fport"], "recv": None} for b in bad])
    for b, out in zip(bad, got, strict=True):
        assert out["data"] == {}, b["name"]
        assert len(out["errors"]) == 1 and b["error"] in out["errors"][0], (b["name"], out)


class _Bits:
    def __init__(self):
        self.bits = ""

    def put(self, v: int, n: int) -> None:
        assert 0 <= v < (1 << n)
        self.bits += format(v, f"0{n}b") if n else ""

    def frame(self) -> bytes:
        b = self.bits + "0" * (-len(self.bits) % 8)
        return bytes(int(b[i : i + 8], 2) for i in range(0, len(b), 8))


def test_eight_channel_live_frame_assembled_from_the_spec():
    """docs/payload-format.md by hand: header, seq, state, then each value's short form."""
    w = _Bits()
    w.put(0b010, 3)  # version 2
    w.put(0, 2)  # single-sample frame
    w.put(0, 2)  # time kind 0: sampled now, no time field
    w.put(1, 1)  # preset: channels 0..7, no presence mask
    w.put(2, 8)  # seq
    # no flags: RH high follows from the humidity, clock sync does not matter for kind 0
    w.put(0, 1)  # no health block
    w.put(0, 1), w.put(214 + 400 - 300, 9)  # 21.4 degC: short form from q=300
    w.put(91, 8)  # 45.5 %: q = 2 * 45.5
    w.put(0, 1), w.put(10132 - 3000 - 6500, 10)  # 1013.2 hPa
    w.put(0, 1), w.put(612 - 350, 10)  # 612 ppm
    for pm in (41, 63, 98):  # 4.1, 6.3, 9.8 ug/m3
        w.put(0, 1), w.put(pm, 9)
    w.put(102 - 1, 9)  # VOC index 102
    vec = _vectors("sample")[1]
    assert vec["name"].startswith("eight sensor channels")
    assert w.frame().hex() == vec["frames"][0]["hex"]
    assert len(w.frame()) == 12  # the target: at most 12 bytes
    dec = codec.decode(w.frame(), 1, 1767226205)[0]
    assert dec["time"] == 1767226205 and dec["age_s"] == 0 and dec["seq"] == 2
    assert dec["health"]["clock_synced"] is None and dec["health"]["rh_high"] is False


def test_uptime_frame_assembled_from_the_spec():
    w = _Bits()
    w.put(0b010, 3), w.put(0, 2), w.put(3, 2), w.put(0, 1)  # time kind 3: uptime seconds
    w.put(7, 8)  # seq
    w.put(4200, 32)  # uptime 4200 s
    w.put(0b000000111, 9), w.put(0, 1)  # T, RH, p (RH present: no flag bit); no health
    w.put(0, 1), w.put(-33 + 400 - 300, 9)  # -3.25 degC rounds half away from zero: -3.3
    w.put(176, 8)  # 88 %
    w.put(0, 1), w.put(9876 - 3000 - 6500, 10)  # 987.6 hPa
    (vec,) = [v for v in _vectors("sample") if v["name"].startswith("BME280 only")]
    assert w.frame().hex() == vec["frames"][0]["hex"]
    dec = codec.decode(w.frame())[0]
    assert dec["temperature_c"] == -3.3
    assert dec["health"]["clock_synced"] is False and dec["health"]["rh_high"] is True  # 88 %


def test_rh_flag_bit_only_without_humidity_and_derived_at_the_boundary():
    """70.0 % (q 140) is not high, 70.5 % (q 141) is; without humidity the flag bit is sent."""
    for q, high in ((140, False), (141, True)):
        w = _Bits()
        w.put(0b010, 3), w.put(0, 2), w.put(0, 2), w.put(0, 1)
        w.put(9, 8), w.put(0b000000010, 9), w.put(0, 1)  # seq 9, humidity only, no health
        w.put(q, 8)
        assert codec.decode(w.frame(), 1, 100)[0]["health"]["rh_high"] is high
    for flag in (0, 1):
        w = _Bits()
        w.put(0b010, 3), w.put(0, 2), w.put(2, 2), w.put(0, 1)  # unix time
        w.put(9, 8), w.put(1767225600, 32)
        w.put(0b000000001, 9), w.put(flag, 1), w.put(0, 1)  # temperature only, RH flag
        w.put(0, 1), w.put(150, 9)
        h = codec.decode(w.frame())[0]["health"]
        assert h["rh_high"] is bool(flag) and h["clock_synced"] is True


def test_worked_example_in_the_spec_matches_the_golden_frame():
    import re

    doc = (REPO / "docs" / "payload-format.md").read_text()
    block = doc[doc.index("010 00 00 1 ") : doc.index("= 41 02 27")]
    bits = "".join(
        re.match(r"([01 ]+?)\s{2,}", line + "  ").group(1).replace(" ", "")
        for line in block.splitlines()
        if line.strip()
    )
    assert len(bits) % 8 == 0
    frame = bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits), 8))
    assert frame.hex() == _vectors("sample")[1]["frames"][0]["hex"]


def test_battery_of_a_12_v_station_assembled_from_the_spec():
    """13.2 V used to be dropped and flagged implausible (the range ended at 5 V): the full
    form is u12 up to 40 V now; a Li-ion 3.71 V still takes the 8-bit short form."""
    w = _Bits()
    w.put(0b010, 3), w.put(0, 2), w.put(2, 2), w.put(0, 1)  # v2, single, unix time, mask
    w.put(70, 8), w.put(1767225600 + 3000, 32)
    w.put(0b100000011, 9), w.put(0, 1)  # T, RH, battery; no health block
    w.put(0, 1), w.put(115 + 400 - 300, 9)  # 11.5 degC
    w.put(154, 8)  # 77 %
    w.put(1, 1), w.put(1320, 12)  # 13.2 V: full form
    (vec,) = [v for v in _vectors("sample") if v["name"].startswith("12 V station")]
    assert w.frame().hex() == vec["frames"][0]["hex"]
    (dec,) = codec.decode(w.frame())
    assert dec["battery_v"] == 13.2 and dec["health"]["implausible"] == []
    full = _vectors("sample")[0]  # the full station with a 3.71 V Li-ion cell
    assert full["frames"][0]["decoded"][0]["battery_v"] == 3.71
    assert len(bytes.fromhex(full["frames"][0]["hex"])) == 19  # as in format v1


def test_a_channel_no_decoder_knows_is_stepped_over_and_reported():
    """Extension rule (spec 5.1): channel 9 does not exist for any decoder of this format; the
    known channels decode, the unknown one is reported with its raw value (and a warning in
    the JavaScript formatter), and an extension entry naming a base channel is an error."""
    (vec,) = _vectors("extension")
    frame = bytes.fromhex(vec["frames"][0]["hex"])
    (dec,) = codec.decode(frame)
    assert dec["unknown_channels"] == [{"id": 9, "raw": 623}]
    assert (dec["temperature_c"], dec["humidity_pct"], dec["pressure_hpa"]) == (21.4, 45.5, 1013.2)
    (js,) = _js_decode_all([{"hex": frame.hex(), "fport": 1, "recv": None}])
    assert js["errors"] == [] and js["data"]["unknown_channels"] == [{"id": 9, "raw": 623}]
    assert js["warnings"] == [
        "channel 9 is not known to this decoder (raw value in unknown_channels)"
    ]
    # two entries of other widths, health masks beside them: still stepped over exactly
    w = _Bits()
    w.put(0b010, 3), w.put(0, 2), w.put(0, 2), w.put(0, 1)
    w.put(1, 8), w.put(0b000000001, 9), w.put(0, 1)  # temperature only, RH flag 0
    w.put(1, 1), w.put(0, 3), w.put(0b100, 3), w.put(0b000000010, 9)  # extended; fault: RH
    w.put(1, 3)  # two entries
    w.put(40, 6), w.put(31, 5), w.put(0xDEADBEEF, 32)
    w.put(63, 6), w.put(0, 5), w.put(1, 1)
    w.put(0, 1), w.put(150 + 400 - 300, 9)  # 15.0 degC, short form
    (dec,) = codec.decode(w.frame(), 1, 1000)
    assert dec["unknown_channels"] == [{"id": 40, "raw": 0xDEADBEEF}, {"id": 63, "raw": 1}]
    assert dec["temperature_c"] == 15.0 and dec["health"]["fault"] == ["humidity_pct"]
    (js,) = _js_decode_all([{"hex": w.frame().hex(), "fport": 1, "recv": 1000}])
    assert js["data"]["unknown_channels"] == dec["unknown_channels"]
    assert js["data"]["temperature_c"] == 15.0


def test_status_frame_with_the_dropped_count_assembled_from_the_spec():
    """Spec 8: bit 6 of byte 15 flags the dropped count (u32), which comes after the laser
    sensors' run hours and before the Wi-Fi block."""
    frame = (
        bytes([0x50, 0, 1, 0])  # header, fw 0.1.0
        + bytes.fromhex("6c2c7406")
        + bytes([1])  # power_on
        + (432000).to_bytes(4, "big")
        + (512).to_bytes(2, "big")
        + bytes([0x80 | 0x40 | 2, 1, 4])  # Wi-Fi and dropped flags, 2 sensors: bme280, sps30
        + (100).to_bytes(2, "big")  # the sps30's run hours
        + (312).to_bytes(4, "big")
        + bytes([256 - 71, 0])  # -71 dBm, wifi_ssid
    )
    (vec,) = [v for v in _vectors("status") if "dropped" in v["name"]]
    assert frame.hex() == vec["frames"][0]["hex"]
    (dec,) = codec.decode(frame, 3)
    assert dec["dropped"] == 312 and dec["sensors"][1]["laser_h"] == 100
    assert dec["wifi"] == {"rssi_dbm": -71, "network": 0}
    # a station without a laser nor Wi-Fi: the count follows the inventory directly
    (bare,) = codec.decode(frame[:15] + bytes([0x40 | 1, 1]) + (0).to_bytes(4, "big"), 3)
    assert bare["dropped"] == 0
    # an older station's frame has no count: the key is absent, not 0
    (old,) = codec.decode(frame[:15] + bytes([1, 1]), 3)
    assert "dropped" not in old


def test_uptime_frame_with_its_boot_id_assembled_from_the_spec():
    """An uptime counts from a boot: the state's extension list carries the boot id (channel
    62), and both decoders report it beside uptime_s; a batch splits or restates at a boot."""
    w = _Bits()
    w.put(0b010, 3), w.put(0, 2), w.put(3, 2), w.put(0, 1)  # time kind 3: uptime seconds
    w.put(8, 8), w.put(4800, 32)  # seq 8, uptime 4800 s
    w.put(0b000000111, 9)  # T, RH, p (RH present: no flag bit)
    w.put(1, 1), w.put(0, 3), w.put(0, 3)  # health block, extended, no masks
    w.put(0, 3), w.put(62, 6), w.put(1, 5), w.put(3, 2)  # one entry: boot id, 2 bits, 3
    w.put(0, 1), w.put(-33 + 400 - 300, 9)  # -3.3 degC
    w.put(176, 8)  # 88 %
    w.put(0, 1), w.put(9876 - 3000 - 6500, 10)  # 987.6 hPa
    (vec,) = [v for v in _vectors("sample") if "uptime of boot 3" in v["name"]]
    assert w.frame().hex() == vec["frames"][0]["hex"]
    (dec,) = codec.decode(w.frame())
    assert (dec["time"], dec["uptime_s"], dec["boot_id"]) == (None, 4800, 3)
    assert dec["health"]["clock_synced"] is False and "unknown_channels" not in dec
    (js,) = _js_decode_all([{"hex": w.frame().hex(), "fport": 1, "recv": None}])
    assert js["errors"] == [] and js["warnings"] == []
    assert (js["data"]["uptime_s"], js["data"]["boot_id"]) == (4800, 3)
    (vec,) = [v for v in _vectors("batch") if "power cut" in v["name"]]
    got = [(d["seq"], d["uptime_s"], d["boot_id"]) for f in vec["frames"] for d in f["decoded"]]
    assert got == [(60, 1200, 41), (61, 1800, 41), (62, 2400, 41), (63, 300, 42), (64, 900, 42)]
    assert len(vec["frames"]) == 1  # one batch: a new state where boot 42 begins
    (js,) = _js_decode_all([{"hex": vec["frames"][0]["hex"], "fport": 1, "recv": None}])
    assert [d["boot_id"] for d in js["data"]["samples"]] == [41, 41, 41, 42, 42]
    # a boot id wider than 16 bits is not one
    w = _Bits()
    w.put(0b010, 3), w.put(0, 2), w.put(3, 2), w.put(0, 1), w.put(8, 8), w.put(4800, 32)
    w.put(0b000000001, 9), w.put(0, 1), w.put(1, 1), w.put(0, 3), w.put(0, 3)
    w.put(0, 3), w.put(62, 6), w.put(16, 5), w.put(1, 17)
    w.put(0, 1), w.put(150, 9)
    with pytest.raises(codec.FrameError, match="boot id 17 bits wide"):
        codec.decode(w.frame())
