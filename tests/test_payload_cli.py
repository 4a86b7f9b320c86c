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
