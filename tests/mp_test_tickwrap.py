# Long uptimes: time.ticks_ms wraps every 2**30 ms (12.4 days) and ticks_diff is only valid
# below 2**29 ms; nothing may depend on comparing tick values older than that.
# mp-ports: unix wasm32
from sim import vtime

vtime.install()

import airtime  # noqa: E402
import diag  # noqa: E402
import sensors  # noqa: E402
from mptest import eq  # noqa: E402

DAY_US = 86400 * 1000000


def test_uptime_keeps_counting_past_the_tick_wrap():
    vtime.reset()
    diag.reset_uptime()
    for _ in range(20):  # 20 days, read once a day
        vtime.advance_us(DAY_US)
        diag.uptime_s()
    eq(int(diag.uptime_s()), 20 * 86400, "uptime after 20 days")
    line = diag.line(diag.INFO, "X.Y")
    if line.lstrip().startswith("-"):
        raise AssertionError(line)


def test_warm_up_does_not_come_back_after_days():
    vtime.reset()
    slot = sensors.SensorSlot({"type": "bme280", "bus": "main"})
    slot.opened_at = vtime.ticks_ms()
    slot.read_at = None
    now = vtime.ticks_ms()
    eq(slot.warming_up(now), True, "just opened")
    for day in range(1, 15):
        vtime.advance_us(DAY_US)
        if slot.warming_up(vtime.ticks_ms()):
            raise AssertionError("warm-up again on day %d" % day)


def test_duty_cycle_deadline_older_than_the_wrap_is_not_a_wait():
    vtime.reset()
    d = airtime.DutyCycle("EU868")
    d.spend(2000)  # the band closes for 198 s
    vtime.advance_us(7 * DAY_US)  # a week without sending: the old deadline looks far ahead
    eq(d.wait_ms(), 0, "band free after a week")


def test_join_limit_counts_past_the_wrap():
    vtime.reset()
    j = airtime.JoinLimit()
    for _ in range(14):
        vtime.advance_us(DAY_US)
        j.allows(100)
    p, cap = j._phase()
    eq((p, cap), (2, 8700), "steady-state join limit after two weeks")
