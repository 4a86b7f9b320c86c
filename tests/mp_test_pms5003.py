# PMS5003 driver against the byte-level UART model.
# mp-heapsize: 256K
import errno

from sim import vtime

vtime.install()

import micropython  # noqa: E402

import pms5003  # noqa: E402
from mptest import eq, raises  # noqa: E402
from replay import Recorder  # noqa: E402

from sim.env import Environment  # noqa: E402
from sim.pms5003 import PMS5003Model, ack, frame  # noqa: E402
from sim.uart import SimUART  # noqa: E402

env = None
uart = None
model = None


def setup():
    global env, uart, model
    vtime.reset(epoch_s=1700000000)
    env = Environment("synthetic")
    env.overrides = {"pm1_0_ugm3": 6.8, "pm2_5_ugm3": 10.2, "pm10_ugm3": 16.4}
    uart = SimUART(1, 9600, 1000)
    model = uart.attach(PMS5003Model(env))


def warm(d):
    vtime.advance_ms(d.ready_in_ms())


def test_frame_layout_and_checksum():
    f = frame(list(range(1, 14)))
    eq(len(f), 32, "frame length")
    eq(f[:4], b"\x42\x4d\x00\x1c", "header and length 28")
    eq((f[30] << 8) | f[31], sum(f[:30]), "checksum = sum of bytes before")
    # the data manual's example reply to 'passive mode': 42 4D 00 04 E1 00 01 74
    eq(ack(0xE1, 0), bytes((0x42, 0x4D, 0x00, 0x04, 0xE1, 0x00, 0x01, 0x74)), "ack")


def test_passive_read_matches_environment_after_warmup():
    d = pms5003.PMS5003(uart)
    eq(model.active, False, "passive mode selected")
    warm(d)
    t0 = vtime.now_us()
    d.read()
    took = vtime.now_us() - t0
    eq((d.pm1_0, d.pm2_5, d.pm10), (7, 10, 16), "atmospheric PM (1 ug/m3 resolution)")
    eq((d.pm1_0_cf1, d.pm2_5_cf1, d.pm10_cf1), (7, 10, 16), "CF=1 equals atm at low levels")
    if d.counts[0] <= d.counts[1] or d.counts[0] == 0:
        raise AssertionError("counts %r" % d.counts)
    # request 7 bytes + reply 32 bytes at 9600 baud: about 40 ms
    if not 35000 <= took <= 60000:
        raise AssertionError("passive read took %d us" % took)


def test_high_concentration_cf1_differs():
    d = pms5003.PMS5003(uart)
    warm(d)
    env.overrides = {"pm1_0_ugm3": 80.0, "pm2_5_ugm3": 120.0, "pm10_ugm3": 200.0}
    d.read()
    eq(d.pm2_5, 120, "atm")
    eq(d.pm2_5_cf1, 165, "CF=1")


def test_active_mode_frames_every_2_3_s():
    d = pms5003.PMS5003(uart, passive=False)
    eq(model.active, True, "active")
    warm(d)
    d.read()
    t0 = vtime.now_us()
    d.read()
    took = vtime.now_us() - t0
    if not 2000000 <= took <= 2400000:
        raise AssertionError("next active frame after %d us" % took)
    eq(d.pm2_5, 10, "active reading")


def test_active_frames_accumulated_for_minutes_are_drained():
    d = pms5003.PMS5003(uart, passive=False)
    vtime.advance_ms(600000)  # ten minutes of frames nobody read
    env.overrides["pm2_5_ugm3"] = 33.0
    d.read()
    eq(d.pm2_5, 33, "fresh frame, not a stale one")


def test_warmup_marking_and_low_readings():
    d = pms5003.PMS5003(uart)
    warm(d)
    d.sleep()
    eq(model.asleep, True, "asleep")
    vtime.advance_ms(60000)
    d.wake()
    if not d.warming_up() or d.ready_in_ms() < 29000:
        raise AssertionError("just woken: warming up for 30 s")
    vtime.advance_ms(2000)
    d.read()
    if d.pm2_5 >= 10:
        raise AssertionError("fan not up to speed yet: reading should be low, got %d" % d.pm2_5)
    warm(d)
    eq(d.warming_up(), False, "warm after 30 s")
    d.read()
    eq(d.pm2_5, 10, "stable")


def test_asleep_sensor_answers_nothing():
    d = pms5003.PMS5003(uart)
    d.sleep()
    raises(OSError, d.read)  # the driver knows
    d.asleep = False  # pretend it does not: the sensor itself stays silent
    exc = raises(OSError, d.read)
    eq(exc.args[0], errno.ETIMEDOUT, "no answer while asleep")


def test_absent_sensor():
    uart.inject("absent", None)
    exc = raises(OSError, pms5003.PMS5003, uart)
    eq(exc.args[0], errno.ETIMEDOUT, "nothing connected")


def test_garbage_before_frame_is_skipped():
    d = pms5003.PMS5003(uart)
    warm(d)
    uart.inject("garbage", 1, nbytes=40)
    d.read()
    eq(d.pm2_5, 10, "read through garbage")


def test_stray_start_byte_right_before_a_frame_is_resynchronised():
    # 0x42 0x42 0x4D ...: the second 0x42 is the header; skipping the byte after a failed
    # candidate would miss every frame (and, with the stray byte each time, time out)
    d = pms5003.PMS5003(uart)
    vtime.advance_ms(d.ready_in_ms())
    env.overrides = {"pm2_5_ugm3": 10.0}
    for junk in (
        b"\x42",
        b"\x42\x42",
        b"\x00\x42",
        b"\x42\x00\x42",
        b"\x42\x4d\x00\x42",  # a false header whose length field holds the real start byte
        b"\x42\x4d\x00\x1c\x42\x4d",  # a false header of the right length: bad checksum
    ):
        uart.clear()
        uart.inject("garbage", None, data=junk)
        t0 = vtime.now_us()
        d.read()
        eq(d.pm2_5, 10, "read after %r" % junk)
        eq(d.bad_frames, 0, "a false header before a good frame is not a bad frame")
        if vtime.now_us() - t0 > 200000:
            raise AssertionError("stray %r cost %d us" % (junk, vtime.now_us() - t0))


def test_truncated_frame_retried_then_error():
    d = pms5003.PMS5003(uart)
    warm(d)
    uart.inject("truncate", 1, keep=20)
    d.read()
    eq(d.pm2_5, 10, "recovered on retry")
    uart.inject("truncate", None, keep=20)
    raises(OSError, d.read)


def test_corrupt_frame_raises_pmserror():
    d = pms5003.PMS5003(uart)
    warm(d)
    uart.inject("corrupt", None, index=13)
    raises(pms5003.PMSError, d.read)
    uart.clear()
    d.read()
    eq(d.pm2_5, 10, "recovered")


def test_slow_response_times_out_within_deadline():
    d = pms5003.PMS5003(uart)
    warm(d)
    uart.inject("slow", None, delay_us=3000000)
    t0 = vtime.now_us()
    exc = raises(OSError, d.read)
    eq(exc.args[0], errno.ETIMEDOUT, "errno")
    if vtime.now_us() - t0 > 2500000:
        raise AssertionError("gave up after %d us" % (vtime.now_us() - t0))


def test_stuck_and_out_of_range_values():
    d = pms5003.PMS5003(uart)
    warm(d)
    model.inject_value("stuck")
    d.read()
    env.overrides["pm2_5_ugm3"] = 50.0
    d.read()
    eq(d.pm2_5, 10, "stuck")
    model.clear_values()
    model.inject_value("force", "pm2_5_ugm3", value=1500.0)
    d.read()
    eq(d.pm2_5, 1500, "out of range passed on for the station to flag")


def test_wrong_device_rejected():
    class Echo:
        def receive(self, data, now_us):
            self.uart.send_to_host(b"\xaa\xc5\x02\x01\x01\x00\x12\x34\x4a\xab")  # an SDS011

    u = SimUART(1, 9600, 1000)
    u.attach(Echo())
    raises(OSError, pms5003.PMS5003, u)


def test_read_allocates_nothing():
    rec = Recorder(uart, slots=64, size=64)
    d = pms5003.PMS5003(rec)
    warm(d)
    rec.record()
    d.read()
    want = (d.pm1_0, d.pm2_5, d.pm10, d.counts[0])
    d.pm2_5 = 0
    micropython.heap_lock()
    try:
        for _ in range(3):
            rec.replay()
            d.read()
    finally:
        micropython.heap_unlock()
    eq(rec.mismatches, 0, "replayed writes")
    eq((d.pm1_0, d.pm2_5, d.pm10, d.counts[0]), want, "replayed reading")


def test_open_succeeds_whatever_the_phase_of_active_frames():
    # at power-on the sensor sends a frame every 2.3 s; one may arrive before the mode ack
    for offset_ms in range(0, 2300, 4):
        vtime.reset(epoch_s=1700000000)
        u = SimUART(1, 9600, 1000)
        m = u.attach(PMS5003Model(env))
        vtime.advance_ms(30000 + offset_ms)
        pms5003.PMS5003(u)
        eq(m.active, False, "passive at offset %d ms" % offset_ms)
