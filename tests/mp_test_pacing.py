# LoRaWAN airtime pacing: the fair-use budget is earned over the UTC day.
from sim import vtime

vtime.install()

import airtime  # noqa: E402
from mptest import TMP, eq  # noqa: E402


def _fair(at_s):
    vtime.reset(epoch_s=1700006400 - 1700006400 % 86400 + at_s)  # at_s into a UTC day
    path = TMP + "/airtime_pacing.txt"
    try:
        import os

        os.remove(path)
    except OSError:
        pass
    return airtime.FairUse(path, 30000)


def test_day_starts_with_the_burst_only():
    f = _fair(0)
    eq(f.paced_allows(1800, 3600), True, "first frame")
    f.spend(1800)
    eq(f.paced_allows(1800, 3600), True, "second frame (burst)")
    f.spend(1800)
    eq(f.paced_allows(1800, 3600), False, "third frame must wait to be earned")
    eq(f.allows(1800), True, "though the day's budget is not spent")


def test_budget_earned_by_noon_is_half_plus_burst():
    f = _fair(43200)
    f.spend(18000)
    eq(f.paced_allows(600, 3600), True, "18.6 s of 15 + 3.6 s earned")
    f.spend(600)
    eq(f.paced_allows(1000, 3600), False, "19.6 s > 18.6 s")


def test_never_more_than_the_daily_budget():
    f = _fair(86399)
    f.spend(29000)
    eq(f.paced_allows(1800, 3600), False, "30.8 s would exceed 30 s")
    eq(f.paced_allows(1000, 3600), True, "exactly 30 s")


def test_pacing_fills_frames_at_sf12():
    # a 51-byte frame at DR0 (SF12, 64 bytes on air with the LoRaWAN overhead) takes 2.8 s and
    # earns its airtime about every 134 minutes: at 10-minute sampling 13-14 samples wait for it,
    # instead of one sample per frame until the budget runs out in the morning
    toa = airtime.frame_ms("EU868", 0, 51)
    per_day_s = 86400 * toa // 30000
    if not 7500 < per_day_s < 8500:
        raise AssertionError("a full SF12 frame is earned every %d s" % per_day_s)
