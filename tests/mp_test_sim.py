# The simulated board's foundations: virtual clock, trace replay, I2C and UART behaviour.
from sim import vtime

vtime.install()

import time  # noqa: E402

from mptest import approx, eq, raises  # noqa: E402

from sim.env import Environment, parse_timestamp  # noqa: E402
from sim.i2c import SimI2C  # noqa: E402
from sim.uart import SimUART  # noqa: E402


def setup():
    vtime.reset(epoch_s=1700000000)


def test_time_module_is_the_virtual_clock():
    t0 = time.ticks_ms()
    time.sleep(3600)  # an hour passes instantly
    eq(time.ticks_diff(time.ticks_ms(), t0), 3600000, "ticks after one virtual hour")
    eq(time.time(), 1700003600, "wall clock follows")


def test_ticks_wrap_like_micropython():
    vtime.reset(now_us=((1 << 30) - 500) * 1000)  # 500 ms before ticks_ms wraps
    t0 = time.ticks_ms()
    time.sleep_ms(1000)
    t1 = time.ticks_ms()
    if not t1 < t0:
        raise AssertionError("ticks_ms did not wrap: %d -> %d" % (t0, t1))
    eq(time.ticks_diff(t1, t0), 1000, "ticks_diff across the wrap")
    eq(time.ticks_diff(time.ticks_add(t0, 2000), t0), 2000, "ticks_add across the wrap")


def test_timestamp_parsing():
    eq(parse_timestamp("2018-07-20T00:00:06"), 1532044806, "ISO")
    eq(parse_timestamp('"2015-02-04 17:51:00"'), 1423072260, "UCI with quotes")
    raises(ValueError, parse_timestamp, "20180720")


def test_stonehaven_trace_replays_real_rows():
    env = Environment("stonehaven")
    eq(env.start_unix, 1532044806, "trace start = first BME280 row")
    c = env.at(0)
    # first row: 16.61 degC, 62.78 %RH, 101482.00 Pa
    approx(c.temperature_c, 16.61, 0.001, "T")
    approx(c.humidity_pct, 62.78, 0.001, "RH")
    approx(c.pressure_hpa, 1014.82, 0.001, "p")
    c = env.at(74)  # halfway between rows 1 and 2 (16.61 -> 16.59 over 148 s)
    approx(c.temperature_c, 16.60, 0.001, "interpolated T")
    c = env.at(3 * 86400 + 5)  # the 72 h trace loops
    approx(c.temperature_c, 16.6, 0.05, "looped T")


def test_office_trace_has_co2():
    env = Environment("office")
    approx(env.at(0).co2_ppm, 721.25, 0.01, "first CO2 row")


def test_synthetic_model_follows_its_documented_formula():
    env = Environment("synthetic", start_unix=0)
    c = env.at(15 * 3600)  # 15:00 UTC on day 0: sin(2pi*6/24) = 1
    approx(
        c.temperature_c,
        14 + 6 + 1.5 * __import__("math").sin(2 * 3.141592653589793 * (15 / 24) / 5.3),
        1e-6,
        "T",
    )


def test_unknown_trace_is_a_clear_error():
    exc = raises(ValueError, Environment, "mars")
    if "stonehaven" not in str(exc):
        raise AssertionError(str(exc))


def test_uart_bytes_arrive_at_wire_rate():
    u = SimUART(baudrate=9600, timeout=1000)
    u.send_to_host(b"x" * 96)  # 96 bytes at 9600 baud = 100 ms on the wire
    t0 = vtime.now_us()
    data = u.read(96)
    eq(len(data), 96, "all bytes")
    approx(vtime.now_us() - t0, 100000, 1100, "read waited for the wire")


def test_uart_read_times_out_with_partial_data():
    u = SimUART(baudrate=9600, timeout=200)
    u.send_to_host(b"abc")
    t0 = vtime.now_us()
    eq(u.read(10), b"abc", "partial read")
    approx(vtime.now_us() - t0, 200000, 1000, "waited the UART timeout")
    t0 = vtime.now_us()
    eq(u.read(1), None, "nothing arrives")


def test_uart_fault_injection():
    u = SimUART(baudrate=9600, timeout=100)
    u.inject("truncate", keep=3)
    u.send_to_host(b"abcdef")
    eq(u.read(6), b"abc", "truncated")
    u.inject("drop")
    u.send_to_host(b"abcdef")
    eq(u.read(6), None, "dropped")
    u.inject("garbage", nbytes=4)
    u.send_to_host(b"ok")
    d = u.read(6)
    eq((len(d), d[-2:]), (6, b"ok"), "garbage before the frame")


def test_i2c_faults_count_down():
    class Echo:
        address = 0x10

        def write(self, data, now_us):
            pass

        def read(self, n, now_us):
            return b"\x42" * n

    bus = SimI2C()
    bus.attach(Echo())
    bus.inject(0x10, "nack", count=2)
    raises(OSError, bus.readfrom, 0x10, 1)
    raises(OSError, bus.readfrom, 0x10, 1)
    eq(bus.readfrom(0x10, 2), b"\x42\x42", "fault expired after 2 transactions")
    bus.inject(0x10, "absent")
    eq(bus.scan(), [], "absent device not in scan")
    bus.clear()
    eq(bus.scan(), [0x10], "back")


def test_activated_board_is_every_hals_backend_and_keeps_the_contract():
    import hal

    from sim.board import SimBoard

    cfg = {"board": "contract", "i2c": {"main": {"id": 0, "scl": 1, "sda": 2}}}
    board = SimBoard(cfg, Environment("synthetic"), fs_root="/tmp/mp_hal_fs").activate()
    members = [n for n in dir(hal.Board) if not n.startswith("_")]
    eq("rtc_memory" in members and "watchdog" in members, True, "the contract lists the members")
    eq([n for n in members if not hasattr(board, n)], [], "members of hal.Board the board lacks")
    h = hal.Hal(cfg)
    eq(h.board is board, True, "the installed board")
    eq(h.i2c("main") is board.buses["main"], True, "buses come from it")
    raises(hal.HalError, h.i2c, "other")
    eq(h.fs_root, "/tmp/mp_hal_fs", "its flash folder")
