"""VOC index (drivers/voc_index.py, run inside MicroPython) against Sensirion's own implementation.

The oracle is Sensirion's published gas index algorithm (PyPI: sensirion-gas-index-algorithm,
their C code behind a SWIG wrapper). Both get the same raw-signal series: steady air with drift,
noise and VOC events; the indices must agree to within 1 (float rounding at .5 boundaries).
"""

from __future__ import annotations

import math
import random

import pytest
from mpy import run_mp

voc_algorithm = pytest.importorskip("sensirion_gas_index_algorithm.voc_algorithm")


def _series(n: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        s = 30000 + 300 * math.sin(i / 2000) + rng.gauss(0, 15)
        if 3000 <= i % 5000 < 3300:  # an event: more VOC, lower raw signal
            s -= 900
        if i % 7000 == 6000:
            s = 0  # an invalid sample is ignored by the algorithm
        out.append(int(s))
    return out


def _ours(series: list[int], dt: float, tmp_path) -> list[int]:
    path = tmp_path / "sraw.txt"
    path.write_text("\n".join(map(str, series)))
    code = (
        "from voc_index import VocIndex\n"
        "v = VocIndex()\n"
        "out = []\n"
        f"for line in open({str(path)!r}):\n"
        f"    out.append(v.process(int(line), {dt!r}))\n"
        "print(' '.join(str(x) for x in out))\n"
    )
    proc = run_mp(code, timeout=300)
    return [int(x) for x in proc.stdout.split()]


@pytest.mark.parametrize("dt,n", [(1.0, 12000), (10.0, 4000)])
def test_voc_index_matches_sensirion(tmp_path, dt, n):
    series = _series(n, seed=int(dt))
    ours = _ours(series, dt, tmp_path)
    ref_alg = voc_algorithm.VocAlgorithm(sampling_interval=dt)
    ref = [ref_alg.process(s) for s in series]
    assert len(ours) == len(ref)
    diffs = [abs(a - b) for a, b in zip(ours, ref, strict=True)]
    assert max(diffs) <= 1, f"max difference {max(diffs)} at sample {diffs.index(max(diffs))}"
    # the series has real events: the comparison is not of two flat lines
    assert max(ref) > 200 and min(r for r in ref[100:]) < 100
