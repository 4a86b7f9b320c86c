"""The JavaScript payload formatter under Node: its own Node tests (node --test), the codec
YAML's examples (parsed here with PyYAML, run through the formatter), ES5.1-only syntax."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
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


@pytest.mark.parametrize("section,fn", SECTIONS)
def test_codec_yaml_examples_run_under_node(section, fn):
    entry = CODEC[section]
    assert (PAYLOAD / entry["fileName"]).exists()
    examples = entry["examples"]
    assert len(examples) >= 5
    for ex, got in zip(examples, _run_examples(section, fn, examples), strict=True):
        want = ex["output"]
        for key in want:
            assert got.get(key) == want[key], (ex["description"], key, got)


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
        if ex["output"].get("errors"):
            with pytest.raises(codec.CommandError):
                codec.encode_command(data.pop("command"), **data)
            continue
        name, cmd_id = data.pop("command"), data.pop("cmd_id")
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
