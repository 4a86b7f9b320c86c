# The journal: recovery after a power cut at every byte of an append, random corruption, bounds.
# mp-heapsize: 128K
# mp-ports: unix wasm32
import os

import diag
import journal
from mptest import eq, raises

from sim import powerfs  # compiled while the heap is in one piece (128K)

ROOT = "/tmp/mp_journal_test"
LINES = []


def setup():
    diag.configure(level=diag.ERROR + 1, sink=LINES.append)
    del LINES[:]
    _clean(ROOT)


def _clean(path):
    try:
        names = os.listdir(path)
    except OSError:
        return
    for name in names:
        os.remove(path + "/" + name)
    os.rmdir(path)


def _frame(seq):
    # distinct, length-varying payloads so a mix-up between records would be seen
    n = 5 + seq % 23
    return bytes((seq * 7 + i) & 0xFF for i in range(n))


def _open(max_bytes=8192, seg_bytes=1024):
    return journal.Journal(ROOT, max_bytes=max_bytes, seg_bytes=seg_bytes).open()


def _pending(j):
    out = []
    buf = bytearray(journal.MAX_PAYLOAD)
    pos = j.head
    while True:
        r = j.read(pos, buf)
        if r is None:
            return out
        seq, n, pos = r
        out.append((seq, bytes(buf[:n])))


def _files():
    """The segment files (the folder also holds seq.hw, the seq high-water mark)."""
    return sorted(n for n in os.listdir(ROOT) if n.endswith(".jnl"))


def _read(name):
    with open(ROOT + "/" + name, "rb") as f:
        return f.read()


def _write(name, data):
    with open(ROOT + "/" + name, "wb") as f:
        f.write(data)


def test_append_read_ack_and_reopen():
    j = _open()
    for s in range(1, 11):
        j.append(s, _frame(s))
    eq(j.pending, 10, "pending")
    got = _pending(j)
    eq([s for s, _ in got], list(range(1, 11)), "seqs")
    for s, p in got:
        eq(p, _frame(s), "payload %d" % s)
    # deliver the first 4
    buf = bytearray(64)
    pos = j.head
    for _ in range(4):
        seq, n, pos = j.read(pos, buf)
    j.ack(4, pos, 4)
    eq(j.pending, 6, "pending after ack")
    eq(_pending(j)[0][0], 5, "head after ack")
    j2 = _open()
    eq(j2.pending, 6, "pending after reboot")
    eq(j2.acked, 4, "acked after reboot")
    eq(j2.last_seq, 10, "last seq after reboot")
    eq([s for s, _ in _pending(j2)], list(range(5, 11)), "seqs after reboot")


def test_bad_input_changes_nothing():
    j = _open()
    j.append(1, b"abc")
    before = [(n, _read(n)) for n in _files()]
    raises(ValueError, j.append, 1, b"again")  # seq not increasing
    raises(ValueError, j.append, 2, b"")
    raises(ValueError, j.append, 2, bytes(journal.MAX_PAYLOAD + 1))
    eq([(n, _read(n)) for n in _files()], before, "files unchanged")
    eq(j.pending, 1, "pending unchanged")
    raises(ValueError, journal.Journal, ROOT, 1000, 1024)


def _torn_sweep(committed, build_next):
    """Cut power at every byte offset of the next append; every committed record must come back."""
    j = _open()
    for s in range(1, committed + 1):
        j.append(s, _frame(s))
    name = _files()[-1]
    base = _read(name)
    build_next(j)
    full = _read(_files()[-1])
    if _files()[-1] != name or full[: len(base)] != base:
        raise AssertionError("the next append did not extend the same segment")
    new = full[len(base) :]
    for cut in range(len(new) + 1):
        _clean(ROOT)
        os.mkdir(ROOT)
        _write(name, base + new[:cut])
        del LINES[:]
        j2 = _open()
        yield cut, len(new), j2


def test_power_cut_at_every_byte_of_a_data_append():
    nxt = 6
    for cut, total, j in _torn_sweep(5, lambda j: j.append(nxt, _frame(nxt))):
        want = list(range(1, 6)) + ([nxt] if cut == total else [])
        got = _pending(j)
        eq([s for s, _ in got], want, "seqs recovered with cut at %d/%d" % (cut, total))
        for s, p in got:
            eq(p, _frame(s), "payload %d (cut %d)" % (s, cut))
        torn = 0 < cut < total
        eq(j.torn, 1 if torn else 0, "torn tail reported at cut %d" % cut)
        eq(bool([x for x in LINES if "JOURNAL.TORN" in x]), torn, "JOURNAL.TORN line at %d" % cut)
        # the station goes on: the next append after the torn one is recovered too
        j.append(10, _frame(10))
        j3 = _open()
        eq([s for s, _ in _pending(j3)], want + [10], "after next append (cut %d)" % cut)


def test_power_cut_at_every_byte_of_an_ack_append():
    state = {}

    def ack3(j):
        buf = bytearray(64)
        pos = j.head
        for _ in range(3):
            seq, n, pos = j.read(pos, buf)
        j.ack(3, pos, 3)

    for cut, total, j in _torn_sweep(5, ack3):
        first = 4 if cut == total else 1
        eq([s for s, _ in _pending(j)], list(range(first, 6)), "pending after ack cut %d" % cut)
        eq(j.last_seq, 5, "last seq")
        state["n"] = total
    if state["n"] < 12:
        raise AssertionError("ack record too short: %d" % state["n"])


def _xorshift(x):
    x ^= (x << 13) & 0xFFFFFFFF
    x ^= x >> 17
    x ^= (x << 5) & 0xFFFFFFFF
    return x


def test_random_corruption_never_crashes_nor_invents_records():
    rnd = 12345
    for trial in range(60):
        del LINES[:]
        _clean(ROOT)
        j = _open(max_bytes=65536, seg_bytes=4096)
        count = 30
        for s in range(1, count + 1):
            j.append(s, _frame(s))
        name = _files()[-1]
        data = bytearray(_read(name))
        # record boundaries from the clean file, to know which records a flip touches
        bounds = []
        off = 0
        for s in range(1, count + 1):
            ln = 8 + len(_frame(s)) + 4
            bounds.append((s, off, off + ln))
            off += ln
        eq(off, len(data), "layout")
        hit = set()
        for _ in range(1 + trial % 4):
            rnd = _xorshift(rnd)
            i = rnd % len(data)
            rnd = _xorshift(rnd)
            data[i] ^= 1 << (rnd % 8)
            for s, a, b in bounds:
                if a <= i < b:
                    hit.add(s)
        _write(name, data)
        j2 = _open(max_bytes=65536, seg_bytes=4096)
        got = _pending(j2)
        for s, p in got:
            eq(p, _frame(s), "a recovered record is exactly what was stored (trial %d)" % trial)
        seqs = [s for s, _ in got]
        for s in range(1, count + 1):
            if s not in hit and s not in seqs:
                raise AssertionError(
                    "trial %d: untouched record %d lost (hit %r)" % (trial, s, hit)
                )
        if seqs != sorted(seqs):
            raise AssertionError("order")


def test_full_journal_drops_oldest_counted_and_persisted():
    j = _open(max_bytes=2048, seg_bytes=512)
    for s in range(1, 201):
        j.append(s, _frame(s))
    if j.dropped == 0:
        raise AssertionError("nothing dropped")
    if j.bytes_used() > 2048:
        raise AssertionError("journal over its bound: %d" % j.bytes_used())
    got = [s for s, _ in _pending(j)]
    eq(len(got), j.pending, "pending count matches records")
    eq(got[-1], 200, "newest kept")
    eq(got[0] + len(got) - 1, 200, "a contiguous run of the newest records")
    eq(j.dropped, 200 - len(got), "every record is either pending or counted as dropped")
    if not [x for x in LINES if "JOURNAL.DROP" in x]:
        raise AssertionError("no JOURNAL.DROP line")
    j2 = _open(max_bytes=2048, seg_bytes=512)
    eq(j2.dropped, j.dropped, "drop count survives a reboot")
    eq(j2.pending, j.pending, "pending survives")


def test_delivered_segments_are_deleted_and_seq_survives_empty_journal():
    j = _open(max_bytes=8192, seg_bytes=256)
    buf = bytearray(64)
    for s in range(1, 41):
        j.append(s, _frame(s))
        r = j.read(j.head, buf)
        j.ack(r[0], r[2], 1)
    eq(j.pending, 0, "all delivered")
    eq(len(_files()), 1, "only the newest segment is kept")
    j2 = _open(max_bytes=8192, seg_bytes=256)
    eq(j2.last_seq, 40, "seq continues after reboot with nothing pending")
    eq(j2.pending, 0, "nothing pending")
    eq(j2.head, -1, "no head")


def test_appends_never_rewrite_existing_bytes():
    # flash wear: every append only extends the newest file; older bytes stay as they were
    j = _open(max_bytes=8192, seg_bytes=1024)
    snap = {}
    buf = bytearray(64)
    for s in range(1, 60):
        j.append(s, _frame(s))
        if s % 3 == 0:
            r = j.read(j.head, buf)
            j.ack(r[0], r[2], 1)
        for name in _files():
            data = _read(name)
            old = snap.get(name)
            if old is not None and data[: len(old)] != old:
                raise AssertionError("%s rewritten at append %d" % (name, s))
            snap[name] = data


def test_clear_discards_pending_and_keeps_seq():
    j = _open()
    for s in range(1, 8):
        j.append(s, _frame(s))
    j.clear()
    eq(j.pending, 0, "pending after clear")
    eq(_pending(j), [], "nothing readable")
    j2 = _open()
    eq(j2.pending, 0, "pending after reboot")
    eq(j2.last_seq, 7, "seq carries on")
    j2.append(8, _frame(8))
    eq([s for s, _ in _pending(_open())], [8], "new records after clear")


# --- issue 10, item 4: the flash fills before the journal's own bound ---


def _full_flash(capacity):
    os.mkdir(ROOT)
    powerfs.install(ROOT)
    powerfs.set_capacity(capacity)
    return powerfs


def _drain(j, limit=10**6):
    """Deliver (read + ack) every pending record; returns the seqs delivered."""
    out = []
    buf = bytearray(journal.MAX_PAYLOAD)
    while j.pending and len(out) < limit:
        r = j.read(j.head, buf)
        j.ack(r[0], r[2], 1)
        out.append(r[0])
    return out


def test_full_flash_drops_oldest_counted_and_the_backlog_drains():
    import gc
    import sys

    fs = _full_flash(3000)  # far below max_bytes: the flash fills first
    try:
        j = _open(max_bytes=65536, seg_bytes=512)
        heap = []
        codes = set()
        for s in range(1, 601):
            j.append(s, _frame(s))  # never raises: room is made by dropping the oldest
            if s % 100 == 0:
                codes.update(x.split()[2] for x in LINES)
                del LINES[:]  # the test's own record of the lines is not the journal's heap
                gc.collect()
                heap.append(gc.mem_alloc())
        kept = [s for s, _ in _pending(j)]
        eq(kept[-1], 600, "newest kept")
        eq(kept, list(range(kept[0], 601)), "a contiguous run of the newest")
        eq(j.dropped, 600 - len(kept), "every sample is kept or counted")
        if "JOURNAL.FLASH_FULL" not in codes or "JOURNAL.DROP" not in codes:
            raise AssertionError("flash full / drops not reported: %r" % codes)
        if [n for n in _files() if os.stat(ROOT + "/" + n)[6] == 0 and n != _files()[-1]]:
            raise AssertionError("empty segment files: %r" % _files())
        eq(len(j.segments), len(_files()), "no phantom segments in memory")
        # (the WebAssembly port's gc.collect() does not free during a call: unix only)
        if sys.platform != "webassembly" and heap[-1] - heap[1] > 256:
            raise AssertionError("heap grows with every full write: %r" % heap)
        # the link returns: every ACK record can be written, the backlog drains once
        delivered = _drain(j)
        eq(delivered, kept, "each kept sample delivered once, in order")
        eq(j.pending, 0, "drained")
        j.append(601, _frame(601))
        j2 = _open(max_bytes=65536, seg_bytes=512)
        eq((j2.pending, j2.last_seq, j2.dropped), (1, 601, j.dropped), "after a reboot")
    finally:
        fs.uninstall()


def test_a_sample_that_cannot_be_stored_is_counted():
    fs = _full_flash(10)  # not even one record fits
    try:
        j = _open(max_bytes=65536, seg_bytes=512)
        raises(OSError, j.append, 1, _frame(1))
        raises(OSError, j.append, 2, _frame(2))
        eq((j.dropped, j.pending, j.last_seq), (2, 0, 2), "lost samples counted, seq not reused")
        eq(_files(), [], "no empty segment files")
        eq(j.segments, [], "none in memory either")
    finally:
        fs.uninstall()


# --- issue 10, item 12 (part): unknown entries are skipped and reported, long names read ---


def test_a_directory_named_like_a_segment_is_skipped_and_reported():
    j = _open()
    for s in range(1, 4):
        j.append(s, _frame(s))
    os.mkdir(ROOT + "/00000009.jnl")
    try:
        j2 = _open()  # raised EISDIR at boot before
        eq([s for s, _ in _pending(j2)], [1, 2, 3], "records kept")
        if not [x for x in LINES if "JOURNAL.UNKNOWN" in x and "00000009.jnl" in x]:
            raise AssertionError(LINES)
        j2._roll = True
        j2.append(4, _frame(4))  # a new segment never takes the directory's number
        eq(j2.segments[-1][0], 10, "segment after the unknown entry")
    finally:
        os.rmdir(ROOT + "/00000009.jnl")


def test_segment_numbers_past_eight_digits_are_read_back():
    j = _open()
    j.next_segno = 99999999
    j._roll = True
    for s in range(1, 40):
        j.append(s, _frame(s))
    if not [n for n in _files() if len(n) > 12]:
        raise AssertionError(_files())
    j2 = _open()
    eq((j2.pending, j2.last_seq), (39, 39), "every record found after the reboot")


def _lines(code):
    return [x for x in LINES if code in x]


def test_an_emptied_newest_segment_never_makes_seq_go_back():
    j = _open(seg_bytes=256)
    for s in range(1, 41):
        j.append(s, _frame(s))
    if len(_files()) < 3:
        raise AssertionError(_files())
    _write(_files()[-1], b"")  # the newest segment, holding the highest seqs, emptied
    j2 = _open(seg_bytes=256)
    if j2.last_seq < 40:
        raise AssertionError("seq went back to %d: seqs would be reused" % j2.last_seq)
    if not _lines("JOURNAL.SEQ_SKIP"):
        raise AssertionError(LINES)
    dropped = j2.dropped
    j2.append(j2.last_seq + 1, _frame(41))
    j3 = _open(seg_bytes=256)
    eq(j3.last_seq, j2.last_seq, "a clean reboot continues exactly where it was")
    eq(j3.dropped, dropped, "the skipped seqs are not counted as lost at the next boot")


def test_an_emptied_oldest_segment_counts_its_records_once():
    j = _open(seg_bytes=256)
    for s in range(1, 41):
        j.append(s, _frame(s))
    in_oldest = j.segments[0][2]  # its records are 1..in_oldest
    _write(_files()[0], b"")
    j2 = _open(seg_bytes=256)
    eq(j2.dropped, in_oldest, "every record of the emptied segment counted")
    eq([s for s, _ in _pending(j2)], list(range(in_oldest + 1, 41)), "the rest kept")
    if not [x for x in _lines("JOURNAL.CORRUPT") if "records=%d" % in_oldest in x]:
        raise AssertionError(LINES)
    j3 = _open(seg_bytes=256)
    eq(j3.dropped, in_oldest, "counted once, not again at the next boot")


def test_damaged_records_are_counted_in_records_once():
    j = _open(seg_bytes=1024)
    for s in range(1, 21):
        j.append(s, _frame(s))
    name = _files()[0]
    data = bytearray(_read(name))
    off = 0
    for s in range(1, 6):  # to the 6th record; damage its payload (CRC no longer matches)
        off += 8 + len(_frame(s)) + 4
    data[off + 10] ^= 0xFF
    _write(name, data)
    j2 = _open(seg_bytes=1024)
    eq(j2.dropped, 1, "one record lost, counted as one (not in bytes)")
    if 6 in [s for s, _ in _pending(j2)]:
        raise AssertionError("a damaged record read back")
    if not [x for x in _lines("JOURNAL.CORRUPT") if "records=1" in x]:
        raise AssertionError(LINES)
    j3 = _open(seg_bytes=1024)
    eq(j3.dropped, 1, "counted once, not again at the next boot")
    eq(j3.pending, 19, "the others kept")


def test_a_power_cut_in_a_segments_first_record_skips_seqs_without_counting_them_lost():
    j = _open(seg_bytes=256)
    for s in range(1, 41):
        j.append(s, _frame(s))
    _write(_files()[-1], b"\xa5\x01\x09")  # the newest segment: only a torn first record
    j2 = _open(seg_bytes=256)
    if j2.last_seq < 40:
        raise AssertionError("seq went back to %d" % j2.last_seq)
    j2.append(j2.last_seq + 1, _frame(41))  # continues in a fresh segment after the torn one
    j3 = _open(seg_bytes=256)
    eq(j3.dropped, 0, "skipped seqs are not lost records")
