# Delivery with collector receipts (firmware/delivery.py): a confirmed send no longer releases a
# record; a receipt whose run reaches the oldest pending record does; what no receipt covers is
# sent again after the timeout; the journal bound (drop-oldest, counted) still applies.
# The journal is the real one on the unix port's files; the uplink is a scripted peer.
# mp-heapsize: 512K
# mp-ports: unix wasm32
import os
import time

import diag
import journal
from delivery import Delivery
from mptest import TMP, eq

ROOT = TMP + "/mp_receipts"
LINES = []


class Peer:
    """An uplink whose sends succeed (PUBACK) and whose receipts the test hands in."""

    name = "peer"

    def __init__(self):
        self.sent = []  # the record seq each frame carried (first payload byte)
        self.queue = []
        self.up = True

    def connect(self):
        return self.up

    def max_payload(self):
        return 242

    def send(self, frame, port=1):
        if not self.up:
            return False
        self.sent.append(frame[1])
        return True

    def receipt(self):
        return self.queue.pop(0) if self.queue else None


def setup():
    diag.configure(level=diag.ERROR + 1, sink=LINES.append)
    del LINES[:]
    try:
        for name in os.listdir(ROOT):
            os.remove(ROOT + "/" + name)
        os.rmdir(ROOT)
    except OSError:
        pass


def _frame(seq):
    # version 7 in the header: the codec does not read it, so each record travels alone
    return bytes((0xE0, seq & 0xFF, 1, 2, 3))


def _station(timeout_ms=60000, max_bytes=8192):
    j = journal.Journal(ROOT, max_bytes=max_bytes, seg_bytes=1024).open()
    peer = Peer()
    return j, peer, Delivery(j, peer, receipt_timeout_ms=timeout_ms)


def _store(d, first, last):
    for seq in range(first, last + 1):
        d.store(seq, _frame(seq))


def test_receipts_off_puback_releases_as_before():
    j, peer, d = _station(timeout_ms=0)
    _store(d, 1, 5)
    eq(d.drain(1000), 5)
    eq(j.pending, 0)
    eq(j.acked, 5)


def test_sent_records_stay_until_a_receipt_covers_them():
    j, peer, d = _station()
    _store(d, 1, 5)
    eq(d.drain(1000), 0, "nothing released by PUBACK")
    eq(peer.sent, [1, 2, 3, 4, 5])
    eq(j.pending, 5)
    eq(d.drain(1000), 0, "nothing new to send, nothing re-sent before the timeout")
    eq(len(peer.sent), 5)
    peer.queue.append((3, 3))  # seqs 1..3 stored
    eq(d.drain(1000), 3)
    eq((j.acked, j.pending), (3, 2))
    # a reboot: the released records stay released, the others are sent again
    j2 = journal.Journal(ROOT, max_bytes=8192, seg_bytes=1024).open()
    eq((j2.acked, j2.pending), (3, 2))


def test_a_receipt_with_a_gap_before_its_run_releases_nothing():
    """Frame 1..2 lost at the broker, 3..5 stored: the collector's run starts at 3."""
    j, peer, d = _station()
    _store(d, 1, 5)
    d.drain(1000)
    peer.queue.append((5, 3))
    eq(d.drain(1000), 0)
    eq(j.pending, 5)
    peer.queue.append((5, 5))  # the run reaches back to 1
    eq(d.drain(1000), 5)
    eq(j.pending, 0)


def test_stale_and_future_receipts_are_ignored():
    j, peer, d = _station()
    _store(d, 1, 3)
    d.drain(1000)
    peer.queue.append((200, 1))  # a seq never sent (or one from 256 records ago)
    peer.queue.append((9, 255))
    eq(d.drain(1000), 0)
    eq(j.pending, 3)


def test_seq_wraps_modulo_256():
    j, peer, d = _station(max_bytes=65536)
    _store(d, 250, 260)
    d.drain(1000)
    peer.queue.append((260 % 256, 11))
    eq(d.drain(1000), 11)
    eq((j.acked, j.pending), (260, 0))


def test_what_no_receipt_covers_is_sent_again_after_the_timeout():
    j, peer, d = _station(timeout_ms=50)
    _store(d, 1, 4)
    d.drain(1000)
    peer.queue.append((2, 2))
    eq(d.drain(1000), 2)
    time.sleep_ms(60)
    d.drain(1000)
    eq(peer.sent, [1, 2, 3, 4, 3, 4], "3 and 4 re-sent, 1 and 2 not")
    eq(d.resends, 1)
    eq(any("DELIVERY.RESEND" in str(ln) for ln in LINES), True, "the re-send is reported")
    peer.queue.append((4, 2))
    eq(d.drain(1000), 2)
    eq(j.pending, 0)


def test_at_most_a_window_waits_for_receipts():
    j, peer, d = _station(max_bytes=65536)
    _store(d, 1, 200)
    d.drain(100000)
    eq(len(peer.sent), 128, "the receipt's seq must stay unambiguous")
    peer.queue.append((128, 128))
    d.drain(100000)
    eq(j.acked, 128)
    eq(len(peer.sent), 200)


def test_the_journal_bound_still_applies_while_waiting_for_receipts():
    """No receipts at all: the journal fills, drop-oldest is counted, the cursor starts over
    at the oldest record kept, and a later receipt still releases what it covers."""
    j, peer, d = _station(max_bytes=2048)
    _store(d, 1, 20)
    d.drain(1000)
    _store(d, 21, 200)
    dropped = j.dropped
    if dropped == 0:
        raise AssertionError("the journal should have dropped its oldest records")
    eq(dropped + j.pending, 200, "every record is pending or counted as dropped")
    del peer.sent[:]
    d.drain(100000)
    first = peer.sent[0]
    eq(first, dropped + 1, "sent again from the oldest kept record")
    peer.queue.append((200 % 256, 200 - first + 1))
    d.drain(100000)
    eq((j.pending, j.acked), (0, 200))
