# LoRaWAN without confirmed uplinks (the default): the journal keeps every record until the
# application side's receipt (in the downlink of a link check) covers it. A gateway outage that
# starts and ends between two checks loses frames unnoticed by the modem; the receipt's gap
# makes the station send them again. Real firmware (delivery, journal, uplink, RAK3172 driver)
# on the simulated modem and network server.
# mp-heapsize: 2M
from sim import vtime

vtime.install()


import config  # noqa: E402
import journal  # noqa: E402
import uplink_lorawan  # noqa: E402
from delivery import Delivery  # noqa: E402
from hal import Hal  # noqa: E402
from lorawan_rig import BOARD, KEYS, fresh  # noqa: E402
from mptest import eq  # noqa: E402

from sim import netserver  # noqa: E402
from sim.board import SimBoard  # noqa: E402
from sim.env import Environment  # noqa: E402

FS = "/tmp/mp_lorawan_receipts_fs"
LINES = []
SENT = []  # seqs the network server's application side received (duplicates kept)


def setup():
    fresh(FS, LINES)
    del SENT[:]


def _station():
    SimBoard(BOARD, Environment("synthetic"), fs_root=FS).activate()
    hal = Hal(BOARD)
    cfg = config.defaults()
    eq(cfg["lorawan"]["confirmed"], False)  # the default this test is about
    eq(cfg["lorawan"]["receipts"], True)
    cfg["lorawan"]["dr"] = 5
    cfg["lorawan"]["fair_use_s"] = 3600
    cfg["lorawan"]["pace"] = False
    up = uplink_lorawan.LorawanUplink(cfg, KEYS, hal, BOARD)
    jnl = journal.Journal(FS).open()
    d = Delivery(jnl, up, None, 2 * up.check_interval_s * 1000)
    d.checked_link = True
    return up, d


_store = netserver._store


def _recording(frame):
    # every data frame the network server's application side got (its list keeps only 64)
    r = netserver._seqs(frame)
    if r:
        SENT.extend((r[0] + i) & 255 for i in range(r[1]))
    _store(frame)


netserver._store = _recording


def _received():
    """Seqs (modulo 256) of every data frame the application side got, in order."""
    return SENT


def _frame(seq):
    # a record the codec cannot read (version 7) travels alone, as stored: the network
    # server reads its seq from byte 1 the same way as a sample frame's
    return bytes((0x40, seq & 0xFF, 1, 2, 3))


def _run(up, d, seqs, outage=()):
    for seq in seqs:
        netserver.down = seq in outage
        d.store(seq, _frame(seq))
        d.drain(60000)
        vtime.advance_us(600 * 1000000)  # ten minutes a cycle


def test_the_downlink_budget_plans_the_checks():
    # 10 - 3 time answers - 1 join - 2 spare: two checks of two downlinks
    eq(uplink_lorawan.check_interval_s(10, 8 * 3600), 12 * 3600)
    eq(uplink_lorawan.check_interval_s(7, 8 * 3600), 0)
    eq(uplink_lorawan.check_interval_s(10, 0), 8 * 3600)  # no time answers: three


def test_an_outage_between_two_checks_loses_nothing_and_costs_few_downlinks():
    up, d = _station()
    # three days; the gateway is down for 3 h in the middle of a check interval (seqs 70..87)
    _run(up, d, range(1, 433), outage=range(70, 88))
    # the records of the last hours wait for the next check: run until it has come
    _run(up, d, range(433, 433 + 72))
    got = set(_received())
    missing = [s for s in range(1, 433) if s & 255 not in got]
    eq(missing, [])
    if d.resends < 1:
        raise AssertionError("the gap was not re-sent: %r" % d.resends)
    # link checks: about two a day, each one downlink here (ACK with the receipt)
    days = (433 + 72) * 600 // 86400 + 1
    if up.checks > 2 * days + 2:
        raise AssertionError("%d checks in %d days" % (up.checks, days))
    eq(netserver.receipts <= up.checks, True)
    eq(d.j.pending <= 72 + 1, True)  # released up to the last receipt


def test_a_failed_check_stops_blind_sends_and_the_backlog_follows_the_link_back():
    up, d = _station()
    _run(up, d, range(1, 10))
    # a long outage with a check in it: after the failed check only checks go out
    _run(up, d, range(10, 160), outage=range(10, 160))
    eq(up.link_losses >= 1, True)
    before = len(SENT)
    _run(up, d, range(160, 260))
    got = set(_received())
    eq([s for s in range(1, 260) if s & 255 not in got], [])
    if len(SENT) <= before:
        raise AssertionError("nothing sent after the link came back")


def test_a_receipt_that_comes_with_a_later_uplink_releases_the_journal():
    # a real network server: the collector queues the receipt after the check's ACK went, so it
    # arrives in the downlink of a later uplink (the simulated one otherwise puts it in the ACK)
    up, d = _station()
    netserver.receipts_late = True
    _run(up, d, range(1, 433), outage=range(70, 88))
    _run(up, d, range(433, 433 + 72))
    got = set(_received())
    eq([s for s in range(1, 433) if s & 255 not in got], [])
    if d.resends < 1:
        raise AssertionError("the gap was not re-sent: %r" % d.resends)
    # released up to the receipt of the last check (it came with the next uplink)
    if d.j.pending > 72 + 1:
        raise AssertionError("%d records still pending" % d.j.pending)
