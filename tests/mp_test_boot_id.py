# Records of an earlier boot that never learnt the time: after a power cut and a sync in the next
# boot they go out with their uptime and that boot's id (bootid.py), never placed in time; the
# records of the boot that synced go out with their unix time.
from sim import vtime

vtime.install()

import bootid  # noqa: E402
import codec  # noqa: E402
import diag  # noqa: E402
import sample as S  # noqa: E402
import station  # noqa: E402
from hal import Hal  # noqa: E402
from mptest import TMP, eq  # noqa: E402
from stationkit import Rig  # noqa: E402


class _Peer:
    """An uplink that keeps what it was sent (its sends succeed while `up`)."""

    name = "peer"

    def __init__(self):
        self.frames = []
        self.up = False

    def connect(self):
        return self.up

    def max_payload(self):
        # an uptime frame with its boot id alone (15 bytes) fits, two of them do not: each
        # old record decodes on its own
        return 16

    def send(self, frame, port=1):
        if self.up:
            self.frames.append(bytes(frame))
        return self.up


def _reboot(r, peer, cause):
    """The board loses power (or resets) and the station boots again on the same flash."""
    r.board.on_reset(cause)
    r.hal = Hal(r.cfg)
    r.st = station.Station(r.hal, r.cfg)
    r.st.boot()
    diag.set_level(diag.ERROR + 1)
    r.st.delivery.up = peer
    r.st.uplink = peer


def _rig(peer):
    r = Rig(fs=TMP + "/boot_id_fs")
    r.board.clock_synced = False  # a station that has not learnt the time
    r.boot()
    r.st.delivery.up = peer
    r.st.uplink = peer
    return r


def test_boot_id_is_counted_on_flash_across_power_cuts_and_resets():
    peer = _Peer()
    r = _rig(peer)
    first = r.st.boot_id
    eq(first >= 1, True, "a boot id")
    _reboot(r, peer, "power_cut")  # RTC memory (the lifecycle's boot count) is lost
    eq(r.st.boot_id, first + 1, "counted on flash: survives the power cut")
    _reboot(r, peer, "watchdog")
    eq(r.st.boot_id, first + 2, "and a reset")
    eq("boot_id=%d" % (first + 2) in r.find("BOOT")[-1], True, "in the boot line")
    with open(TMP + "/boot_id_fs/boot_id", "w") as f:
        f.write("\xff\xff\xff")  # erased flash: not a boot id
    eq(bootid.advance(TMP + "/boot_id_fs"), 1, "starts again at 1")
    eq(len(r.find("BOOTID.INVALID")), 1, "and says so")
    with open(TMP + "/boot_id_fs/boot_id", "w") as f:
        f.write("65535\n")
    eq(bootid.advance(TMP + "/boot_id_fs"), 1, "wraps past 65535 to 1 (0: no boot id)")


def test_records_of_an_unsynced_boot_keep_its_boot_id_after_a_power_cut_and_a_sync():
    peer = _Peer()
    r = _rig(peer)
    boot_n = r.st.boot_id
    r.run_cycles(3)  # journaled with their uptimes: the uplink is down, the clock not set
    eq(r.st.delivery.j.pending, 3, "journaled")
    _reboot(r, peer, "power_cut")
    boot_n1 = r.st.boot_id
    eq(boot_n1, boot_n + 1, "the next boot")
    r.run_cycles(1)  # boot N+1 journals one record before it learns the time
    import clock

    clock.set_wall_time(r.hal, int(vtime.true_time()), "lorawan")  # DeviceTimeAns, say
    peer.up = True
    r.run_cycles(1)  # a synced record, and everything journaled goes out
    eq(r.st.delivery.j.pending, 0, "all delivered")
    old = []
    placed = 0
    for f in peer.frames:
        kind = (f[0] >> 1) & 3
        if kind != codec.TIME_UPTIME:
            placed += 1 if (f[0] >> 3) & 3 == codec.FRAME_SAMPLE else f[1] // 4 + 1
            continue
        smp = S.Sample()
        codec.decode_sample(f, smp)
        old.append((smp.seq, smp.time, smp.flags & S.FLAG_CLOCK_SYNCED, smp.boot))
    eq([o[0] for o in old], [1, 2, 3], "boot N's records, each on its own")
    for seq, uptime, synced, boot in old:
        eq((synced, boot), (0, boot_n), "seq %d: not placed in time, boot N's uptime" % seq)
        if not 0 <= uptime < 3 * 600:
            raise AssertionError("seq %d: uptime %d is not boot N's" % (seq, uptime))
    eq(placed, 2, "boot N+1's records placed in time (unix time or age)")
