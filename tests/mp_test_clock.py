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


class _Peer:
    """An uplink that keeps what it was sent (its sends succeed while `up`)."""

    name = "peer"

    def __init__(self):
        self.frames = []
        self.up = False

    def connect(self):
        return self.up

    def max_payload(self):
        return 9  # one sample a frame (7-9 bytes; two need 10): each decodes on its own

    def send(self, frame, port=1):
        if self.up:
            self.frames.append(bytes(frame))
        return self.up


def _record(seq, t, synced=False):
    import codec
    import sample as S

    smp = S.Sample()
    smp.clear()
    smp.set(S.TEMPERATURE, 20.0 + seq)
    smp.seq = seq
    smp.time = t
    if synced:
        smp.flags |= S.FLAG_CLOCK_SYNCED
    buf = bytearray(64)
    return bytes(buf[: codec.encode_sample(smp, buf)])


def test_records_of_this_boot_get_their_unix_time_and_an_earlier_boots_keep_their_uptime():
    import os

    import clock
    import codec
    import diag
    import journal
    import sample as S
    from delivery import Delivery
    from mptest import TMP

    root = TMP + "/mp_clock_journal"
    try:
        for name in os.listdir(root):
            os.remove(root + "/" + name)
    except OSError:
        pass
    h = _hal()
    diag.reset_uptime()
    clock.reset()
    j = journal.Journal(root, max_bytes=8192, seg_bytes=1024).open()
    peer = _Peer()
    d = Delivery(j, peer)
    d.store(1, _record(1, 500))  # left by an earlier boot that never learnt the time
    d.boot_first_seq = 2
    true_at = {}
    for seq in (2, 3, 4):
        time.sleep(600)
        true_at[seq] = int(vtime.true_time())
        d.store(seq, _record(seq, int(diag.uptime_s())))  # not synced yet: its uptime
    time.sleep(100)
    clock.set_wall_time(h, int(vtime.true_time()), "lorawan")
    peer.up = True
    d.drain(60000)
    eq(j.pending, 0, "all delivered")
    eq(len(peer.frames), 4, "one frame per record")
    smp = S.Sample()
    now = time.time()
    codec.decode_sample(peer.frames[0], smp, now)
    eq(
        (smp.seq, smp.time, smp.flags & S.FLAG_CLOCK_SYNCED),
        (1, 500, 0),
        "earlier boot: its uptime, not synced",
    )
    for i, seq in enumerate((2, 3, 4)):
        codec.decode_sample(peer.frames[i + 1], smp, now)
        eq(smp.seq, seq, "order")
        # sent with its age before now (the station's synced clock), no longer an uptime
        eq(
            (peer.frames[i + 1][0] >> 1) & 3 in (codec.TIME_NOW, codec.TIME_AGE16),
            True,
            "placed in time",
        )
        if abs(smp.time - true_at[seq]) > 1:
            raise AssertionError("seq %d: time %d, taken at %d" % (seq, smp.time, true_at[seq]))
