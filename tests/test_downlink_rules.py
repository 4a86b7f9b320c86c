"""The downlink encoders (Python `encode_command`, the JavaScript formatter's `encodeDownlink`)
refuse exactly what the station refuses: their rule tables are written from firmware/config.py
(tests/vectors/make_config_rules.py) and checked here against it, and every case is put to the
real station code (commands.parse, config.set_key and config.downlink_problems, the checks of
its downlink path, inside MicroPython, against a station with the default config)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from stationctl.mpenv import micropython_env, micropython_exe
from stationctl.payload import decoder as codec

REPO = Path(__file__).resolve().parents[1]
JS = REPO / "host_tools" / "payload" / "climate-station.js"
sys.path.insert(0, str(REPO / "tests" / "vectors"))

import make_config_rules  # noqa: E402


def test_rule_tables_are_the_firmware_config_schema():
    """Fails when firmware/config.py changes and the encoders' copies were not regenerated."""
    rules = make_config_rules.firmware_rules()
    fix = "firmware/config.py changed: run .venv/bin/python tests/vectors/make_config_rules.py"
    assert codec.CONFIG_RULES == rules, fix
    assert make_config_rules.js_rules_text(JS.read_text()) == make_config_rules.js_block(rules), fix
    assert {"interval_s", "batch", "lorawan.dr", "log_level"} <= set(rules)


_STATION = """
import sys, json, binascii
import commands, config
out = []
for h in json.loads(sys.stdin.read()):
    try:
        op, cmd_id, changes = commands.parse(binascii.unhexlify(h))
        old = config.defaults()
        cfg = old
        for key, value in changes:
            cfg = config.set_key(cfg, key, value)
        refused = config.downlink_problems(old, cfg)  # the link keys: set on site only
        out.append(refused[0] if refused else None)
    except (commands.CommandError, config.ConfigError) as exc:
        out.append(str(exc))
print(json.dumps(out))
"""


def _station_verdicts(frames: list[bytes]) -> list[str | None]:
    """None where the station's own code accepts the command, else its reason."""
    proc = subprocess.run(
        [str(micropython_exe()), "-c", _STATION],
        input=json.dumps([f.hex() for f in frames]),
        capture_output=True,
        text=True,
        env=micropython_env(),
        timeout=60,
        check=True,
    )
    return json.loads(proc.stdout)


def _js_encode(datas: list[dict]) -> list[dict]:
    script = f"""
const c = require({json.dumps(str(JS))});
const items = JSON.parse(require('fs').readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(items.map(d => c.encodeDownlink({{data: d}}))));
"""
    proc = subprocess.run(
        ["node", "-e", script],
        input=json.dumps(datas),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(proc.stdout)


# (command, arguments): the cases and each kind of rule at and beyond its limits
CASES = [
    ("set_interval", {"interval_s": 5}),
    ("set_interval", {"interval_s": 9}),
    ("set_interval", {"interval_s": 10}),
    ("set_interval", {"interval_s": 86400}),
    ("set_interval", {"interval_s": 86401}),
    ("set_interval", {"interval_s": 16777215}),
    ("set_batch", {"batch": 0}),
    ("set_batch", {"batch": 1}),
    ("set_batch", {"batch": 32}),
    ("set_batch", {"batch": 33}),
    ("set_batch", {"batch": 200}),
    ("set_datarate", {"adr": True, "dr": 5}),
    ("set_datarate", {"adr": False, "dr": 6}),
    ("set_datarate", {"adr": False, "dr": 15}),
    ("set_config", {"key": "log_level", "value": "W"}),
    ("set_config", {"key": "log_level", "value": "Q"}),
    ("set_config", {"key": "log_level", "value": 1}),
    ("set_config", {"key": "interval_s", "value": 600}),
    ("set_config", {"key": "interval_s", "value": 5}),
    ("set_config", {"key": "interval_s", "value": "600"}),
    ("set_config", {"key": "mqtt.password", "value": "secret"}),
    ("set_config", {"key": "lorawan_appkey", "value": "00" * 16}),
    ("set_config", {"key": "no_such_key", "value": 1}),
    ("set_config", {"key": "mqtt", "value": {}}),
    ("set_config", {"key": "station_id", "value": "roof-7"}),
    ("set_config", {"key": "station_id", "value": "roof 7!"}),
    ("set_config", {"key": "station_id", "value": "x" * 33}),
    ("set_config", {"key": "mqtt.port", "value": 0}),
    ("set_config", {"key": "mqtt.port", "value": 8883}),
    ("set_config", {"key": "mqtt.tls", "value": True}),
    ("set_config", {"key": "mqtt.tls", "value": "yes"}),
    ("set_config", {"key": "mqtt.user", "value": "bob"}),
    ("set_config", {"key": "uplink", "value": "mqtt"}),
    ("set_config", {"key": "lorawan.region", "value": "US915"}),
    ("set_config", {"key": "journal.max_bytes", "value": 4096}),
    ("set_config", {"key": "journal.max_bytes", "value": 65536}),
    ("set_config", {"key": "mqtt.max_payload", "value": 11}),
    ("set_config", {"key": "mqtt.max_payload", "value": 51}),
    ("set_config", {"key": "lorawan.confirmed", "value": True}),
    ("set_config", {"key": "calibrate_co2:reference_ppm", "value": 400}),
    ("calibrate_co2", {"reference_ppm": 399}),
    ("calibrate_co2", {"reference_ppm": 400}),
    ("calibrate_co2", {"reference_ppm": 5000}),
    ("calibrate_co2", {"reference_ppm": 5001}),
    ("set_config", {"key": "lorawan.adr", "value": 1}),
    ("set_config", {"key": "format", "value": "lpp"}),
    ("set_config", {"key": "warmup_s", "value": 601}),
    ("set_config", {"key": "warmup_s", "value": None}),
]


def test_encoders_refuse_exactly_what_the_station_refuses():
    frames = [codec.encode_command(name, 1, check=False, **args) for name, args in CASES]
    station = _station_verdicts(frames)
    assert station.count(None) >= 10 and len(station) - station.count(None) >= 20  # both kinds
    js = _js_encode([dict(args, command=name, cmd_id=1) for name, args in CASES])
    for (name, args), frame, verdict, js_out in zip(CASES, frames, station, js, strict=True):
        try:
            got = codec.encode_command(name, 1, **args)
            py_problem = None
        except codec.CommandError as exc:
            py_problem = str(exc)
        case = (name, args, verdict)
        assert (py_problem is None) == (verdict is None), (case, py_problem)
        assert (js_out["errors"] == []) == (verdict is None), (case, js_out)
        if verdict is None:
            assert got == frame and bytes(js_out["bytes"]) == frame, case
        else:
            assert js_out["errors"] == [py_problem], case  # one rule, one message


def test_python_encoder_refuses_a_float_interval_the_station_would_refuse():
    # json.dumps(600.0) is "600.0": the station's schema wants an integer
    assert _station_verdicts([codec.encode_command("set_config", 1, check=False, key="interval_s",
                                                   value=600.0)])[0]  # fmt: skip
    with pytest.raises(codec.CommandError, match="interval_s must be an integer 10..86400"):
        codec.encode_command("set_config", 1, key="interval_s", value=600.0)


def test_default_cmd_id_tells_commands_apart_and_javascript_agrees():
    names = [("set_interval", {"interval_s": 600}), ("set_interval", {"interval_s": 900}),
             ("reboot", {}), ("request_status", {}), ("set_batch", {"batch": 4})]  # fmt: skip
    frames = [codec.encode_command(n, **a) for n, a in names]
    ids = [f[1] for f in frames]
    assert len(set(ids)) == len(ids)  # the ack's cmd_id names the command it answers
    js = _js_encode([dict(a, command=n) for n, a in names])
    assert [bytes(o["bytes"]) for o in js] == frames
    assert codec.encode_command("reboot", 0)[1] == 0  # an explicit id is kept


def test_javascript_encoder_honours_the_port():
    script = f"""
const c = require({json.dumps(str(JS))});
const d = {{command: 'reboot', cmd_id: 3}};
process.stdout.write(JSON.stringify([c.encodeDownlink({{data: d, fPort: 10}}),
  c.encodeDownlink({{data: d, fPort: 5}}), c.encodeDownlink({{data: d}})]));
"""
    ok, other, none = json.loads(subprocess.check_output(["node", "-e", script], text=True))
    assert ok["fPort"] == 10 and ok["errors"] == [] and none["fPort"] == 10
    assert other["errors"] == ["commands go on FPort 10 (the station drops other ports), not 5"]
    assert "bytes" not in other
