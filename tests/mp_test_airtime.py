# Airtime: time on air against hand-worked values of the LoRa formula, duty cycle, join limits,
# and the daily fair-use budget surviving a reboot.
# mp-ports: unix wasm32
from sim import vtime

vtime.install()

import os  # noqa: E402

import airtime  # noqa: E402
from mptest import TMP, eq, raises  # noqa: E402


def test_time_on_air_hand_worked_values():
    # SF7/125 kHz, 23-byte PHY (10-byte payload): 12.25 + 48 symbols of 1.024 ms = 61.696 ms
    eq(airtime.time_on_air_us(7, 125, 23), 61696, "SF7 23 B")
    # SF12/125 kHz join request (23 B, low data rate optimisation): 12.25 + 33 symbols of 32.768 ms
    eq(airtime.time_on_air_us(12, 125, 23), 1482752, "SF12 join")
    eq(airtime.frame_ms("EU868", 5, 10), 62, "DR5 10-byte payload, ms rounded up")
    eq(airtime.join_ms("EU868", 0), 1483, "join at DR0")
    raises(ValueError, airtime.time_on_air_us, 13, 125, 10)
    raises(ValueError, airtime.max_payload, "EU868", 6)
    raises(ValueError, airtime.max_payload, "XX000", 0)


def test_max_payload_per_data_rate():
    eq([airtime.max_payload("EU868", dr) for dr in range(6)], [51, 51, 51, 115, 242, 242], "EU868")


def test_duty_cycle_closes_band_for_99_times_the_airtime():
    vtime.reset()
    d = airtime.DutyCycle("EU868")
    eq(d.wait_ms(), 0, "open")
    d.spend(62)
    eq(d.wait_ms(), 62 * 99, "closed")
    vtime.advance_us(62 * 99 * 1000)
    eq(d.wait_ms(), 0, "open again")
    us = airtime.DutyCycle("US915")
    us.spend(400)
    eq(us.wait_ms(), 0, "no duty cycle in US915")


def test_join_limits_by_phase():
    vtime.reset()
    j = airtime.JoinLimit()
    toa = airtime.join_ms("EU868", 0)  # 1483 ms
    n = 0
    while j.allows(toa):
        j.spend(toa)
        n += 1
    eq(n, 36000 // toa, "joins in the first hour")
    vtime.advance_us(3600 * 1000000)
    if not j.allows(toa):
        raise AssertionError("second phase starts with a fresh 36 s")
    vtime.advance_us(10 * 3600 * 1000000)
    m = 0
    while j.allows(toa):
        j.spend(toa)
        m += 1
    eq(m, 8700 // toa, "joins per day after 11 hours")
    vtime.advance_us(24 * 3600 * 1000000)
    if not j.allows(toa):
        raise AssertionError("a new day allows joins again")


def test_fair_use_budget_persists_and_rolls_daily():
    vtime.reset(epoch_s=1700000000)
    path = TMP + "/mp_airtime_test.txt"
    try:
        os.remove(path)
    except OSError:
        pass
    f = airtime.FairUse(path, 30000)
    f.spend(29000)
    if f.allows(1001) or not f.allows(1000):
        raise AssertionError("budget edge")
    g = airtime.FairUse(path, 30000)  # after a reboot or power cut
    eq(g.used_ms, 29000, "persisted")
    vtime.advance_us(23 * 3600 * 1000000)
    eq(g.left_ms(), 1000, "still inside 24 hours")
    vtime.advance_us(2 * 3600 * 1000000)
    eq(g.left_ms(), 30000, "24 hours later")
    with open(path, "w") as fh:
        fh.write("garbage")
    eq(airtime.FairUse(path, 30000).used_ms, 0, "a damaged file is ignored")


def test_wall_clock_jump_does_not_open_a_new_budget():
    vtime.reset(epoch_s=1700000000)
    path = TMP + "/mp_airtime_jump.txt"
    f = airtime.FairUse(path, 30000)
    f.spend(29500)
    vtime.set_time(vtime.time() + 86400 * 3)  # RTC set three days ahead
    if f.allows(1000):
        raise AssertionError("a wall-clock jump reopened the budget")
