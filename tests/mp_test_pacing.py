# LoRaWAN airtime pacing: the fair-use budget is earned over the UTC day.
# mp-ports: unix wasm32
from sim import vtime

vtime.install()

import airtime  # noqa: E402
from mptest import TMP, eq  # noqa: E402


def _fair(burst=3600):
    vtime.reset(epoch_s=1700000000)
    path = TMP + "/airtime_pacing.txt"
    try:
        import os

        os.remove(path)
    except OSError:
        pass
    return airtime.FairUse(path, 30000, burst)


def test_a_boot_starts_with_the_burst_only():
    f = _fair()
    eq(f.paced_allows(1800), True, "first frame")
    f.spend(1800)
    eq(f.paced_allows(1800), True, "second frame (the burst)")
    f.spend(1800)
    eq(f.paced_allows(1800), False, "third frame must wait to be earned")
    eq(f.allows(1800), True, "though the day's budget is not spent")


def test_budget_is_earned_evenly():
    f = _fair()
    f.spend(3600)  # the burst is gone
    vtime.advance_us(43200 * 1000000)  # half a day earns half the budget, capped at the burst
    eq(f.paced_allows(3600), True, "tokens refilled to the burst")
    eq(f.paced_allows(3700), False, "but not beyond it")
    f.spend(3600)
    vtime.advance_us(8640 * 1000000)  # a tenth of a day: 3 s
    eq(f.paced_allows(3000), True, "3 s earned")
    eq(f.paced_allows(3100), False, "3.1 s not yet")


def test_never_more_than_the_budget_in_24_hours():
    f = _fair(burst=30000)
    f.spend(29000)
    vtime.advance_us(12 * 3600 * 1000000)
    eq(f.paced_allows(1800), False, "30.8 s within 24 h")
    eq(f.paced_allows(1000), True, "exactly 30 s")


def test_pacing_fills_frames_at_sf12():
    # a 51-byte frame at DR0 (SF12, 64 bytes on air with the LoRaWAN overhead) takes 2.8 s and
    # earns its airtime about every 134 minutes: at 10-minute sampling 13-14 samples wait for it,
    # instead of one sample per frame until the budget runs out in the morning
    toa = airtime.frame_ms("EU868", 0, 51)
    per_day_s = 86400 * toa // 30000
    if not 7500 < per_day_s < 8500:
        raise AssertionError("a full SF12 frame is earned every %d s" % per_day_s)
