"""`stationctl encode` (firmware encoder in MicroPython) and `stationctl decode` end to end."""

from __future__ import annotations

import json
import subprocess
import sys

SAMPLES = [
    {"seq": 10 + i, "time": 1767225600 + 600 * i, "temperature_c": 20.0 + i / 10,
     "humidity_pct": 55.0, "pressure_hpa": 1001.3, "health": {"clock_synced": True}}
    for i in range(6)
]  # fmt: skip


def stationctl(*args, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stationctl.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_encode_then_decode_round_trip_single_and_batch():
    lines = "\n".join(json.dumps(s) for s in SAMPLES) + "\n"
    for extra, frames in ([], 6), (["--batch", "6"], 1), (["--batch", "4"], 2):
        enc = stationctl("encode", *extra, stdin=lines)
        assert enc.returncode == 0, enc.stderr
        hexes = enc.stdout.split()
        assert len(hexes) == frames
        dec = stationctl("decode", *hexes)
        assert dec.returncode == 0, dec.stderr
        out = [json.loads(x) for x in dec.stdout.splitlines()]
        assert [d["seq"] for d in out] == [s["seq"] for s in SAMPLES]
        assert [d["time"] for d in out] == [s["time"] for s in SAMPLES]
        assert [d["temperature_c"] for d in out] == [s["temperature_c"] for s in SAMPLES]


def test_decode_reads_stdin_and_lpp():
    enc = stationctl("encode", "--format", "lpp", stdin=json.dumps(SAMPLES[0]) + "\n")
    assert enc.returncode == 0, enc.stderr
    dec = stationctl("decode", "--fport", "2", stdin=enc.stdout)
    assert dec.returncode == 0, dec.stderr
    d = json.loads(dec.stdout)
    assert d == {
        "temperature_c": 20.0,
        "humidity_pct": 55.0,
        "pressure_hpa": 1001.3,
        "lpp_types": {
            "temperature_c": "temperature",
            "humidity_pct": "humidity",
            "pressure_hpa": "barometer",
        },
    }


def test_bad_frames_and_input_exit_2_with_a_message():
    for args in (["2104"], ["zz"], ["4000"], ["--fport", "2", "0188"]):
        p = stationctl("decode", *args)
        assert p.returncode == 2, args
        assert p.stderr.startswith("stationctl decode: frame 1:"), p.stderr
        assert p.stdout == ""
    p = stationctl("encode", stdin="{not json\n")
    assert p.returncode == 2 and "line 1: not JSON" in p.stderr
    p = stationctl("encode", "--batch", "0", stdin="{}\n")
    assert p.returncode == 2 and "--batch" in p.stderr


def test_live_encoding_gives_ages():
    enc = stationctl("encode", "--live", "--batch", "6", stdin="".join(
        json.dumps(s) + "\n" for s in SAMPLES))  # fmt: skip
    assert enc.returncode == 0, enc.stderr
    dec = stationctl("decode", "--received-at", "1767228605", enc.stdout.strip())
    out = [json.loads(x) for x in dec.stdout.splitlines()]
    assert [d["age_s"] for d in out] == [3000, 2400, 1800, 1200, 600, 0]
    assert [d["time"] for d in out] == [1767225605 + 600 * i for i in range(6)]


def _lines(samples) -> str:
    return "".join(json.dumps(s) + "\n" for s in samples)


def test_batch_numbers_samples_that_carry_no_seq():
    """--batch used to send one sample per frame when lines had no seq (all seq 0)."""
    bare = [{k: v for k, v in s.items() if k != "seq"} for s in SAMPLES]
    enc = stationctl("encode", "--batch", "6", "--count", stdin=_lines(bare))
    assert enc.returncode == 0, enc.stderr
    assert enc.stdout.split() [1::2] == ["6"]  # fmt: skip
    dec = stationctl("decode", enc.stdout.split()[0])
    assert [json.loads(x)["seq"] for x in dec.stdout.splitlines()] == [0, 1, 2, 3, 4, 5]
    p = stationctl("encode", "--batch", "6", stdin=_lines([{"temperature_c": 20.0}] * 3))
    assert p.returncode == 2 and "line 1: --batch needs each sample's time" in p.stderr


def test_encode_streams_any_number_of_samples_in_bounded_memory():
    """3,000 samples used to exhaust the MicroPython helper's heap (MemoryError, then a
    JSONDecodeError on the host). Frames across request boundaries are those of one pass."""
    from stationctl.payload.firmware_codec import FirmwareCodec

    many = [{"time": 1767225600 + 600 * i + (300 if i == 333 else 0),
             "temperature_c": 20 + (i % 7) / 10, "humidity_pct": 50.0,
             "health": {"clock_synced": True}} for i in range(3000)]  # fmt: skip
    enc = stationctl("encode", "--batch", "64", "--count", stdin=_lines(many))
    assert enc.returncode == 0, enc.stderr
    words = enc.stdout.split()
    assert sum(int(n) for n in words[1::2]) == 3000
    numbered = [dict(s, seq=i) for i, s in enumerate(many[:450])]
    with FirmwareCodec() as fw:
        one_pass = [f.hex() for f, _ in fw.encode(numbered, batch=64)]
    enc = stationctl("encode", "--batch", "64", stdin=_lines(many[:450]))
    assert enc.stdout.split() == one_pass


def test_encode_refuses_values_it_cannot_carry_with_the_line():
    good = json.dumps(SAMPLES[0])
    for bad, msg in [
        ('{"temperature_c": true}', "line 2: temperature_c must be a number or null, got true"),
        ('{"temperature_c": "21"}', 'line 2: temperature_c must be a number or null, got "21"'),
        ('{"temperature_c": NaN}', "line 2: not JSON (NaN is not a measured value)"),
        ('{"co2_ppm": Infinity}', "line 2: not JSON (Infinity is not a measured value)"),
        ('{"time": 4294967296}', "line 2: time 4294967296 does not fit 32 bits"),
        ('{"time": 1767225600000}', "does not fit 32 bits (milliseconds? the format carries"),
        ('{"time": -1}', "line 2: time -1 is negative"),
        ('{"time": 1.5}', "line 2: time must be whole seconds, got 1.5"),
        ('{"seq": -3}', "line 2: seq must be a whole number >= 0, got -3"),
    ]:
        p = stationctl("encode", stdin=good + "\n" + bad + "\n")
        assert p.returncode == 2 and msg in p.stderr, (bad, p.stderr)
        assert p.stdout == "", bad
