"""The JavaScript payload formatter under Node: its own Node tests (node --test), the codec
YAML against the lorawan-devices schema rules and its examples run as that repository's CI runs
them, the normalized payload against lib/payload.json's rules, ES5.1-only syntax."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from stationctl.payload import decoder as codec

REPO = Path(__file__).resolve().parents[1]
PAYLOAD = REPO / "host_tools" / "payload"
JS = PAYLOAD / "climate-station.js"
YAML = PAYLOAD / "climate-station-codec.yaml"

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="Node is not installed")


def test_node_tests_pass():
    proc = subprocess.run(
        ["node", "--test", str(PAYLOAD / "test")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(REPO),
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert re.search(r"^# fail 0$", proc.stdout, re.M)


def _run_examples(section: str, fn: str, examples: list[dict]) -> list[dict]:
    script = f"""
const c = require({json.dumps(str(JS))});
const ex = JSON.parse(require('fs').readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(ex.map(e => c.{fn}(e.input))));
"""
    proc = subprocess.run(
        ["node", "-e", script],
        input=json.dumps(examples),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(proc.stdout)


CODEC = yaml.safe_load(YAML.read_text())
SECTIONS = [
    ("uplinkDecoder", "decodeUplink"),
    ("downlinkEncoder", "encodeDownlink"),
    ("downlinkDecoder", "decodeDownlink"),
]


# --- the rules of TheThingsNetwork lorawan-devices, written down from its schema.json
# (definitions frmPayload, fPort, script, endDevicePayloadCodec) and lib/payload.json (the
# normalized uplink payload). The repository's validator refuses a codec file that breaks them
# before it runs any example.
_LOCAL_FILE = re.compile(r"^(([a-z0-9-]+\/)+)?([a-z0-9_-]+\.)+[a-z0-9]{1,}$")
_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def _number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _frm_payload_problems(v, where: str) -> list[str]:
    if not isinstance(v, list) or not 1 <= len(v) <= 256:
        return [f"{where}: bytes must be a list of 1..256 bytes"]
    if not all(isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 255 for b in v):
        return [f"{where}: bytes must be integers 0..255"]
    return []


def _fport_problems(v, where: str) -> list[str]:
    ok = isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 255
    return [] if ok else [f"{where}: fPort must be an integer 1..255"]


def _script_output_problems(out, where: str, required: str) -> list[str]:
    problems = []
    if not isinstance(out, dict):
        return [f"{where}: output must be an object"]
    for key in ("warnings", "errors"):
        if key in out and not (
            isinstance(out[key], list) and all(isinstance(m, str) for m in out[key])
        ):
            problems.append(f"{where}: {key} must be a list of strings")
    if not out.get("errors") and required not in out:
        problems.append(f"{where}: output without errors needs {required}")
    return problems


def measurement_problems(data, where: str = "normalized") -> list[str]:
    """lib/payload.json: an array of measurements {time, air: {temperature >= -273.15,
    relativeHumidity 0..100, pressure 900..1100, co2 0..1e6, lightIntensity >= 0}, soil, wind},
    no other properties."""
    if not isinstance(data, list):
        return [f"{where}: the normalized payload must be an array of measurements"]
    problems = []
    limits = {"temperature": (-273.15, None), "relativeHumidity": (0, 100),
              "pressure": (900, 1100), "co2": (0, 1_000_000), "lightIntensity": (0, None)}  # fmt: skip
    for i, m in enumerate(data):
        w = f"{where}[{i}]"
        if not isinstance(m, dict):
            problems.append(f"{w}: a measurement must be an object")
            continue
        for key in set(m) - {"time", "air", "soil", "wind"}:
            problems.append(f"{w}: {key} is not a measurement property")
        if "time" in m and not (isinstance(m["time"], str) and _RFC3339.match(m["time"])):
            problems.append(f"{w}: time must be an RFC 3339 date-time")
        air = m.get("air", {})
        if not isinstance(air, dict):
            problems.append(f"{w}: air must be an object")
            continue
        for key, v in air.items():
            if key not in limits:
                problems.append(f"{w}: air.{key} is not in the schema")
            elif not _number(v):
                problems.append(f"{w}: air.{key} must be a number")
            else:
                lo, hi = limits[key]
                if v < lo or (hi is not None and v > hi):
                    problems.append(f"{w}: air.{key} {v} outside {lo}..{hi}")
    return problems


def codec_file_problems(doc) -> list[str]:
    """Every way the codec YAML breaks the lorawan-devices codec schema."""
    if not isinstance(doc, dict):
        return ["the codec file must be a mapping"]
    problems = [f"{k}: not a codec section" for k in set(doc) - {s for s, _ in SECTIONS}]
    for section, _ in SECTIONS:
        if section not in doc:
            continue
        entry = doc[section]
        name = entry.get("fileName", "")
        if not (_LOCAL_FILE.match(name) and name.endswith(".js")):
            problems.append(f"{section}: fileName {name!r} is not a local .js file")
        for i, ex in enumerate(entry.get("examples", [])):
            w = f"{section}[{i}] {ex.get('description', '')!r}"
            if "input" not in ex or "output" not in ex:
                problems.append(f"{w}: input and output are required")
                continue
            if "description" in ex and not isinstance(ex["description"], str):
                problems.append(f"{w}: description must be text")
            inp, out = ex["input"], ex["output"]
            if section == "downlinkEncoder":
                if not isinstance(inp.get("data"), dict):
                    problems.append(f"{w}: input needs data (an object)")
                if "bytes" in out:
                    problems += _frm_payload_problems(out["bytes"], w)
                if "fPort" in out:
                    problems += _fport_problems(out["fPort"], w)
                problems += _script_output_problems(out, w, "bytes")
            else:
                problems += _frm_payload_problems(inp.get("bytes"), w)
                problems += _fport_problems(inp.get("fPort"), w)
                if "data" in out and not isinstance(out["data"], dict):
                    problems.append(f"{w}: data must be an object")
                problems += _script_output_problems(out, w, "data")
                if "normalizedOutput" in ex:
                    problems += measurement_problems(ex["normalizedOutput"].get("data"), w)
    return problems


def test_codec_yaml_passes_the_lorawan_devices_schema_rules():
    assert codec_file_problems(CODEC) == []


def test_schema_rules_catch_what_the_validator_refuses():
    """The checker is not a rubber stamp: the old file's empty-frame example, a bad port, a
    pressure outside 900..1100 and an unknown air property are each reported."""
    bad = {"uplinkDecoder": {"fileName": "climate-station.js", "examples": [
        {"description": "empty", "input": {"fPort": 1, "bytes": []},
         "output": {"data": {}, "errors": ["empty frame"], "warnings": []}},
        {"input": {"fPort": 0, "bytes": [1]}, "output": {"data": {}, "errors": [], "warnings": []},
         "normalizedOutput": {"data": [{"air": {"pressure": 850.0, "pm25": 3}}]}}]}}  # fmt: skip
    problems = codec_file_problems(bad)
    assert any("1..256 bytes" in p for p in problems)
    assert any("fPort must be" in p for p in problems)
    assert any("air.pressure 850.0 outside" in p for p in problems)
    assert any("air.pm25 is not in the schema" in p for p in problems)


# Each example in a fresh JavaScript context (a new global object: nothing one example leaves
# behind reaches the next), its whole output compared for deep equality with the example's, as
# lorawan-devices' CI runs codec examples; uplink examples also through normalizeUplink.
_FRESH = """
const vm = require('vm');
const src = require('fs').readFileSync(%s, 'utf8');
const items = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = items.map(it => {
  const ctx = vm.createContext({});
  vm.runInContext(src, ctx);
  ctx.__input = JSON.stringify(it.input);
  const r = {output: JSON.parse(vm.runInContext(
    'JSON.stringify(' + it.fn + '(JSON.parse(__input)))', ctx))};
  if (it.fn === 'decodeUplink') {
    r.normalized = JSON.parse(vm.runInContext(
      'JSON.stringify(normalizeUplink({data: decodeUplink(JSON.parse(__input)).data}))', ctx));
  }
  return r;
});
process.stdout.write(JSON.stringify(out));
"""


@pytest.mark.parametrize("section,fn", SECTIONS)
def test_codec_yaml_examples_run_in_fresh_interpreters_with_deep_equality(section, fn):
    entry = CODEC[section]
    assert (PAYLOAD / entry["fileName"]).exists()
    examples = entry["examples"]
    assert len(examples) >= 5
    items = [{"fn": fn, "input": ex["input"]} for ex in examples]
    proc = subprocess.run(
        ["node", "-e", _FRESH % json.dumps(str(PAYLOAD / entry["fileName"]))],
        input=json.dumps(items),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    for ex, got in zip(examples, json.loads(proc.stdout), strict=True):
        assert got["output"] == ex["output"], ex["description"]  # every key, deeply
        if fn == "decodeUplink" and not ex["output"]["errors"]:
            assert got["normalized"] == ex["normalizedOutput"], ex["description"]


def test_codec_yaml_uplink_examples_agree_with_python_decoder():
    for ex in CODEC["uplinkDecoder"]["examples"]:
        inp, want = ex["input"], ex["output"]
        recv = inp.get("recvTime")
        recv_s = None
        if recv is not None:
            from datetime import datetime

            recv_s = int(datetime.fromisoformat(recv.replace("Z", "+00:00")).timestamp())
        if want["errors"]:
            with pytest.raises(codec.FrameError, match=re.escape(want["errors"][0])):
                codec.decode(bytes(inp["bytes"]), inp["fPort"], recv_s)
            continue
        got = codec.decode(bytes(inp["bytes"]), inp["fPort"], recv_s)
        data = dict(want["data"])
        frame = data.pop("frame")
        if frame == "batch":
            assert got == data["samples"]
        elif frame in ("status", "ack"):
            assert got == [dict(data, frame=frame)]
        else:
            assert got == [data]


def test_codec_yaml_downlink_examples_agree_with_python_encoder():
    for ex in CODEC["downlinkEncoder"]["examples"]:
        data = dict(ex["input"]["data"])
        if "fPort" in ex["input"]:
            continue  # the port is the network server's business, not the Python encoder's
        if ex["output"].get("errors"):
            with pytest.raises(codec.CommandError) as exc:
                codec.encode_command(data.pop("command"), **data)
            assert [str(exc.value)] == ex["output"]["errors"]  # one rule, one message
            continue
        name, cmd_id = data.pop("command"), data.pop("cmd_id", None)
        assert list(codec.encode_command(name, cmd_id, **data)) == ex["output"]["bytes"]


def _strip_strings_and_comments(src: str) -> str:
    out = re.sub(r"//[^\n]*", "", src)
    out = re.sub(r"/\*.*?\*/", "", out, flags=re.S)
    return re.sub(r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"", "''", out)


def test_formatter_is_ecmascript_5_1():
    code = _strip_strings_and_comments(JS.read_text())
    for pattern, what in [
        (r"\blet\b", "let"),
        (r"\bconst\b", "const"),
        (r"=>", "arrow function"),
        (r"`", "template literal"),
        (r"\bclass\b", "class"),
        (r"\.\.\.", "spread"),
        (r"\bfor\s*\([^)]*\bof\b", "for...of"),
        (r"\basync\b|\bawait\b", "async"),
        (r"\*\*", "exponent operator"),
    ]:
        assert not re.search(pattern, code), f"ES2015+ syntax in the formatter: {what}"
    assert JS.stat().st_size < 40 * 1024


def _js_normalize(items: list[dict]) -> list[dict]:
    script = f"""
const c = require({json.dumps(str(JS))});
const items = JSON.parse(require('fs').readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(items.map(it => {{
  const d = c.decodeUplink({{bytes: Buffer.from(it.hex, 'hex').toJSON().data, fPort: it.fport,
    recvTime: it.recv === null ? undefined : new Date(it.recv * 1000)}});
  return {{decoded: d, normalized: c.normalizeUplink({{data: d.data}})}};
}})));
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


def test_normalized_payload_of_every_golden_frame_satisfies_the_payload_rules():
    golden = json.loads((REPO / "tests" / "vectors" / "golden.json").read_text())
    items = [
        {"hex": f["hex"], "fport": v["fport"], "recv": v["received_at"], "kind": v["kind"]}
        for v in golden["vectors"]
        for f in v["frames"]
    ]
    for it, got in zip(items, _js_normalize(items), strict=True):
        norm, data = got["normalized"], got["decoded"]["data"]
        assert norm["errors"] == [] and measurement_problems(norm["data"]) == [], it
        samples = data["samples"] if data["frame"] == "batch" else [data]
        if data["frame"] in ("status", "ack"):
            assert norm["data"] == [], it
            continue
        assert len(norm["data"]) == len(samples), it  # a batch: one measurement per sample
        for smp, m in zip(samples, norm["data"], strict=True):
            assert ("time" in m) == (smp.get("time") is not None), it
            if smp.get("time") is not None:
                assert m["time"] == datetime.fromtimestamp(smp["time"], UTC).strftime(
                    "%Y-%m-%dT%H:%M:%S.000Z"
                )
            air = m.get("air", {})
            assert air.get("temperature") == smp.get("temperature_c")
            assert air.get("co2") == smp.get("co2_ppm")
            # PM, VOC and battery have no normalized field: they stay in data only
            assert not {"pm2_5", "pm10", "voc", "battery"} & set(air)


def test_normalized_payload_leaves_out_pressure_outside_900_to_1100_hpa():
    from stationctl.payload.firmware_codec import FirmwareCodec

    smp = {"seq": 1, "time": 1767225600, "temperature_c": 5.0, "pressure_hpa": 850.0,
           "health": {"clock_synced": True}}  # fmt: skip
    with FirmwareCodec() as fw:
        (frame, _), = fw.encode([smp])  # fmt: skip
    (got,) = _js_normalize([{"hex": frame.hex(), "fport": 1, "recv": None}])
    assert got["decoded"]["data"]["pressure_hpa"] == 850.0  # still in the decoded data
    assert got["normalized"]["data"] == [
        {"time": "2026-01-01T00:00:00.000Z", "air": {"temperature": 5.0}}
    ]
    assert got["normalized"]["warnings"] == [
        "pressure 850 hPa is outside the normalized range 900..1100: left out"
    ]
    assert measurement_problems(got["normalized"]["data"]) == []
