# SCD4x driver against the byte-level model.
# mp-heapsize: 256K
# mp-port-profiles: generic esp32 rp2
import errno

from sim import vtime

vtime.install()

import micropython  # noqa: E402

import scd4x  # noqa: E402
import sensirion  # noqa: E402
from mptest import PORT_PROFILE, approx, eq, raises  # noqa: E402
from replay import Recorder  # noqa: E402

from sim.env import Environment  # noqa: E402
from sim.i2c import SimI2C  # noqa: E402
from sim.scd4x import SCD4xModel  # noqa: E402

env = None
bus = None
model = None


def setup():
    global env, bus, model
    vtime.reset(epoch_s=1700000000)
    env = Environment("synthetic")
    env.overrides = {"pressure_hpa": 1013.25}
    bus = SimI2C(profile=PORT_PROFILE)
    model = bus.attach(SCD4xModel(env))
    vtime.advance_ms(1000)  # power-up time


def test_powerup_time_is_respected():
    vtime.reset()
    m = SCD4xModel(env)
    b = SimI2C(profile=PORT_PROFILE)
    b.attach(m)
    raises(OSError, b.writeto, 0x62, b"\x36\x82")  # within 1000 ms of power-up: NACK
    d = scd4x.SCD4x(b)  # the driver waits the power-up time out
    if vtime.now_us() < 1000000 or m.nacks < 2:
        raise AssertionError("opened at %d us after %d NACKs" % (vtime.now_us(), m.nacks))
    eq(d.serial, 0xF8969F073BB4, "serial")
    b.inject(0x62, "nack")  # a chip that never answers: given up after the power-up time
    t0 = vtime.now_us()
    raises(OSError, scd4x.SCD4x, b)
    if vtime.now_us() - t0 > 1200000:
        raise AssertionError("gave up after %d us" % (vtime.now_us() - t0))


def test_serial_and_start():
    d = scd4x.SCD4x(bus)
    eq(d.serial, 0xF8969F073BB4, "serial")
    eq(model.mode, 1, "periodic mode")


def test_first_reading_after_5s_and_matches_environment():
    d = scd4x.SCD4x(bus)
    t0 = vtime.now_us()
    env.overrides.update({"co2_ppm": 812.4, "temperature_c": 21.37, "humidity_pct": 48.2})
    d.measure()
    took = vtime.now_us() - t0
    if not 5000000 <= took <= 5200000:
        raise AssertionError("first reading after %d us (datasheet: 5 s)" % took)
    eq(d.co2_ppm, 812, "CO2 ppm (1 ppm resolution)")
    approx(d.temperature_c, 21.37, 0.011, "temperature")
    approx(d.humidity_pct, 48.2, 0.011, "humidity")
    # the next one comes one period later
    t0 = vtime.now_us()
    d.measure()
    if not 4800000 <= vtime.now_us() - t0 <= 5200000:
        raise AssertionError("period %d us" % (vtime.now_us() - t0))


def test_readings_over_range():
    d = scd4x.SCD4x(bus)
    for co2, t, rh in ((400.0, -10.0, 20.0), (2000.0, 0.0, 95.0), (5000.0, 45.0, 5.0)):
        env.overrides.update({"co2_ppm": co2, "temperature_c": t, "humidity_pct": rh})
        vtime.advance_ms(5000)
        d.measure()
        approx(d.co2_ppm, co2, 1, "co2")
        approx(d.temperature_c, t, 0.011, "T")
        approx(d.humidity_pct, rh, 0.011, "RH")


def test_pressure_compensation():
    d = scd4x.SCD4x(bus)
    env.overrides.update({"co2_ppm": 1000.0, "pressure_hpa": 900.0})
    d.measure()
    approx(d.co2_ppm, 1000 * 900 / 1013.25, 1, "uncompensated at sea-level assumption")
    d.set_ambient_pressure(900.0)
    vtime.advance_ms(5000)
    d.measure()
    eq(d.co2_ppm, 1000, "compensated with the ambient pressure")
    raises(ValueError, d.set_ambient_pressure, 1500)
    eq(model.ambient_hpa, 900, "bad input changed nothing")


def test_altitude_compensation_restarts_periodic():
    d = scd4x.SCD4x(bus)
    env.overrides.update(
        {"co2_ppm": 1000.0, "pressure_hpa": 1013.25 * (1 - 2.25577e-5 * 1000) ** 5.25588}
    )
    d.set_altitude(1000)
    eq(model.altitude_m, 1000, "altitude stored")
    eq(model.mode, 1, "measuring again")
    d.measure()
    approx(d.co2_ppm, 1000, 1, "altitude-compensated")
    raises(ValueError, d.set_altitude, 5000)


def test_temperature_offset_and_asc():
    d = scd4x.SCD4x(bus)
    approx(d.temperature_offset_c(), 4.0, 0.01, "default offset")
    env.overrides.update({"temperature_c": 20.0})
    d.set_temperature_offset(0)
    d.measure()
    approx(d.temperature_c, 24.0, 0.02, "without offset the chip's own heat shows")
    eq(d.asc_enabled(), True, "ASC default on")
    d.set_asc(False)
    eq(d.asc_enabled(), False, "ASC off")


def test_commands_refused_while_measuring():
    scd4x.SCD4x(bus)
    raises(OSError, bus.writeto, 0x62, b"\x36\x82")  # serial number not allowed in periodic mode


def test_single_shot_scd41():
    d = scd4x.SCD4x(bus, start=False)
    env.overrides.update({"co2_ppm": 650.0, "temperature_c": 18.0, "humidity_pct": 60.0})
    t0 = vtime.now_us()
    d.measure_single_shot()
    if vtime.now_us() - t0 < 5000000:
        raise AssertionError("single shot faster than 5 s")
    eq(d.co2_ppm, 650, "single shot CO2")
    env.overrides["co2_ppm"] = 700.0
    d.measure()  # not started: measure() is a single shot
    eq(d.co2_ppm, 700, "measure() when idle")
    d.measure_single_shot(rht_only=True)
    eq(d.co2_ppm, 0, "RHT-only single shot reports CO2 0")
    approx(d.temperature_c, 18.0, 0.011, "T")


def test_power_down_and_wake_up():
    d = scd4x.SCD4x(bus, start=False)
    d.power_down()
    raises(OSError, bus.writeto, 0x62, b"\x36\x82")
    d.wake_up()
    d.start()
    d.measure()


def test_self_test_and_frc():
    d = scd4x.SCD4x(bus)
    d.measure()
    eq(d.self_test(), True, "self test")
    env.overrides.update({"co2_ppm": 500.0})
    vtime.advance_ms(180000)
    eq(d.forced_recalibration(520), 20, "FRC correction")


def test_absent():
    exc = raises(OSError, scd4x.SCD4x, bus, 0x63)
    eq(exc.args[0], bus.errno_absent, "errno")


def test_nack_then_recovery():
    d = scd4x.SCD4x(bus)
    bus.inject(0x62, "nack")
    raises(OSError, d.measure)
    bus.clear()
    d.measure()


def test_crc_corruption():
    d = scd4x.SCD4x(bus)
    bus.inject(0x62, "corrupt", mask=0x02)
    raises(sensirion.CRCError, d.measure)
    bus.clear()
    d.measure()


def test_slow_response_times_out():
    d = scd4x.SCD4x(bus)
    model.inject_value("slow", delay_us=300000)
    exc = raises(OSError, d.measure)
    eq(exc.args[0], errno.ETIMEDOUT, "errno")
    model.clear_values()
    vtime.advance_ms(400)
    d.measure()


def test_stuck_and_out_of_range():
    d = scd4x.SCD4x(bus)
    model.inject_value("stuck")
    d.measure()
    first = d.co2_ppm
    env.overrides["co2_ppm"] = 1500.0
    d.measure()
    eq(d.co2_ppm, first, "stuck")
    model.clear_values()
    model.inject_value("force", "co2_ppm", value=50000.0)
    d.measure()
    eq(d.co2_ppm, 50000, "out-of-range value passed through for the station to flag")


def test_read_measurement_allocates_nothing():
    rec = Recorder(bus)
    d = scd4x.SCD4x(rec)
    env.overrides.update({"co2_ppm": 733.0, "temperature_c": 22.22, "humidity_pct": 33.33})
    vtime.advance_ms(5000)
    rec.record()
    d.read_measurement()
    d.co2_ppm = 0
    micropython.heap_lock()
    try:
        for _ in range(5):
            rec.replay()
            d.read_measurement()
    finally:
        micropython.heap_unlock()
    eq(rec.mismatches, 0, "replayed writes")
    eq((d.co2_ppm, d.temp_cdeg, d.rh_cpct), (733, 2222, 3333), "replayed result")


def test_commands_accepted_right_after_start_and_newer_datasheet_commands():
    # start_periodic has no execution time in the datasheet: data-ready may follow at once
    bus.writeto(0x62, b"\x21\xb1")
    bus.writeto(0x62, b"\xe4\xb8")
    vtime.advance_ms(1)  # get_data_ready_status executes in 1 ms
    buf = bytearray(3)
    bus.readfrom_into(0x62, buf)
    eq(sensirion.word(buf, 0) & 0x07FF, 0, "not ready yet")
    bus.writeto(0x62, b"\x3f\x86")
    vtime.advance_ms(500)
    for cmd, want in (
        (b"\x20\x2f", 0x1000),
        (b"\x23\x3f", 400),
        (b"\x23\x40", 44),
        (b"\x23\x4b", 156),
    ):
        bus.writeto(0x62, cmd)
        vtime.advance_ms(1)
        bus.readfrom_into(0x62, buf)
        sensirion.check(buf, 1)
        eq(sensirion.word(buf, 0), want, "reply to %s" % cmd)
