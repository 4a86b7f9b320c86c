"""Power-loss-safe, append-only journal: the only place a sample frame waits for delivery.

Layout: a folder of segment files `<root>/00000001.jnl`, `00000002.jnl`, ... each at most
`seg_bytes` (one flash erase block, 4 KiB by default). Records are only ever appended; nothing
is rewritten in place, so no header or index block wears out. A record:

    0xA5 | type (1) | length (2, LE) | seq (4, LE) | payload (length) | crc32 (4, LE)

The CRC covers type..payload. Types: DATA (a single-sample frame, opaque here), ACK (every DATA
record with seq <= this seq is delivered; appended when the uplink confirms), DROP (cumulative
count of undelivered records dropped; its payload, when present, is the u32 LE seq up to which
damage was already counted, so a boot never counts the same damage twice).

Boot scan (`open()`): every segment is read record by record; a record whose magic, length or CRC
is wrong is skipped one byte at a time until the next valid record (so corruption in the middle
costs only the damaged record), and damage at the end of the newest segment is a torn tail from a
power cut: discarded, and appends continue in a fresh segment. Segments whose DATA records are
all delivered are deleted (except the newest, which keeps the last seq for the next boot).
When full (`max_bytes`), the oldest segment is deleted even if undelivered: drop-oldest, counted
in `dropped` (persisted as a DROP record) and reported with JOURNAL.DROP.

The flash itself may fill first (other files, a smaller partition than `max_bytes`): a write
that fails with ENOSPC drops the oldest segment the same way (counted) and tries again, and
from then on the journal stays `_RESERVE` bytes below the size at which the flash was full, so
an ACK record can always be written and the backlog drains when the link returns. A failed
write never leaves an empty segment file behind.

Damage costs records, and every one is counted: the records between the last intact DATA record
before damaged bytes (or an empty segment) and the first one after them are lost, counted in
`dropped` and reported (JOURNAL.CORRUPT `records`). An empty oldest segment counts the records
between the last ack and the first record found, which includes any records drop-oldest had
already counted since that ack (an upper bound then).

A seq is never reused: when a segment is started, `seq.hw` (a small file, replaced atomically,
once per segment) records its number and the highest seq it can ever hold. A boot that finds
that segment without an intact record (emptied by damage, or a power cut during its first
write) continues after that bound (JOURNAL.SEQ_SKIP); how many records it held is unknown, so
none are counted, and the skipped seqs are never counted as a damage gap later.

Positions are ints: `segment_number << 16 | offset`.
"""

import binascii
import os
import struct

from micropython import const

import diag

_MAGIC = const(0xA5)
DATA = const(1)
ACK = const(2)
DROP = const(3)
_HDR = const(8)
_CRC = const(4)
MAX_PAYLOAD = const(512)
_ENOSPC = const(28)  # MicroPython's errno module has no name for it; the number on every port
# once the flash was found full, the journal keeps this much of it free for ACK and DROP records
_RESERVE = const(256)
_SUFFIX = ".jnl"
_HW_FILE = "seq.hw"  # "<segno> <highest seq that segment can hold>" (see the module doc)


class JournalError(OSError):
    """The journal cannot store a record (flash full or failing, record too large)."""


def _name(segno):
    s = str(segno)
    return "0" * (8 - len(s)) + s + _SUFFIX


class Journal:
    def __init__(self, root, max_bytes=65536, seg_bytes=4096):
        if seg_bytes < 64 or seg_bytes > 65535:
            raise ValueError("journal: seg_bytes must be 64..65535")
        if max_bytes < 2 * seg_bytes:
            raise ValueError("journal: max_bytes must hold at least two segments")
        self.root = root
        self.max_bytes = max_bytes
        self.seg_bytes = seg_bytes
        self._rec = bytearray(_HDR + MAX_PAYLOAD + _CRC)
        self._mv = memoryview(self._rec)
        # per segment: [segno, size_bytes, max_data_seq or -1]
        self.segments = []
        self.acked = 0  # every DATA seq <= acked is delivered
        self.last_seq = 0  # highest seq seen in any record (the station continues from here)
        self.pending = 0  # DATA records not yet delivered
        self.dropped = 0  # undelivered records lost to drop-oldest (cumulative)
        self.torn = 0  # torn tails discarded at this boot
        self.skipped = 0  # bytes skipped over as damaged at this boot
        self.head = -1  # position of the first pending DATA record, -1 when none
        self._roll = False  # start a new segment before the next append
        self._pending_drop_note = False
        self.next_segno = 1
        self.full_bytes = 0  # journal size when the flash was found full (0: never)
        self._damage_upto = 0  # damage gaps ending at or below this seq are counted in dropped
        self._drop_payload = bytearray(4)

    # --- boot ---
    def open(self):
        """Scan the segments, recover every complete record, discard a torn tail."""
        try:
            os.mkdir(self.root)
        except OSError:
            pass
        nums = []
        taken = 0  # the highest number any entry uses: a new segment never collides with it
        for name in os.listdir(self.root):
            if not name.endswith(_SUFFIX):
                continue
            digits = name[: -len(_SUFFIX)]
            # 8 digits or more: numbers past 99999999 get longer names (_name pads, never cuts)
            if len(digits) < 8 or any(ch < "0" or ch > "9" for ch in digits):
                diag.warn("JOURNAL.UNKNOWN", None, name=name, reason="not a segment name")
                continue
            segno = int(digits)
            if segno > taken:
                taken = segno
            try:
                is_file = not os.stat(self.root + "/" + name)[0] & 0x4000
            except OSError:
                is_file = False
            if is_file:
                nums.append(segno)
            else:
                diag.warn("JOURNAL.UNKNOWN", None, name=name, reason="not a file")
        nums.sort()
        self.next_segno = taken + 1
        self.segments = []
        self.head = -1
        self.pending = 0
        gaps = []  # [after_seq, before_seq]: DATA seqs lost to damage lie strictly between
        prev_data = -1  # seq of the last intact DATA record (-1: none yet)
        damaged = False  # bytes skipped or an empty segment since prev_data
        intact = {}  # segno -> True when it holds an intact record
        for segno in nums:
            size = self._size(segno)
            seg = [segno, size, -1]
            self.segments.append(seg)
            if size == 0 and segno != nums[-1]:
                damaged = True
            off = 0
            tail_bad = False
            while off < size:
                r = self._record_at(segno, off, size)
                if r is None:
                    self.skipped += 1
                    off += 1
                    tail_bad = True
                    damaged = True
                    continue
                tail_bad = False
                intact[segno] = True
                kind, seq, n, nxt = r
                if seq > self.last_seq:
                    self.last_seq = seq
                if kind == DATA:
                    if damaged and seq > prev_data + 1:
                        gaps.append([prev_data, seq])
                    damaged = False
                    prev_data = seq
                    if seq > seg[2]:
                        seg[2] = seq
                elif kind == ACK:
                    if seq > self.acked:
                        self.acked = seq
                elif kind == DROP:
                    if seq > self.dropped:
                        self.dropped = seq
                    if n >= 4:
                        upto = struct.unpack_from("<I", self._rec, _HDR)[0]
                        if upto > self._damage_upto:
                            self._damage_upto = upto
                off = nxt
            if tail_bad and segno == nums[-1]:
                self.torn += 1
                self._roll = True
        # second pass (cheap: only segments that may hold pending data) for pending count and head
        for seg in self.segments:
            if seg[2] > self.acked:
                self._count_pending(seg)
        if self.torn:
            diag.warn("JOURNAL.TORN", None, discarded_bytes=self._tail_garbage())
        lost = 0
        for gap in gaps:
            if gap[1] <= self._damage_upto:
                continue  # counted at an earlier boot
            lo = gap[0] if gap[0] > self.acked else self.acked  # before the first: from the ack
            if gap[1] - lo - 1 > 0:
                lost += gap[1] - lo - 1
                self._damage_upto = gap[1]
        if lost or self.skipped - (self._tail_garbage() if self.torn else 0) > 0:
            self.dropped += lost
            diag.warn(
                "JOURNAL.CORRUPT",
                None,
                records=lost,
                skipped_bytes=self.skipped,
                dropped_total=self.dropped,
            )
        self._continue_after_high_water(intact)
        self._delete_delivered()
        diag.info(
            "JOURNAL.OPEN",
            None,
            pending=self.pending,
            acked=self.acked,
            last_seq=self.last_seq,
            segments=len(self.segments),
            dropped=self.dropped,
        )
        if lost:
            self._pending_drop_note = True
        self._note_drops()  # persisted now: the damaged segments may be deleted by then
        return self

    def _continue_after_high_water(self, intact):
        """A newest segment emptied by damage took its seqs along: continue after its bound."""
        try:
            with open(self.root + "/" + _HW_FILE) as f:
                parts = f.read().split()
            segno, bound = int(parts[0]), int(parts[1])
        except (OSError, ValueError, IndexError):
            return  # none yet (or damaged: the scan's own last_seq stands)
        newest = self.next_segno - 1  # the highest number any entry uses
        if bound > self.last_seq and segno >= newest and segno not in intact:
            diag.warn(
                "JOURNAL.SEQ_SKIP",
                None,
                segment=_name(segno),
                last_seq=self.last_seq,
                continues_after=bound,
            )
            self.last_seq = bound
            # the seqs skipped here were never all used (a power cut during a segment's first
            # write ends here too): the gap they leave is not counted as lost at later boots
            if bound + 1 > self._damage_upto:
                self._damage_upto = bound + 1
                self._pending_drop_note = True

    def _note_high_water(self, segno):
        """Before a segment's first record: the highest seq it can hold, replaced atomically."""
        path = self.root + "/" + _HW_FILE
        try:
            with open(path + ".tmp", "w") as f:
                f.write("%d %d\n" % (segno, self.last_seq + self.seg_bytes // (_HDR + 1 + _CRC)))
            os.rename(path + ".tmp", path)
        except OSError:
            # flash full or failing: the previous bound stays (best effort, like the DROP note)
            try:
                os.remove(path + ".tmp")
            except OSError:
                pass

    def _tail_garbage(self):
        if not self.segments:
            return 0
        seg = self.segments[-1]
        off = 0
        end = 0
        while off < seg[1]:
            r = self._record_at(seg[0], off, seg[1])
            if r is None:
                off += 1
            else:
                off = end = r[3]
        return seg[1] - end

    def _count_pending(self, seg):
        segno, size = seg[0], seg[1]
        off = 0
        while off < size:
            r = self._record_at(segno, off, size)
            if r is None:
                off += 1
                continue
            if r[0] == DATA and r[1] > self.acked:
                self.pending += 1
                if self.head < 0:
                    self.head = segno << 16 | off
            off = r[3]

    # --- record I/O ---
    def _path(self, segno):
        return self.root + "/" + _name(segno)

    def _size(self, segno):
        try:
            return os.stat(self._path(segno))[6]
        except OSError:
            return 0

    def _record_at(self, segno, off, size, f=None):
        """(type, seq, length, next_offset) of a valid record at off, else None. Payload in _rec."""
        if size - off < _HDR + _CRC:
            return None
        mv = self._mv
        own = f is None
        if own:
            f = open(self._path(segno), "rb")
        try:
            f.seek(off)
            if f.readinto(mv[:_HDR]) != _HDR:
                return None
            rec = self._rec
            if rec[0] != _MAGIC or rec[1] < DATA or rec[1] > DROP:
                return None
            n = rec[2] | rec[3] << 8
            if n > MAX_PAYLOAD or off + _HDR + n + _CRC > size:
                return None
            if f.readinto(mv[_HDR : _HDR + n + _CRC]) != n + _CRC:
                return None
        finally:
            if own:
                f.close()
        crc = binascii.crc32(mv[1 : _HDR + n])
        if struct.unpack_from("<I", rec, _HDR + n)[0] != crc:
            return None
        seq = struct.unpack_from("<I", rec, 4)[0]
        return rec[1], seq, n, off + _HDR + n + _CRC

    def read(self, pos, buf=None):
        """Next pending DATA record at or after pos: (seq, length, next_pos), payload copied to buf.

        With buf None the payload stays in the journal's own buffer: `payload(length)` is a view
        of it, valid until the next journal call. None when there is no record. Damaged bytes
        are skipped as in the boot scan.
        """
        if pos < 0:
            return None
        segno, off = pos >> 16, pos & 0xFFFF
        for seg in self.segments:
            if seg[0] < segno:
                continue
            if seg[0] > segno:
                segno, off = seg[0], 0
            if seg[2] <= self.acked:
                continue
            size = seg[1]
            f = open(self._path(segno), "rb")
            try:
                while off < size:
                    r = self._record_at(segno, off, size, f)
                    if r is None:
                        off += 1
                        continue
                    kind, seq, n, nxt = r
                    if kind == DATA and seq > self.acked:
                        if buf is not None:
                            if n > len(buf):
                                raise ValueError("journal: buffer smaller than record")
                            buf[:n] = self._mv[_HDR : _HDR + n]
                        return seq, n, segno << 16 | nxt
                    off = nxt
            finally:
                f.close()
        return None

    def payload(self, n):
        """View of the payload of the record read last (read(pos) without a buffer)."""
        return self._mv[_HDR : _HDR + n]

    def _write(self, kind, seq, payload, n):
        rec = self._rec
        total = _HDR + n + _CRC
        self._make_room(total)
        rec[0] = _MAGIC
        rec[1] = kind
        rec[2] = n & 0xFF
        rec[3] = n >> 8
        struct.pack_into("<I", rec, 4, seq)
        if n:
            self._mv[_HDR : _HDR + n] = payload[:n]
        struct.pack_into("<I", rec, _HDR + n, binascii.crc32(self._mv[1 : _HDR + n]))
        seg = self.segments[-1]
        try:
            with open(self._path(seg[0]), "ab") as f:
                written = f.write(self._mv[:total])
            if written != total:
                raise JournalError("journal: short write (%s of %d bytes)" % (written, total))
        except OSError:
            if seg[1] == 0 and self._size(seg[0]) == 0:
                # nothing reached a segment this write created: no empty file, no list entry
                self._remove(seg[0])
                self.segments.pop()
            else:
                self._roll = True  # whatever reached the file is a damaged tail: continue elsewhere
            raise
        seg[1] += total
        return seg, seg[1] - total

    def _limit(self):
        if self.full_bytes and self.full_bytes - _RESERVE < self.max_bytes:
            return self.full_bytes - _RESERVE
        return self.max_bytes

    def _make_room(self, total):
        if not self.segments or self._roll or self.segments[-1][1] + total > self.seg_bytes:
            self.segments.append([self.next_segno, 0, -1])
            self._note_high_water(self.next_segno)
            self.next_segno += 1
            self._roll = False
        limit = self._limit()
        while self._total() + total > limit and len(self.segments) > 1:
            self._drop_oldest()

    def _write_making_space(self, kind, seq, payload, n):
        """_write, and when the flash is full (ENOSPC): note its size, free the oldest segment
        (delivered ones first; else drop-oldest, counted) and try again while one is left."""
        while True:
            try:
                return self._write(kind, seq, payload, n)
            except OSError as exc:
                if not exc.args or exc.args[0] != _ENOSPC:
                    raise
                used = self._total()
                if not self.full_bytes or used < self.full_bytes:
                    self.full_bytes = used
                    diag.warn("JOURNAL.FLASH_FULL", None, journal_bytes=used, reserve=_RESERVE)
                room = len(self.segments)
                if self.segments and self.segments[-1][1] == 0:
                    room -= 1  # the segment being started is not room to free
                if room <= 0:
                    raise
                self._drop_oldest()

    def _note_drops(self):
        """Persist the drop count (best effort: a full flash retries it with the next record)."""
        if self._pending_drop_note:
            try:
                struct.pack_into("<I", self._drop_payload, 0, self._damage_upto)
                self._write(DROP, self.dropped, self._drop_payload, 4)
                self._pending_drop_note = False
            except OSError:
                pass

    def _total(self):
        t = 0
        for seg in self.segments:
            t += seg[1]
        return t

    def _drop_oldest(self):
        seg = self.segments[0]
        if seg[1] == 0 and len(self.segments) == 1:
            return
        lost = 0
        if seg[2] > self.acked:
            before = self.pending
            self.pending = 0
            self.head = -1
            self._count_pending(seg)
            lost = self.pending
            self.pending = before - lost
        self._remove(seg[0])
        self.segments.pop(0)
        if lost:
            self.dropped += lost
            self._reset_head()
            diag.warn(
                "JOURNAL.DROP", None, records=lost, dropped_total=self.dropped, pending=self.pending
            )
            # persisted so the count survives a reboot (written into the newest segment)
            self._pending_drop_note = True

    def _reset_head(self):
        self.head = -1
        if self.pending:
            for seg in self.segments:
                if seg[2] > self.acked:
                    self.head = seg[0] << 16
                    return

    def _remove(self, segno):
        try:
            os.remove(self._path(segno))
        except OSError:
            pass

    def _delete_delivered(self, upto=None):
        """Delete the segments (but the newest) whose DATA records are all delivered; counts them."""
        if upto is None:
            upto = self.acked
        keep = []
        last = len(self.segments) - 1
        for i, seg in enumerate(self.segments):
            if i < last and seg[2] <= upto:
                self._remove(seg[0])
            else:
                keep.append(seg)
        freed = len(self.segments) - len(keep)
        self.segments = keep
        if freed and self.dropped:
            self._pending_drop_note = (
                True  # the DROP record may have gone with them: write it again
            )
        return freed

    # --- the station's side ---
    def append(self, seq, frame):
        """Store one frame under seq (it must be above every seq stored so far). Raises on failure."""
        n = len(frame)
        if n == 0 or n > MAX_PAYLOAD:
            raise ValueError("journal: frame length %d outside 1..%d" % (n, MAX_PAYLOAD))
        if seq <= self.last_seq:
            raise ValueError("journal: seq %d not above last seq %d" % (seq, self.last_seq))
        if _HDR + n + _CRC > self.seg_bytes:
            raise ValueError("journal: frame does not fit a segment")
        try:
            seg, off = self._write_making_space(DATA, seq, frame, n)
        except OSError:
            # the sample is lost: counted like any other drop (the seq is not reused)
            self.last_seq = seq
            self.dropped += 1
            self._pending_drop_note = True
            diag.warn(
                "JOURNAL.DROP",
                None,
                records=1,
                dropped_total=self.dropped,
                pending=self.pending,
                reason="not stored",
            )
            raise
        if seq > seg[2]:
            seg[2] = seq
        self.last_seq = seq
        self.pending += 1
        if self.head < 0:
            self.head = seg[0] << 16 | off
        self._note_drops()

    def ack(self, seq, next_pos, count):
        """The uplink confirmed every pending record up to seq (count records, read up to next_pos)."""
        if seq <= self.acked:
            return
        try:
            self._write(ACK, seq, b"", 0)
        except OSError as exc:
            if not exc.args or exc.args[0] != _ENOSPC:
                raise
            # flash full: segments this ack delivers completely can go first (if the ACK record
            # is then lost to a power cut, only delivered records were deleted: no loss)
            freed = self._delete_delivered(seq)
            if not freed:
                raise
            self._write_making_space(ACK, seq, b"", 0)
        self.acked = seq
        if seq > self.last_seq:
            self.last_seq = seq
        self.pending -= count
        if self.pending <= 0:
            self.pending = 0
            self.head = -1
        else:
            self.head = next_pos
        self._delete_delivered()
        self._note_drops()

    def clear(self):
        """Discard every pending record (a technician's command); the seq carries on."""
        discarded = self.pending
        last = self.last_seq
        for seg in self.segments:
            self._remove(seg[0])
        self.segments = [[self.next_segno, 0, -1]]
        self._note_high_water(self.next_segno)
        self.next_segno += 1
        self._roll = False
        self.pending = 0
        self.head = -1
        # an ACK through the last seq: the next boot continues numbering after it
        self.acked = last
        self._write(ACK, last, b"", 0)
        diag.warn("JOURNAL.CLEARED", None, discarded=discarded, last_seq=last)

    def bytes_used(self):
        return self._total()
