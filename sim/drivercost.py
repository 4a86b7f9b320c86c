"""Per-driver cost of one steady-state read: heap bytes the driver allocates and virtual time.

    micropython sim/drivercost.py        (from the repository root, firmware path set up)

For each driver: one read against its chip model (virtual time, bus and wire timing included),
then the same read replayed from the recorded bytes through tests/mpkit/replay.py's allocation-free
bus (the simulated buses allocate, machine.I2C/UART do not) with automatic GC off, counting heap
bytes per read: of the driver's integer read path, and of the station adapter (float conversion).
"""

import sys

if sys.path and sys.path[0].rstrip("/").endswith("sim"):
    sys.path.pop(0)
sys.path.append("tests/mpkit")

from sim import vtime  # noqa: E402

vtime.install()

import gc  # noqa: E402

import sensors  # noqa: E402
from replay import Recorder  # noqa: E402

from sim.env import Environment  # noqa: E402
from sim.i2c import SimI2C  # noqa: E402
from sim.uart import SimUART  # noqa: E402

N = 20


def cost(name, bus, make, read, adapter=None, before=None):
    rec = Recorder(bus, slots=64, size=64)
    drv = make(rec)
    for _ in range(3):
        if before:
            before()
        read(drv)  # steady state: buffers made, first-reading effects over
    if before:
        before()
    rec.record()
    t0 = vtime.now_us()
    read(drv)
    took_us = vtime.now_us() - t0
    results = []
    for fn in (read, adapter):
        if fn is None:
            results.append(None)
            continue
        gc.collect()
        gc.disable()
        a = gc.mem_alloc()
        for _ in range(N):
            rec.replay()
            fn(drv)
        used = (gc.mem_alloc() - a) // N
        gc.enable()
        results.append(used)
    if rec.mismatches:
        raise SystemExit("%s: replay diverged" % name)
    print(
        "%-8s read %6.1f ms  driver %3d B/read  station adapter %s B/read"
        % (name, took_us / 1000, results[0], "-" if results[1] is None else results[1])
    )


def main():
    vtime.reset(epoch_s=1700000000)
    env = Environment("synthetic")
    vals = [None] * 9
    merged = [None] * 9
    merged[0], merged[1] = 21.5, 48.0

    i2c = SimI2C()
    from sim.bme280 import BME280Model
    from sim.scd4x import SCD4xModel
    from sim.sgp40 import SGP40Model
    from sim.sht4x import SHT4xModel

    for m in (BME280Model(env), SHT4xModel(env), SCD4xModel(env), SGP40Model(env)):
        i2c.attach(m)
    vtime.advance_ms(1100)
    import bme280
    import scd4x
    import sgp40
    import sht4x

    cost(
        "bme280",
        i2c,
        lambda b: bme280.BME280(b, 0x76),
        lambda d: d.measure(),
        lambda d: sensors._read_bme280(d, vals, 0, merged),
    )

    def sht(b):
        d = sht4x.SHT4x(b)
        d.heat_above_cpct = 9500  # as the station opens it
        return d

    cost(
        "sht4x", i2c, sht, lambda d: d.measure(), lambda d: sensors._read_sht4x(d, vals, 0, merged)
    )

    def scd(b):
        d = scd4x.SCD4x(b)
        return d

    def period():
        vtime.advance_ms(5000)  # a new measurement is ready (the station reads minutes apart)

    cost(
        "scd4x",
        i2c,
        scd,
        lambda d: d.measure(),
        lambda d: sensors._read_scd4x(d, vals, 0, merged),
        before=period,
    )
    cost("sgp40", i2c, lambda b: sgp40.SGP40(b), lambda d: d.measure_raw(4800, 2150))

    import pms5003
    import sds011

    from sim.pms5003 import PMS5003Model
    from sim.sds011 import SDS011Model

    u1 = SimUART(1, 9600, 1000)
    u1.attach(PMS5003Model(env))
    u2 = SimUART(2, 9600, 1000)
    u2.attach(SDS011Model(env))

    def pms(b):
        d = pms5003.PMS5003(b)
        vtime.advance_ms(30000)
        return d

    cost("pms5003", u1, pms, lambda d: d.read())

    def sds(b):
        d = sds011.SDS011(b)
        vtime.advance_ms(30000)
        return d

    cost("sds011", u2, sds, lambda d: d.read())


main()
