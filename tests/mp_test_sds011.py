# SDS011 driver against the byte-level UART model.
# mp-heapsize: 256K
import errno

from sim import vtime

vtime.install()

import micropython  # noqa: E402

import sds011  # noqa: E402
from mptest import eq, raises  # noqa: E402
from replay import Recorder  # noqa: E402

from sim.env import Environment  # noqa: E402
from sim.sds011 import SDS011Model, command, data_frame  # noqa: E402
from sim.uart import SimUART  # noqa: E402

env = None
uart = None
model = None


def setup():
    global env, uart, model
    vtime.reset(epoch_s=1700000000)
    env = Environment("synthetic")
    env.overrides = {"pm2_5_ugm3": 8.34, "pm10_ugm3": 13.36}
    uart = SimUART(2, 9600, 1000)
    model = uart.attach(SDS011Model(env))


def warm(d):
    vtime.advance_ms(d.ready_in_ms())


def test_protocol_examples():
    # protocol V1.3 examples: query data command and sleep command
    eq(command(4), bytes.fromhex("aab404000000000000000000000000ffff02ab"), "query command")
    eq(command(6, (1, 0)), bytes.fromhex("aab406010000000000000000000000ffff05ab"), "sleep command")
    f = data_frame(0x0010, 0x0020, 0xA160)
    eq(f[8], (0x10 + 0x20 + 0xA1 + 0x60) & 0xFF, "data frame checksum")


def test_init_selects_query_mode_and_reads_identity():
    d = sds011.SDS011(uart)
    eq(model.query_mode, True, "query mode")
    eq(model.period_min, 0, "continuous working period")
    eq(d.dev_id, 0xA160, "device id")
    eq(d.firmware, (2018, 11, 16), "firmware date")


def test_readings_match_environment():
    d = sds011.SDS011(uart)
    warm(d)
    t0 = vtime.now_us()
    d.read()
    took = vtime.now_us() - t0
    eq((d.pm2_5_d, d.pm10_d), (83, 134), "0.1 ug/m3 resolution")
    # 19-byte command + 10-byte frame at 9600 baud ~ 30 ms
    if not 25000 <= took <= 50000:
        raise AssertionError("read took %d us" % took)
    for pm in (0.0, 55.55, 999.9):
        env.overrides = {"pm2_5_ugm3": pm, "pm10_ugm3": pm}
        d.read()
        eq(d.pm2_5_d, int(round(pm * 10)), "pm2.5 %r" % pm)


def test_sleep_wake_and_warmup():
    d = sds011.SDS011(uart)
    warm(d)
    d.sleep()
    eq(model.asleep, True, "laser off")
    uart.write(command(4))  # asleep: a query is not answered
    vtime.advance_ms(100)
    eq(uart.any(), 0, "no answer while asleep")
    vtime.advance_ms(540000)
    d.wake()
    eq(d.warming_up(), True, "warming up after wake")
    d.read()
    if d.pm2_5_d >= 83:
        raise AssertionError("reading right after wake should be low: %d" % d.pm2_5_d)
    warm(d)
    d.read()
    eq(d.pm2_5_d, 83, "settled")


def test_commands_to_another_device_are_ignored():
    d = sds011.SDS011(uart)
    uart.write(command(6, (1, 0), dev_id=0x1234))
    vtime.advance_ms(100)
    eq(model.asleep, False, "not addressed")
    d.read()


def test_absent():
    uart.inject("absent", None)
    exc = raises(OSError, sds011.SDS011, uart)
    eq(exc.args[0], errno.ETIMEDOUT, "absent")


def test_garbage_and_truncation():
    d = sds011.SDS011(uart)
    warm(d)
    uart.inject("garbage", 1, nbytes=25)
    d.read()
    eq(d.pm2_5_d, 83, "through garbage")
    uart.inject("truncate", 1, keep=6)
    d.read()
    eq(d.pm2_5_d, 83, "retried after truncation")
    uart.inject("truncate", None, keep=6)
    raises(OSError, d.read)


def test_stray_head_byte_up_to_nine_bytes_before_a_frame_is_resynchronised():
    # an 0xAA (line noise, the tail of a cut frame) 1..9 bytes before the real head: the driver
    # must try every 0xAA among the bytes it already read, not skip the 9 bytes after the first
    d = sds011.SDS011(uart)
    warm(d)
    for k in range(9):
        uart.clear()
        uart.inject("garbage", None, data=b"\xaa" + bytes(k))
        t0 = vtime.now_us()
        d.read()
        eq(d.pm2_5_d, 83, "read with 0xAA %d bytes before the frame" % (k + 1))
        if vtime.now_us() - t0 > 100000:
            raise AssertionError("stray 0xAA + %d bytes cost %d us" % (k, vtime.now_us() - t0))
    eq(d.bad_frames, 0, "a stray byte is not a bad frame")


def test_corrupt_frame():
    d = sds011.SDS011(uart)
    uart.inject("corrupt", None, index=3)
    raises(sds011.SDSError, d.read)
    uart.clear()
    d.read()


def test_slow_response():
    d = sds011.SDS011(uart)
    uart.inject("slow", None, delay_us=3000000)
    t0 = vtime.now_us()
    exc = raises(OSError, d.read)
    eq(exc.args[0], errno.ETIMEDOUT, "slow")
    if vtime.now_us() - t0 > 2500000:
        raise AssertionError("deadline not kept")


def test_stuck_and_out_of_range():
    d = sds011.SDS011(uart)
    warm(d)
    model.inject_value("stuck")
    d.read()
    env.overrides["pm2_5_ugm3"] = 70.0
    d.read()
    eq(d.pm2_5_d, 83, "stuck")
    model.clear_values()
    model.inject_value("force", "pm10_ugm3", value=2500.0)
    d.read()
    eq(d.pm10_d, 25000, "out of range passed on")


def test_working_period_mode_reports_after_30s_of_work():
    sds011.SDS011(uart)
    uart.write(command(2, (1, 0)))  # back to active reporting
    uart.write(command(8, (1, 1)))  # work 30 s per minute
    vtime.advance_ms(100)
    uart.read()  # replies
    vtime.advance_ms(29000)
    eq(uart.any(), 0, "nothing during the first 29 s")
    vtime.advance_ms(2000)
    eq(uart.any(), 10, "one data frame after 30 s of work")


def test_read_allocates_nothing():
    rec = Recorder(uart, slots=32, size=32)
    d = sds011.SDS011(rec)
    warm(d)
    rec.record()
    d.read()
    want = (d.pm2_5_d, d.pm10_d)
    d.pm2_5_d = 0
    micropython.heap_lock()
    try:
        for _ in range(3):
            rec.replay()
            d.read()
    finally:
        micropython.heap_unlock()
    eq(rec.mismatches, 0, "replayed writes")
    eq((d.pm2_5_d, d.pm10_d), want, "replayed reading")


def test_driver_sets_working_period():
    d = sds011.SDS011(uart)
    d.set_working_period(5)
    eq((model.period_min, model.query_mode), (5, False), "5 min period, active reports")
    raises(ValueError, d.set_working_period, 31)
    eq(model.period_min, 5, "bad input changed nothing")
    d.set_working_period(0)
    eq((model.period_min, model.query_mode), (0, True), "continuous, query mode again")
