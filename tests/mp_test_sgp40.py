# SGP40 driver against the byte-level model; VOC index behaviour.
# mp-heapsize: 256K
# mp-port-profiles: generic esp32 rp2
# mp-ports: unix wasm32
import errno

from sim import vtime

vtime.install()

import micropython  # noqa: E402

import sensirion  # noqa: E402
import sgp40  # noqa: E402
from mptest import PORT_PROFILE, approx, eq, raises  # noqa: E402
from replay import Recorder  # noqa: E402
from voc_index import VocIndex  # noqa: E402

from sim.env import Environment  # noqa: E402
from sim.i2c import SimI2C  # noqa: E402
from sim.sgp40 import SGP40Model, sraw_for  # noqa: E402

env = None
bus = None
model = None


def setup():
    global env, bus, model
    vtime.reset(epoch_s=1700000000)
    env = Environment("synthetic")
    env.overrides = {"voc_ppb": 120.0, "humidity_pct": 50.0, "temperature_c": 25.0}
    bus = SimI2C(profile=PORT_PROFILE)
    model = bus.attach(SGP40Model(env))
    vtime.advance_ms(1)


def test_identity_and_self_test():
    d = sgp40.SGP40(bus)
    eq(d.serial, 0x000003349A1F, "serial")
    model.self_test_ok = False
    exc = raises(OSError, sgp40.SGP40, bus)
    eq(exc.args[0], errno.EIO, "failed self test")


def test_raw_signal_matches_model_with_compensation():
    d = sgp40.SGP40(bus)
    for voc, rh, t in ((50.0, 30.0, 10.0), (120.0, 85.0, 18.5), (900.0, 60.0, 30.0)):
        env.overrides = {"voc_ppb": voc, "humidity_pct": rh, "temperature_c": t}
        s = d.measure_raw(int(rh * 100), int(t * 100), settle=True)
        # +-1 tick: the compensation words are quantised (0.0015 %RH, 0.0027 degC per tick)
        approx(s, sraw_for(voc, rh, t, rh, t), 1, "SRAW for %r" % ((voc, rh, t),))
    # the chip decoded the compensation words the driver sent (datasheet tick formulas)
    rh_told, t_told = model.last_told
    if abs(rh_told - 60.0) > 0.002 or abs(t_told - 30.0) > 0.003:
        raise AssertionError("compensation words decode to %r" % (model.last_told,))


def test_compensation_removes_humidity_dependence():
    d = sgp40.SGP40(bus)
    comp = []
    raw = []
    for rh in (30.0, 60.0, 90.0):
        env.overrides = {"voc_ppb": 200.0, "humidity_pct": rh, "temperature_c": 20.0}
        comp.append(d.measure_raw(int(rh * 100), 2000, settle=True))  # hotplate at temperature
        raw.append(d.measure_raw())  # 50 %RH / 25 degC defaults: no compensation
    if max(comp) - min(comp) > 1:
        raise AssertionError("compensated SRAW varies with humidity: %r" % comp)
    if max(raw) - min(raw) < 100:
        raise AssertionError("uncompensated SRAW should move with humidity: %r" % raw)


def test_more_voc_means_lower_raw_signal():
    d = sgp40.SGP40(bus)
    env.overrides["voc_ppb"] = 100.0
    clean = d.measure_raw(5000, 2500)
    env.overrides["voc_ppb"] = 1000.0
    if d.measure_raw(5000, 2500) >= clean - 300:
        raise AssertionError("no response to VOC")


def test_cold_hotplate_settling():
    d = sgp40.SGP40(bus)
    d.measure_raw()
    d.heater_off()
    vtime.advance_ms(60000)
    settled = sraw_for(120.0, 50.0, 25.0)
    t0 = vtime.now_us()
    approx(d.measure_raw(settle=True), settled, 1, "settled after a discarded first measurement")
    if vtime.now_us() - t0 < 230000:
        raise AssertionError("Sensirion's low-power procedure: 30 ms + 170 ms + 30 ms")
    d.heater_off()
    vtime.advance_ms(60000)
    approx(d.measure_raw(), settled + 1500, 1, "first measurement after idle reads high")
    # a second measurement right after the first (31 ms) is still on a heating plate
    cold = d.measure_raw()
    if not settled + 1000 < cold:
        raise AssertionError("31 ms after heater-on: %d, settled %d" % (cold, settled))
    d.heater_off()
    vtime.advance_ms(1000)
    d.measure_raw()
    vtime.advance_ms(170)
    approx(d.measure_raw(), settled, 1, "170 ms after the first measurement: settled")


def test_measure_takes_30ms():
    d = sgp40.SGP40(bus)
    t0 = vtime.now_us()
    d.measure_raw()
    took = vtime.now_us() - t0
    if not 30000 <= took <= 32000:
        raise AssertionError("took %d us" % took)


def test_absent_nack_crc_slow():
    exc = raises(OSError, sgp40.SGP40, bus, 0x58)
    eq(exc.args[0], bus.errno_absent, "absent")
    d = sgp40.SGP40(bus)
    bus.inject(0x59, "nack")
    raises(OSError, d.measure_raw)
    bus.clear()
    bus.inject(0x59, "corrupt", mask=0x80)
    raises(sensirion.CRCError, d.measure_raw)
    bus.clear()
    model.inject_value("slow", delay_us=100000)
    exc = raises(OSError, d.measure_raw)
    eq(exc.args[0], errno.ETIMEDOUT, "slow")
    model.clear_values()
    vtime.advance_ms(200)
    d.measure_raw()


def test_forced_zero_raw_signal_is_rejected():
    d = sgp40.SGP40(bus)
    model.inject_value("force", "sraw", value=0)
    raises(ValueError, d.measure_raw)
    model.clear_values()
    d.measure_raw()


def test_stuck_fault_freezes_raw_signal():
    d = sgp40.SGP40(bus)
    model.inject_value("stuck")
    a = d.measure_raw(settle=True)
    env.overrides["voc_ppb"] = 2000.0
    eq(d.measure_raw(), a, "stuck")


def test_measure_raw_allocates_nothing():
    rec = Recorder(bus)
    d = sgp40.SGP40(rec)
    d.measure_raw(4321, 1987)
    rec.record()
    want = d.measure_raw(4321, 1987)
    micropython.heap_lock()
    try:
        for _ in range(5):
            rec.replay()
            got = d.measure_raw(4321, 1987)
    finally:
        micropython.heap_unlock()
    eq(rec.mismatches, 0, "replayed writes")
    eq(got, want, "replayed SRAW")


# --- VOC index ---


def test_index_blackout_then_mean_is_100():
    v = VocIndex()
    eq(v.process(30000, 1.0), 0, "blackout")
    for _ in range(45):
        v.process(30000, 1.0)
    out = [v.process(30000, 1.0) for _ in range(300)]
    eq(out[-1], 100, "a steady signal reads 100")
    if not v.learning:
        raise AssertionError("still learning after 6 minutes")


def test_index_rises_with_voc_event_and_relearns():
    v = VocIndex()
    for _ in range(4 * 360):  # 4 h of steady air at 10 s
        v.process(30000, 10.0)
    if v.learning:
        raise AssertionError("learning should be over after 4 h")
    peak = 0
    for _ in range(30):  # a 5-minute event: 600 ticks lower
        peak = max(peak, v.process(29400, 10.0))
    if peak < 200:
        raise AssertionError("event index only %d" % peak)
    for _ in range(360):
        last = v.process(30000, 10.0)
    if abs(last - 100) > 5:
        raise AssertionError("did not return to ~100: %d" % last)


def test_index_sampling_interval_is_validated():
    v = VocIndex()
    raises(ValueError, v.process, 30000, 0)


def test_voc_index_with_a_cycle_longer_than_the_fixed_point_range_leaves_learning():
    # the config allows a 24 h interval; the reference's uptime counters stop below 32767 s, so
    # an interval above that must still count, or the index never leaves its initial learning
    for dt in (32766.0, 32767.0, 40000.0, 86400.0):
        v = VocIndex()
        for _ in range(4):
            v.process(30000, dt)
        eq(v.learning, False, "learning after 4 samples at %d s" % dt)
        quiet = v.process(30000, dt)
        event = v.process(28500, dt)  # more VOC: a lower raw signal
        if not (quiet < 150 < event):
            raise AssertionError("dt %d: index %d quiet, %d in an event" % (dt, quiet, event))
