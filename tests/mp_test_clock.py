# The station's wall clock (firmware/clock.py) and the simulated drifting RTC (sim/vtime.py).
from sim import vtime

vtime.install()

import time  # noqa: E402

from mptest import approx, eq, raises  # noqa: E402

from sim.env import Environment  # noqa: E402

_WEEK_S = 7 * 86400


def setup():
    vtime.reset(epoch_s=1700000000)


def _hal(synced=False):
    import hal

    from sim.board import SimBoard

    SimBoard(
        {"board": "clock"}, Environment("synthetic"), fs_root="/tmp/mp_clock_fs", time_synced=synced
    ).activate()
    return hal.Hal({"board": "clock"})


def test_simulated_rtc_drifts_and_ticks_stay_true():
    vtime.set_drift_ppm(50)
    time.sleep(_WEEK_S)
    # 50 ppm of a week is 30.24 s: the RTC runs ahead, the true time and the ticks do not
    approx(vtime.clock_error_s(), 30.24, 0.001, "RTC error after a week at 50 ppm")
    eq(time.time() - int(vtime.true_time()), 30, "time.time() is the drifting RTC")
    eq(vtime.true_time(), 1700000000 + _WEEK_S, "the true time does not drift")
    vtime.reset(epoch_s=1700000000)
    eq(vtime.drift_ppm(), 0, "a new simulation starts without drift")


def test_set_wall_time_sets_the_rtc_and_learns_the_uptime_offset():
    import clock
    import diag

    h = _hal()
    diag.reset_uptime()
    clock.reset()
    eq(h.time_synced(), False, "not synced at boot")
    eq(clock.to_unix(10), None, "no conversion before a sync")
    time.sleep(100)
    true_s = int(vtime.true_time())
    eq(clock.set_wall_time(h, true_s, "lorawan"), None, "no step before the first sync")
    eq(h.time_synced(), True, "synced")
    eq(time.time(), true_s, "RTC set")
    eq(clock.source, "lorawan", "source kept")
    # a sample stamped with uptime 40 s was taken 60 s before the sync
    eq(clock.to_unix(40), true_s - 60, "uptime converted by the offset learnt at sync")
    vtime.set_drift_ppm(50)
    time.sleep(_WEEK_S)
    step = clock.set_wall_time(h, int(vtime.true_time()), "sntp")
    eq(step, -30, "the correction is the RTC's error")
    eq(clock.syncs, 2, "two syncs")


def test_implausible_times_change_nothing():
    import clock

    h = _hal(synced=False)
    clock.reset()
    for bad in (5, -1, 4102444800, "1700000000", None):
        raises(ValueError, clock.set_wall_time, h, bad, "sntp")
    raises(ValueError, clock.set_wall_time, h, 1800000000, "gps")
    eq(h.time_synced(), False, "still not synced")
    eq(clock.offset_s(), None, "nothing learnt")
