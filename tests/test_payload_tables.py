"""The channel table of docs/payload-format.md is the fourth copy of the channel tables: the
firmware encoder's (run inside MicroPython), the Python decoder's and the JavaScript
formatter's are kept independent on purpose, so this test holds all four to the same numbers.

Data-driven from the doc table: a channel added to the format is checked as soon as its row is
in the table (and fails until every implementation has it)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from hostkit.micropython import run_mp
from stationctl.mpenv import REPO_ROOT
from stationctl.payload import decoder

DOC = REPO_ROOT / "docs" / "payload-format.md"
JS = REPO_ROOT / "host_tools" / "payload" / "climate-station.js"
HEADER = "| # | key | unit | range | scale | off | q range | full form | short form |"


def _number(text: str) -> float | int:
    text = text.strip().replace("\u2212", "-")  # the doc writes a typographic minus
    value = float(text)
    return int(value) if value.is_integer() else value


def _span(text: str) -> tuple[float | int, float | int]:
    lo, sep, hi = text.partition("..")
    assert sep, f"not a range: {text!r}"
    return _number(lo), _number(hi)


def doc_channels() -> list[dict]:
    """One dict per row of the channel table in section 3, in table order."""
    lines = DOC.read_text().splitlines()
    start = lines.index(HEADER) + 2  # the header row, then the |---| row
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        index, key, _unit, value_range, scale, off, q_range, full, short = cells
        m_full = re.fullmatch(r"u(\d+)", full)
        assert m_full, f"full form of {key}: {full!r}"
        short_span = None
        if short in ("—", "-"):
            short_bits, short_lo = 0, 0
        else:
            m_short = re.match(r"u(\d+) from q (\d+)(?: \(([^)]*)\))?", short)
            assert m_short, f"short form of {key}: {short!r}"
            short_bits, short_lo = int(m_short[1]), int(m_short[2])
            if m_short[3]:
                span = re.match(r"([−\d.]+) \.\. ([−\d.]+)", m_short[3])
                short_span = _span(f"{span[1]} .. {span[2]}") if span else None
        q_lo, q_max = _span(q_range)
        assert q_lo == 0, f"q range of {key} starts at {q_lo}"
        rows.append(
            {
                "index": int(index),
                "key": key.strip("`"),
                "range": list(_span(value_range)),
                "scale": _number(scale),
                "off": _number(off),
                "qmax": q_max,
                "full": int(m_full[1]),
                "sbits": short_bits,
                "slo": short_lo,
                "short_span": short_span,
            }
        )
    assert [r["index"] for r in rows] == list(range(len(rows))), "channel numbers 0, 1, 2 ..."
    return rows


def _columns(keys, range_=None, **tables) -> list[dict]:
    """Per-channel dicts from an implementation's parallel tables (same shape as doc_channels)."""
    n = len(keys)
    for name, table in tables.items():
        assert len(table) == n, f"{name} has {len(table)} entries for {n} channels"
    rows = []
    for ch in range(n):
        row = {"index": ch, "key": keys[ch]}
        if range_ is not None:
            row["range"] = [_number(str(v)) for v in range_[ch]]
        row.update({name: table[ch] for name, table in tables.items()})
        rows.append(row)
    return rows


_FIRMWARE = """
import json, codec, sample
print(json.dumps({
    "keys": sample.KEYS, "ranges": sample.RANGES,
    "scale": [m << s for m, s in zip(codec._MUL, codec._SHIFT)],
    "off": codec._OFF, "qmax": codec._QMAX, "full": codec._FULL,
    "slo": codec._SLO, "sbits": codec._SBITS,
}))
"""

_NODE = """
const vm = require('vm');
const ctx = {};
vm.runInNewContext(require('fs').readFileSync(process.argv[1], 'utf8'), ctx);
const t = {};
for (const name of ['KEYS', 'SCALE', 'OFF', 'QMAX', 'FULL', 'SLO', 'SBITS']) t[name] = ctx[name];
process.stdout.write(JSON.stringify(t));
"""


def _compare(doc: list[dict], impl: list[dict], who: str) -> None:
    fields = [f for f in impl[0] if f != "index"] if impl else []  # what the implementation has
    assert [r["key"] for r in impl] == [r["key"] for r in doc], f"{who}: channel keys"
    for d, i in zip(doc, impl, strict=True):
        for f in fields:
            assert i[f] == d[f], (
                f"{who}: channel {d['index']} ({d['key']}) {f} {i[f]} != doc {d[f]}"
            )


def test_doc_table_agrees_with_itself():
    """q range from the value range, the full form holds it, the short form's note in brackets."""
    rows = doc_channels()
    assert len(rows) >= 9 and rows[0]["key"] == "temperature_c"
    for r in rows:
        lo, hi = r["range"]
        assert round(hi * r["scale"]) + r["off"] == r["qmax"], r["key"]
        assert round(lo * r["scale"]) + r["off"] >= 0, r["key"]
        assert r["qmax"] < 2 ** r["full"], r["key"]
        if r["sbits"]:
            shown = r["short_span"]
            if shown is not None:  # e.g. "u9 from q 300 (-10.0 .. 41.1 °C)"
                top = r["slo"] + 2 ** r["sbits"] - 1
                want = ((r["slo"] - r["off"]) / r["scale"], (top - r["off"]) / r["scale"])
                assert shown == pytest.approx(want), r["key"]


def test_firmware_encoder_matches_the_doc():
    out = run_mp(code=_FIRMWARE).stdout.strip().splitlines()[-1]
    fw = json.loads(out)
    impl = _columns(
        fw["keys"], fw["ranges"], scale=fw["scale"], off=fw["off"], qmax=fw["qmax"],
        full=fw["full"], slo=fw["slo"], sbits=fw["sbits"],
    )  # fmt: skip
    _compare(doc_channels(), impl, "firmware/codec.py + firmware/sample.py")


def test_python_decoder_matches_the_doc():
    d = decoder
    impl = _columns(
        d.KEYS, scale=d.SCALE, off=d.OFF, qmax=d.QMAX, full=d.FULL, slo=d.SLO, sbits=d.SBITS
    )
    _compare(doc_channels(), impl, "stationctl/payload/decoder.py")


@pytest.mark.skipif(shutil.which("node") is None, reason="Node is not installed")
def test_javascript_formatter_matches_the_doc():
    proc = subprocess.run(
        ["node", "-e", _NODE, str(JS)], capture_output=True, text=True, timeout=60, check=True
    )
    js = json.loads(proc.stdout)
    impl = _columns(
        js["KEYS"], scale=js["SCALE"], off=js["OFF"], qmax=js["QMAX"], full=js["FULL"],
        slo=js["SLO"], sbits=js["SBITS"],
    )  # fmt: skip
    _compare(doc_channels(), impl, "host_tools/payload/climate-station.js")
