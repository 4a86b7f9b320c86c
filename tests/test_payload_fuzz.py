"""Fuzzing the Python decoders: random, truncated and bit-flipped frames and commands raise only
the documented errors (FrameError, CommandError), never anything else."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

from stationctl.payload import decoder as codec

GOLDEN = json.loads((Path(__file__).resolve().parent / "vectors" / "golden.json").read_text())
SEEDS = [(bytes.fromhex(f["hex"]), v["fport"]) for v in GOLDEN["vectors"] for f in v["frames"]]
PORTS = [None, 1, 2, 3, 4, 7, 10]


def test_fuzz_frame_decoder_raises_only_frame_error():
    rnd = random.Random(20261121)
    outcomes = {"decoded": 0, "rejected": 0}
    for i in range(30000):
        kind = i % 3
        if kind == 0:
            frame = rnd.randbytes(rnd.randrange(64))
            port = rnd.choice(PORTS)
        else:
            frame, port = rnd.choice(SEEDS)
            if kind == 1:
                frame = frame[: rnd.randrange(len(frame))]
            else:
                bit = rnd.randrange(len(frame) * 8)
                frame = bytearray(frame)
                frame[bit >> 3] ^= 0x80 >> (bit & 7)
                frame = bytes(frame)
        try:
            out = codec.decode(frame, port, rnd.choice([None, 1767225600]))
        except codec.FrameError as exc:
            assert str(exc)
            outcomes["rejected"] += 1
        else:
            assert isinstance(out, list) and out and all(isinstance(d, dict) for d in out)
            outcomes["decoded"] += 1
    assert outcomes["rejected"] > 10000 and outcomes["decoded"] > 1000, outcomes


def test_fuzz_command_decoder_raises_only_command_error():
    rnd = random.Random(7)
    valid = [
        codec.encode_command("set_interval", 1, interval_s=600),
        codec.encode_command("set_datarate", 2, adr=True, dr=3),
        codec.encode_command("set_config", 3, key="log_level", value="W"),
        codec.encode_command("reboot", 4),
    ]
    ok = 0
    for i in range(12000):
        if i % 2:
            p = rnd.randbytes(rnd.randrange(24))
        else:
            p = bytearray(rnd.choice(valid))
            p[rnd.randrange(len(p))] = rnd.randrange(256)
            p = bytes(p[: rnd.randrange(1, len(p) + 1)])
        try:
            d = codec.decode_command(p)
        except codec.CommandError as exc:
            assert str(exc)
        else:
            ok += 1
            assert d["command"] in codec.COMMANDS
    assert ok > 100


def test_command_encoder_rejects_bad_arguments():
    import pytest

    for name, kw in [
        ("nope", {}),
        ("set_interval", {}),
        ("set_interval", {"interval_s": -1}),
        ("set_interval", {"interval_s": True}),
        ("set_datarate", {"adr": 1, "dr": 0}),
        ("set_config", {"key": "", "value": 1}),
        ("set_config", {"key": "k", "value": "x" * 80}),
        ("reboot", {"delay": 1}),
    ]:
        with pytest.raises(codec.CommandError):
            codec.encode_command(name, **kw)
    with pytest.raises(codec.CommandError):
        codec.encode_command("reboot", cmd_id=256)


def test_python_and_javascript_decoders_agree_on_mutated_frames():
    """Differential fuzz: 6,000 truncated/bit-flipped/extended frames; both decoders must accept
    the same frames and give the same data, or both reject them."""
    import subprocess

    js = Path(__file__).resolve().parents[1] / "host_tools" / "payload" / "climate-station.js"
    rnd = random.Random(99)
    cases = []
    for i in range(6000):
        frame, port = rnd.choice(SEEDS)
        frame = bytearray(frame)
        kind = i % 3
        if kind == 0:
            for _ in range(rnd.randrange(1, 4)):
                bit = rnd.randrange(len(frame) * 8)
                frame[bit >> 3] ^= 0x80 >> (bit & 7)
        elif kind == 1:
            frame = frame[: rnd.randrange(len(frame) + 1)]
        else:
            frame += rnd.randbytes(rnd.randrange(1, 3))
        recv = rnd.choice([None, 1767225600])
        try:
            want = codec.decode(bytes(frame), port, recv)
        except codec.FrameError:
            want = None
        cases.append({"hex": bytes(frame).hex(), "port": port, "recv": recv, "want": want})
    script = f"""
const c = require({json.dumps(str(js))});
const items = JSON.parse(require('fs').readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(items.map(it => c.decodeUplink({{
  bytes: Array.from(Buffer.from(it.hex, 'hex')), fPort: it.port,
  recvTime: it.recv === null ? undefined : new Date(it.recv * 1000)}}))));
"""
    proc = subprocess.run(
        ["node", "-e", script],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    accepted = 0
    for case, out in zip(cases, json.loads(proc.stdout), strict=True):
        if case["want"] is None:
            assert out["errors"], case["hex"]
            continue
        accepted += 1
        assert out["errors"] == [], (case["hex"], out["errors"])
        data = dict(out["data"])
        frame = data.pop("frame")
        if frame == "batch":
            got = data["samples"]
        elif frame in ("status", "ack"):
            got = [dict(data, frame=frame)]
        else:
            got = [data]
        assert got == case["want"], case["hex"]
    assert accepted > 500


def test_firmware_decode_sample_agrees_with_python_decoder():
    """The station's journal reader (firmware decode_sample, in MicroPython) accepts exactly the
    single-sample frames the Python decoder accepts, with the same contents."""
    from stationctl.payload.firmware_codec import FirmwareCodec

    rnd = random.Random(5)
    singles = [f for f, port in SEEDS if port == 1 and f[0] >> 3 & 3 == 0]
    frames = []
    for i in range(3000):
        f = bytearray(rnd.choice(singles))
        if i % 2:
            bit = rnd.randrange(len(f) * 8)
            f[bit >> 3] ^= 0x80 >> (bit & 7)
        else:
            f = f[: rnd.randrange(len(f) + 1)]
        frames.append(bytes(f))
    with FirmwareCodec() as fw:
        got = fw.request({"op": "decode_many", "hexes": [f.hex() for f in frames]})["samples"]
    accepted = 0
    for f, g in zip(frames, got, strict=True):
        try:
            (want,) = codec.decode(f, 1)
        except codec.FrameError:
            assert g is None, f.hex()
            continue
        accepted += 1
        assert g is not None, f.hex()
        assert g["seq"] == want["seq"]
        if want["time"] is not None and "uptime_s" not in want:
            assert g["time"] == want["time"]
        for key in codec.KEYS:
            if key in want:
                assert math.isclose(g[key], want[key], abs_tol=1e-9), (key, f.hex())
            else:
                assert key not in g
        h = want["health"]
        assert g["flags"] == (2 if h["clock_synced"] else 0) | (1 if h["rh_high"] else 0)
        for name in ("fault", "warmup", "implausible"):
            assert g[name] == sum(1 << codec.KEYS.index(k) for k in h[name]), name
    assert accepted > 300
