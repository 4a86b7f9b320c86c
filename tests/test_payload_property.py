"""Property tests: random samples, encoded by the firmware encoder inside MicroPython (one
process serves every example), decoded by the Python decoder and by the JavaScript formatter,
come back within resolution, with health, seq and time intact."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stationctl.payload import decoder as codec
from stationctl.payload.firmware_codec import FirmwareCodec

REPO = Path(__file__).resolve().parents[1]
JS = REPO / "host_tools" / "payload" / "climate-station.js"
KEYS = codec.KEYS
RANGES = [(-40.0, 85.0), (0.0, 100.0), (300.0, 1100.0), (0.0, 40000.0), (0.0, 1000.0),
          (0.0, 1000.0), (0.0, 1000.0), (1.0, 500.0), (0.0, 40.0)]  # fmt: skip
RESOLUTION = [0.1, 0.5, 0.1, 1, 0.1, 0.1, 0.1, 1, 0.01]
SETTINGS = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def fw():
    with FirmwareCodec() as f:
        yield f


@pytest.fixture(scope="module")
def js_cases():
    """Frames and the Python decoder's output, checked against the JS formatter at the end."""
    cases: list[dict] = []
    yield cases
    if not cases:
        return
    script = f"""
const c = require({json.dumps(str(JS))});
const items = JSON.parse(require('fs').readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(items.map(it => c.decodeUplink({{
  bytes: Array.from(Buffer.from(it.hex, 'hex')), fPort: 1,
  recvTime: it.now === null ? undefined : new Date(it.now * 1000)}}))));
"""
    proc = subprocess.run(["node", "-e", script], input=json.dumps(cases), capture_output=True,
                          text=True, timeout=120, check=True)  # fmt: skip
    for case, out in zip(cases, json.loads(proc.stdout), strict=True):
        assert out["errors"] == [], case["hex"]
        data = dict(out["data"])
        frame = data.pop("frame")
        got = data["samples"] if frame == "batch" else [data]
        assert got == case["decoded"], case["hex"]


def _value(ch: int):
    lo, hi = RANGES[ch]
    inside = st.floats(lo, hi, allow_nan=False)
    if ch in (3, 7):
        inside = st.one_of(inside, st.integers(int(lo), int(hi)))
    outside = st.one_of(st.floats(hi + 0.01, hi * 3 + 10), st.floats(lo - 100, lo - 0.01))
    return st.one_of(st.none(), inside, inside, inside, outside)


masks = st.lists(st.sampled_from(KEYS), unique=True, max_size=3)


@st.composite
def a_sample(draw, seq=None, t=None, synced=None):
    d = {"seq": draw(st.integers(0, 2**32 - 1)) if seq is None else seq}
    d["time"] = draw(st.integers(0, 2**32 - 1)) if t is None else t
    for ch, key in enumerate(KEYS):
        v = draw(_value(ch))
        if v is not None:
            d[key] = v
    d["health"] = {
        "clock_synced": draw(st.booleans()) if synced is None else synced,
        "rh_high": draw(st.booleans()),
        "fault": draw(masks),
        "warmup": draw(masks),
        "implausible": draw(masks),
    }
    return d


def _kind(frame: bytes, newest: dict, now: int | None) -> int:
    """The frame's time kind, checked against the rule: ages (0/1) when the frame's newest
    sample is 0..65535 s before now, else unix time (2) or uptime (3)."""
    kind = frame[0] >> 1 & 3
    if now is not None and 0 <= now - newest["time"] <= 0xFFFF:
        assert kind == (0 if now - newest["time"] <= 2 else 1)  # 0: at most 2 s old
    else:
        assert kind == (2 if newest["health"]["clock_synced"] else 3)
    return kind


def _check(inp: dict, out: dict, kind: int = 2, now: int | None = None, slack: int = 0) -> None:
    """slack: for kind 0, how long before now the frame's newest sample was taken (0..2 s):
    the receive time stands for that sample's time."""
    assert out["seq"] == inp["seq"] % 256
    if kind == 0:
        assert 0 <= slack <= 2
        assert out["time"] == inp["time"] + slack and out["age_s"] == now - slack - inp["time"]
    elif kind == 1:  # decoded with received_at = now
        assert out["time"] == inp["time"] and out["age_s"] == now - inp["time"]
    elif inp["health"]["clock_synced"]:
        assert out["time"] == inp["time"]
    else:
        assert out["time"] is None and out["uptime_s"] == inp["time"]
    implausible = set(inp["health"]["implausible"])
    for ch, key in enumerate(KEYS):
        v = inp.get(key)
        lo, hi = RANGES[ch]
        if v is None:
            assert key not in out
        elif not lo <= v <= hi:
            assert key not in out
            implausible.add(key)
        else:
            tol = RESOLUTION[ch] / 2 + abs(v) * 1e-7 + 1e-9  # float32 inside the encoder
            assert math.isclose(out[key], v, abs_tol=tol), (key, v, out[key])
    h = out["health"]
    assert h["clock_synced"] == (None if kind < 2 else inp["health"]["clock_synced"])
    if "humidity_pct" in out:  # derived from the quantised humidity, whatever the station said
        assert h["rh_high"] == (out["humidity_pct"] > 70.0)
    else:
        assert h["rh_high"] == inp["health"]["rh_high"]
    assert set(h["fault"]) == set(inp["health"]["fault"])
    assert set(h["warmup"]) == set(inp["health"]["warmup"])
    assert set(h["implausible"]) == implausible


def test_single_frames_round_trip(fw, js_cases):
    @SETTINGS
    @given(st.lists(a_sample(), min_size=1, max_size=20), st.none() | st.integers(-5, 70000))
    def prop(samples, offset):
        # frames built `offset` seconds after the first sample (an age for that one; the others
        # have random times, mostly out of reach, so absolute)
        now = None if offset is None else samples[0]["time"] + offset
        frames = fw.encode(samples, now=now)
        assert len(frames) == len(samples)
        for (frame, n), inp in zip(frames, samples, strict=True):
            out = codec.decode(frame, 1, now)
            assert n == 1 and len(out) == 1
            kind = _kind(frame, inp, now)
            _check(inp, out[0], kind, now, now - inp["time"] if kind == 0 else 0)
            js_cases.append({"hex": frame.hex(), "now": now, "decoded": out})

    prop()


def test_eight_channel_live_frames_are_12_bytes_in_the_short_forms(fw):
    """The issue's target: a full eight-channel sample, sent at once, in at most 12 bytes, for
    every value inside the short-form windows (everyday city values)."""
    windows = [(-10.0, 41.1), (0.0, 100.0), (950.0, 1052.3), (350, 1373), (0.0, 51.1),
               (0.0, 51.1), (0.0, 51.1), (1, 500)]  # fmt: skip

    @SETTINGS
    @given(st.tuples(*(st.floats(lo, hi) if isinstance(lo, float) else st.integers(lo, hi)
                       for lo, hi in windows)), st.integers(0, 255))  # fmt: skip
    def prop(values, seq):
        smp = {"seq": seq, "time": 1767225600, "health": {"clock_synced": True}}
        smp.update(zip(KEYS, values, strict=False))
        ((frame, _),) = fw.encode([smp], live=True)
        assert len(frame) <= 12, frame.hex()
        assert frame[0] & 1  # the preset bit: no presence mask

    prop()


@st.composite
def a_series(draw):
    n = draw(st.integers(1, 70))
    synced = draw(st.booleans())
    interval = draw(st.integers(10, 3600))
    seq = draw(st.integers(0, 2**32 - 1))
    t = draw(st.integers(0, 2**31))
    out = []
    for i in range(n):
        out.append(draw(a_sample(seq=(seq + i) & 0xFFFFFFFF, t=t, synced=synced)))
        t += interval + draw(st.sampled_from([0, 0, 0, 0, 1, -1, 37]))
    return out


def test_batches_round_trip_and_fit(fw, js_cases):
    @SETTINGS
    @given(a_series(), st.integers(26, 242), st.sampled_from([None, 0, 5]))
    def prop(samples, max_len, delay):  # 26 bytes: the largest possible single frame
        # every frame built `delay` s after the last sample (ages for frames within 18 h)
        now = None if delay is None else samples[-1]["time"] + delay
        frames = fw.encode(samples, batch=64, max_len=max_len, now=now)
        done = 0
        for frame, n in frames:
            assert len(frame) <= max_len
            out = codec.decode(frame, 1, now)
            assert len(out) == n
            group = samples[done : done + n]
            kind = _kind(frame, group[-1], now)
            slack = now - group[-1]["time"] if kind == 0 else 0
            for inp, got in zip(group, out, strict=True):
                _check(inp, got, kind, now, slack)
            done += n
            js_cases.append({"hex": frame.hex(), "now": now, "decoded": out})
        assert done == len(samples)

    prop()


# coarse sensors: whole hPa, whole % RH, whole ug/m3, 10 ppm CO2; long runs of equal readings,
# jumps that escape, dropouts: the steps and the zero-run mode of the batch coder
_COARSE = {"humidity_pct": (1.0, 0.0, 100.0), "pressure_hpa": (1.0, 950.0, 1050.0),
           "co2_ppm": (10, 400, 2000), "pm2_5_ugm3": (1.0, 0.0, 900.0),
           "pm10_ugm3": (1.0, 0.0, 900.0), "temperature_c": (0.1, -10.0, 40.0)}  # fmt: skip


@st.composite
def a_coarse_series(draw):
    n = draw(st.integers(2, 64))
    t0 = draw(st.integers(0, 2**31))
    keys = draw(st.lists(st.sampled_from(sorted(_COARSE)), min_size=1, max_size=6, unique=True))
    walk = {}
    for key in keys:
        unit, lo, hi = _COARSE[key]
        start = draw(st.integers(0, int((hi - lo) / unit)))
        moves = draw(st.lists(st.sampled_from([0, 0, 0, 0, 0, 1, -1, 2, -40, 300]),
                              min_size=n, max_size=n))  # fmt: skip
        pos, vals = start, []
        for mv in moves:
            pos = min(max(pos + mv, 0), int((hi - lo) / unit))
            vals.append(round(lo + pos * unit, 6))
        walk[key] = vals
    gaps = draw(st.sets(st.integers(0, n - 1), max_size=3))
    out = []
    for i in range(n):
        d = {"seq": i, "time": t0 + 600 * i, "health": {"clock_synced": True, "rh_high": False,
             "fault": [], "warmup": [], "implausible": []}}  # fmt: skip
        for key, vals in walk.items():
            if not (i in gaps and key == keys[0]):
                d[key] = vals[i]
        out.append(d)
    return out


def test_coarse_batches_round_trip_through_steps_and_zero_runs(fw, js_cases):
    @SETTINGS
    @given(a_coarse_series(), st.sampled_from([51, 115, 242]))
    def prop(samples, max_len):
        frames = fw.encode(samples, batch=64, max_len=max_len)
        done = 0
        for frame, n in frames:
            assert len(frame) <= max_len
            out = codec.decode(frame, 1)
            assert len(out) == n
            for inp, got in zip(samples[done : done + n], out, strict=True):
                _check(inp, got)
            done += n
            js_cases.append({"hex": frame.hex(), "now": None, "decoded": out})
        assert done == len(samples)

    prop()
