# SHT4x driver against the byte-level model; Sensirion CRC datasheet vector.
# mp-heapsize: 256K
# mp-port-profiles: generic esp32 rp2
import errno

from sim import vtime

vtime.install()

import micropython  # noqa: E402

import sample as S  # noqa: E402
import sensirion  # noqa: E402
import sht4x  # noqa: E402
from mptest import PORT_PROFILE, eq, raises  # noqa: E402
from replay import Recorder  # noqa: E402

from sim.env import Environment  # noqa: E402
from sim.i2c import SimI2C  # noqa: E402
from sim.sht4x import SHT4xModel  # noqa: E402

env = None
bus = None
model = None


def setup():
    global env, bus, model
    vtime.reset(epoch_s=1700000000)
    env = Environment("synthetic")
    bus = SimI2C(profile=PORT_PROFILE)
    model = bus.attach(SHT4xModel(env))
    vtime.advance_ms(2)  # past the 1 ms power-up


def test_crc_datasheet_vector():
    eq(sensirion.crc8(b"\xbe\xef"), 0x92, "CRC of 0xBEEF")
    eq(sensirion.crc8(b"\x00\x00"), 0x81, "CRC of 0x0000")
    buf = bytearray(3)
    sensirion.put_word(buf, 0, 0xBEEF)
    eq(bytes(buf), b"\xbe\xef\x92", "put_word")
    sensirion.check(buf, 1)
    buf[2] ^= 1
    raises(sensirion.CRCError, sensirion.check, buf, 1)


def test_serial_number_identity():
    d = sht4x.SHT4x(bus)
    eq(d.serial, 0x1A2B3C4D, "serial")


def test_readings_match_environment_within_resolution():
    d = sht4x.SHT4x(bus)
    worst_t = worst_rh = 0.0
    for t in (-40.0, -10.01, 0.0, 12.34, 25.0, 59.99, 85.0, 125.0):
        for rh in (0.0, 3.3, 45.67, 80.0, 99.9, 100.0):
            env.overrides = {"temperature_c": t, "humidity_pct": rh}
            d.measure()
            worst_t = max(worst_t, abs(d.temperature_c - t))
            worst_rh = max(worst_rh, abs(d.humidity_pct - rh))
    # 16-bit ticks: 175/65535 = 0.0027 degC, 125/65535 = 0.0019 %RH, plus 0.01 output rounding
    if worst_t > 0.011 or worst_rh > 0.011:
        raise AssertionError("worst T %r RH %r" % (worst_t, worst_rh))


def test_rh_is_cropped_to_0_100():
    d = sht4x.SHT4x(bus)
    env.overrides = {"humidity_pct": 104.0}  # the chip reports up to 119 %RH (condensation)
    d.measure()
    eq(d.rh_cpct, 10000, "cropped at 100 %")


def test_measure_waits_datasheet_time_and_precision_modes():
    for prec, lo, hi in ((2, 6900, 12000), (1, 3700, 6000), (0, 1300, 3000)):
        d = sht4x.SHT4x(bus, precision=prec)
        t0 = vtime.now_us()
        d.measure()
        took = vtime.now_us() - t0
        if not lo <= took <= hi:
            raise AssertionError("precision %d took %d us" % (prec, took))
    raises(ValueError, sht4x.SHT4x, bus, 0x44, 3)


def test_heater_warms_the_reading():
    d = sht4x.SHT4x(bus)
    env.overrides = {"temperature_c": 20.0, "humidity_pct": 90.0}
    d.measure()
    cold_t, cold_rh = d.temp_cdeg, d.rh_cpct
    t0 = vtime.now_us()
    d.heat(d.HEATER_200MW_1S)
    if vtime.now_us() - t0 < 1000000:
        raise AssertionError("heater pulse returned before 1 s")
    if not (d.temp_cdeg > cold_t + 300 and d.rh_cpct < cold_rh - 1000):
        raise AssertionError(
            "heated reading %d/%d vs %d/%d" % (d.temp_cdeg, d.rh_cpct, cold_t, cold_rh)
        )


def test_absent_chip_raises_enodev():
    exc = raises(OSError, sht4x.SHT4x, bus, 0x45)
    eq(exc.args[0], bus.errno_absent, "errno")


def test_nack_raises_oserror_and_recovers():
    d = sht4x.SHT4x(bus)
    bus.inject(0x44, "nack")
    raises(OSError, d.measure)
    bus.clear()
    d.measure()


def test_crc_corruption_detected():
    d = sht4x.SHT4x(bus)
    bus.inject(0x44, "corrupt", mask=0x04)
    raises(sensirion.CRCError, d.measure)
    bus.clear()
    d.measure()


def test_corruption_at_identity_check_rejected():
    bus.inject(0x44, "corrupt", mask=0x40)
    raises(sensirion.CRCError, sht4x.SHT4x, bus)


def test_slow_chip_times_out_after_deadline():
    d = sht4x.SHT4x(bus)
    model.inject_value("slow", delay_us=500000)
    t0 = vtime.now_us()
    exc = raises(OSError, d.measure)
    eq(exc.args[0], errno.ETIMEDOUT, "errno")
    took = vtime.now_us() - t0
    if took > 100000:
        raise AssertionError("gave up after %d us, deadline should be ~28 ms" % took)
    model.clear_values()
    vtime.advance_ms(600)
    d.measure()


def test_slightly_slow_chip_is_polled_until_ready():
    d = sht4x.SHT4x(bus)
    model.inject_value("slow", delay_us=5000)  # beyond max 8.3 ms but within the grace period
    env.overrides = {"temperature_c": 21.5}
    d.measure()
    eq(d.temp_cdeg, 2150, "reading after polling")
    if model.nacks < 1:
        raise AssertionError("driver should have met NACKs while polling")


def test_stuck_value_fault():
    d = sht4x.SHT4x(bus)
    model.inject_value("stuck")
    d.measure()
    first = (d.temp_cdeg, d.rh_cpct)
    vtime.advance_ms(5 * 3600 * 1000)
    d.measure()
    eq((d.temp_cdeg, d.rh_cpct), first, "stuck")
    model.clear_values()
    d.measure()
    if (d.temp_cdeg, d.rh_cpct) == first:
        raise AssertionError("still stuck")


def test_out_of_range_value_flagged_by_sample():
    d = sht4x.SHT4x(bus)
    model.inject_value("force", "temperature_c", value=150.0)
    d.measure()
    eq(d.temp_cdeg, 13000, "chip saturates at 130 degC")
    smp = S.Sample()
    smp.set(S.TEMPERATURE, d.temperature_c)
    eq(smp.values[S.TEMPERATURE], None, "value dropped")
    eq(smp.implausible, 1 << S.TEMPERATURE, "implausible bit")


def test_measure_allocates_nothing():
    rec = Recorder(bus)
    d = sht4x.SHT4x(rec)
    env.overrides = {"temperature_c": 23.45, "humidity_pct": 56.78}
    rec.record()
    d.measure()
    d.temp_cdeg = d.rh_cpct = 0
    rec.replay()
    micropython.heap_lock()
    try:
        for _ in range(5):
            rec.replay()
            d.measure()
    finally:
        micropython.heap_unlock()
    eq(rec.mismatches, 0, "replayed writes differ")
    eq((d.temp_cdeg, d.rh_cpct), (2345, 5678), "replayed result")


def test_nack_family_of_every_port_covers_its_simulated_bus():
    # the errno each simulated port raises for a busy chip is one the driver polls on, on that
    # port's firmware (sys.platform "esp32"/"rp2") and under unix where all profiles run
    from sim.i2c import PROFILES

    for port in ("esp32", "rp2"):
        _, busy, _ = PROFILES[port]
        if busy not in sensirion.NACK_ERRNOS[port]:
            raise AssertionError("%s: busy errno %d not polled" % (port, busy))
        if busy not in sensirion.NACK_ERRNOS["linux"]:
            raise AssertionError("unix: %s busy errno %d not polled" % (port, busy))
    eq(sensirion.NACK_ERRNOS["esp32"], (errno.ENODEV,), "ESP32: every NACK is ENODEV")


def test_address_only_probe_is_acknowledged_when_idle():
    # machine.I2C.scan() and drivers' presence probes write no byte after the address
    eq(bus.writeto(0x44, b""), 1, "probe ACKed")
    eq(bus.scan(), [0x44], "scan lists the idle chip")
    bus.writeto(0x44, b"\xfd")  # measuring for 6.9 ms: the address is not acknowledged
    eq(bus.scan(), [], "busy chip does not answer the scan")
    raises(OSError, bus.writeto, 0x44, b"")
    vtime.advance_ms(10)
    eq(bus.scan(), [0x44], "listed again once idle")
