"""Heap bytes per call of the firmware's hot paths, on whichever port runs this script.

    micropython sim/hotpath.py                   (unix port: small ints of 63 bits)
    node tests/wasm32/run.mjs sim/hotpath.py     (WebAssembly port: 31 bits, like a board)

Prints one line per path, `name  N B/call`, averaged over several calls with automatic GC off.
On a 32-bit port an integer above 2**30 is a heap object (16 B or more), so a path that is
allocation-free on the unix port can allocate on every board: `stationctl bench heap32` runs
this on both ports and puts the figures side by side.
"""

import sys

# run as a script, this folder comes first on the path and its bme280 (the chip model) would
# shadow the driver
if sys.path and sys.path[0].rstrip("/").endswith("sim"):
    sys.path.pop(0)

import gc  # noqa: E402

import bme280  # noqa: E402
import codec  # noqa: E402
import sample as S  # noqa: E402

N = 20
T0 = 1767225600  # 2026-01-01, a unix time above 2**30
FULL = (21.43, 45.5, 1013.21, 612, 4.1, 6.3, 9.8, 102, 3.71)


def per_call(name, fn):
    fn()  # first call: lazy buffers made
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    for _ in range(N):
        fn()
    used = (gc.mem_alloc() - before) // N
    gc.enable()
    print("%-28s %5d B/call" % (name, used))


def make(seq, t):
    s = S.Sample()
    for i in range(S.N_CHANNELS):
        s.set(i, FULL[i] + (seq % 4) * 0.1)
    s.seq = seq
    s.time = t
    s.flags = S.FLAG_CLOCK_SYNCED
    return s


class _Calibrated(bme280.BME280):
    """The datasheet's worked-example calibration, without a bus."""

    def __init__(self):
        self.dig_T1, self.dig_T2, self.dig_T3 = 27504, 26435, -1000
        self.dig_P1, self.dig_P2, self.dig_P3 = 36477, -10685, 3024
        self.dig_P4, self.dig_P5, self.dig_P6 = 2855, 140, -7
        self.dig_P7, self.dig_P8, self.dig_P9 = 15500, -14600, 6000
        self.dig_H1, self.dig_H2, self.dig_H3 = 75, 362, 0
        self.dig_H4, self.dig_H5, self.dig_H6 = 324, 0, 30


def main():
    print("port %s, sys.maxsize %d" % (sys.platform, sys.maxsize))
    buf = bytearray(256)
    one = make(100, T0)
    per_call("codec.encode_sample", lambda: codec.encode_sample(one, buf))
    ten = [make(100 + k, T0 + 600 * k) for k in range(10)]
    per_call("codec.encode_batch(10)", lambda: codec.encode_batch(ten, 10, buf, 242))
    b = _Calibrated()
    per_call("bme280.compensate", lambda: b.compensate(519888, 415148, 30000))


main()
