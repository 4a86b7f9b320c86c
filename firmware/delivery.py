"""Delivery: every frame goes into the journal first; the uplink drains the journal.

    d = Delivery(journal, uplink)
    d.store(seq, frame)      # the sample is safe on flash before anything is sent
    d.drain(budget_ms)       # oldest first, until empty, the link fails or the budget is spent
    d.downlinks(handler)     # commands that arrived; handler(payload) -> ack frame or None

A record leaves the journal only when the uplink confirms delivery (`send()` returned True: MQTT
PUBACK, LoRaWAN accepted/ACKed as configured). A cut between delivery and the journal's ACK
record re-sends the frame after the reboot: at-least-once, the receiver drops duplicates by seq.
As many pending samples as the uplink's current maximum payload allows travel in one frame
(`codec.encode_batch`); a record the codec cannot read goes alone, as it was stored.

With receipts (`receipt_timeout_ms` > 0, config `mqtt.receipts`) a confirmed send only moves a
cursor: the records stay in the journal until a collector's receipt says they are stored
(docs/collector.md). A receipt names a run of stored seqs (modulo 256); it releases records when
the run reaches back to the oldest pending record. At most _WINDOW records wait for a receipt,
so its seq is unambiguous. When no receipt makes progress for the timeout, everything not
covered is sent again (the collector drops duplicates). The journal bound applies as always:
drop-oldest is counted, and a drop rewinds the cursor.

Time: a record journaled before the clock was synced carries its uptime. Once the clock is set
(firmware/clock.py), the records of this boot (seq >= `boot_first_seq`) go out with the unix
time their uptime had (uptime + the offset learnt at the sync); records left from an earlier
boot keep their uptime and its boot id (bootid.py, in the frame since it was journaled), and the
decoders report them as not placed in time (clock_synced false, boot_id).
"""

import time

from micropython import const

import clock
import codec
import diag

_BATCH_MAX = const(16)
_WINDOW = const(128)  # records sent and waiting for a receipt (a receipt's seq is modulo 256)
_SEQ_MOD = const(256)


class Delivery:
    def __init__(self, jnl, uplink, out=None, receipt_timeout_ms=0):
        self.j = jnl
        self.up = uplink
        # the batch frame is built in `out`: the station lends its frame buffer (free once the
        # cycle's frame is in the journal); records are read in place in the journal's buffer
        self.out = out if out is not None else bytearray(256)
        self.delivered = 0  # records confirmed since boot
        self.frames = 0  # frames confirmed since boot
        self.max_depth = jnl.pending
        self.store_failures = 0
        self._samples = None
        self._seqs = None
        self._pos = None
        self.receipt_timeout_ms = receipt_timeout_ms  # 0: receipts off, PUBACK/ACK releases
        self._sent_pos = -1  # journal position after the last record sent, not yet receipted
        self._sent_seq = 0  # seq of that record
        self._inflight = 0  # records sent and waiting for a receipt
        self._wait_ms = 0  # ticks when the wait for a receipt (or its last progress) began
        self._dropped = jnl.dropped
        self.resends = 0  # times the records not covered by a receipt were sent again
        self.boot_first_seq = None  # first seq journaled in this boot (the station sets it)
        self.boot_id = 0  # this boot's id (bootid.py; the station sets it), 0: not known
        # LoRaWAN link checks (docs/uplinks.md): receipts come only in the downlink of a check,
        # so each is fresh: a gap before its run means lost frames (re-send at once), and it may
        # cover records sent before a rewind. A full window waits for the next check, which
        # re-sends the oldest pending records.
        self.checked_link = False
        self._sent_max = None  # highest seq sent (checked_link), kept across rewinds
        self._link_losses = 0  # the uplink's count seen last (checked_link)

    def store(self, seq, frame):
        try:
            self.j.append(seq, frame)
        except (OSError, ValueError) as exc:
            self.store_failures += 1
            diag.exception("JOURNAL.FAIL", exc, None, seq=seq)
            return False
        if self.j.pending > self.max_depth:
            self.max_depth = self.j.pending
        return True

    def _many(self, limit, pos):
        """As many pending samples from pos on as fit `limit` bytes (the codec's batch encoder)."""
        import sample as S

        if self._samples is None:
            self._samples = [S.Sample() for _ in range(_BATCH_MAX)]
            self._seqs = [0] * _BATCH_MAX
            self._pos = [0] * _BATCH_MAX
        k = 0
        while k < _BATCH_MAX:
            r = self.j.read(pos)
            if r is None:
                break
            seq, n, pos = r
            try:
                codec.decode_sample(self.j.payload(n), self._samples[k])
            except ValueError:
                # a record the codec cannot read goes alone, as it was stored
                if k == 0:
                    return self.j.payload(n), 1, seq, pos
                break
            self._place_in_time(self._samples[k], seq)
            self._seqs[k] = seq
            self._pos[k] = pos
            k += 1
        if k == 0:
            return None
        # built to be sent now: synced records go out with ages (0-2 bytes) instead of 4-byte
        # unix times; uptime records keep theirs (they may come from an earlier boot)
        now = time.time() if self._samples[0].flags & S.FLAG_CLOCK_SYNCED else None
        nbytes, used = codec.encode_batch(self._samples, k, self.out, limit, now)
        if used <= 0:
            diag.warn("UPLINK.TOO_BIG", self.up.name, seq=self._seqs[0], max=limit)
            return None
        return memoryview(self.out)[:nbytes], used, self._seqs[used - 1], self._pos[used - 1]

    def _place_in_time(self, smp, seq):
        """An uptime-stamped record of this boot gets its unix time once the clock is set."""
        import sample as S

        first = self.boot_first_seq
        if smp.flags & S.FLAG_CLOCK_SYNCED or first is None:
            return
        if smp.boot and smp.boot != self.boot_id:
            return  # an earlier boot's uptime (it travels with its boot id): no offset known
        if (seq - first) & 0xFFFFFFFF >= 0x80000000:
            return  # an earlier boot's uptime: no offset is known for it
        t = clock.to_unix(smp.time)
        if t is None:
            return
        smp.time = t
        smp.flags |= S.FLAG_CLOCK_SYNCED
        smp.boot = 0  # placed in time: the boot no longer matters

    def drain(self, budget_ms, port=1, min_pending=1):
        """Send pending records oldest first; returns how many were confirmed this call.

        Nothing is sent until at least min_pending records wait (config `batch`: samples travel
        together, one frame's overhead and airtime shared by several samples).
        """
        start = time.ticks_ms()
        done = 0
        receipts = self.receipt_timeout_ms > 0
        if receipts and self.j.pending:
            done = self._receipts(start)
        if self.j.pending - self._inflight < min_pending:
            self.delivered += done
            return done
        while self.j.pending > self._inflight:
            if time.ticks_diff(time.ticks_ms(), start) >= budget_ms:
                diag.info("DELIVERY.BUDGET", self.up.name, pending=self.j.pending)
                break
            if not self.up.connect():
                break
            if receipts and self._inflight >= _WINDOW:
                # a full window sends nothing but the next check; and once after a passed check
                # whose receipt did not come with its ACK: a real network server delivers it
                # in the window of the next uplink only
                if self.checked_link and (self.up.check_due() or self.up.receipt_owed):
                    self._probe()
                break
            limit = self.up.max_payload()
            item = self._many(limit, self._sent_pos if self._inflight else self.j.head)
            if item is None:
                break
            frame, count, last_seq, nxt = item
            if not self.up.send(frame, port):
                break
            if receipts:
                # sent, not yet stored: the journal keeps it until a receipt covers it
                if not self._inflight:
                    self._wait_ms = time.ticks_ms()
                self._inflight += count
                self._sent_pos = nxt
                self._sent_seq = last_seq
                if self._sent_max is None or last_seq > self._sent_max:
                    self._sent_max = last_seq
                self.frames += 1
                continue
            try:
                self.j.ack(last_seq, nxt, count)
            except OSError as exc:
                # delivered but not recorded: sent again after reboot (a duplicate, never a loss)
                diag.exception("JOURNAL.FAIL", exc, None, op="ack", seq=last_seq)
                break
            done += count
            self.frames += 1
        self.delivered += done
        if done or self.j.pending:
            diag.info(
                "DELIVERY",
                self.up.name,
                sent=done,
                pending=self.j.pending,
                acked=self.j.acked,
                dropped=self.j.dropped,
            )
        return done

    def _probe(self):
        """The link check when the window is full: the oldest pending records again (the far
        end drops them; its receipt says how far its run from them reaches)."""
        item = self._many(self.up.max_payload(), self.j.head)
        if item is not None and self.up.send(item[0], 1):
            self.frames += 1

    def _rewind(self):
        """Send again, from the oldest pending record, everything no receipt covered."""
        self._inflight = 0
        self._sent_pos = -1

    def _receipts(self, now):
        """Apply the receipts that arrived; rewind on a drop or when none came in time.
        Returns how many records receipts released."""
        if self.j.dropped != self._dropped:
            self._dropped = self.j.dropped
            self._rewind()  # records under the cursor may be gone
        if self.checked_link and self.up.link_losses != self._link_losses:
            # a failed link check: what was sent since the last receipt may be lost
            self._link_losses = self.up.link_losses
            if self._inflight:
                diag.info("DELIVERY.RESEND", self.up.name, records=self._inflight, why="link")
                self.resends += 1
                self._rewind()
        if not self.up.connect():
            return 0
        done = 0
        while True:
            r = self.up.receipt()
            if r is None:
                break
            if self._inflight:
                done += self._release(r[0], r[1])
        if done:
            self._wait_ms = now
        elif self._inflight and time.ticks_diff(now, self._wait_ms) >= self.receipt_timeout_ms:
            diag.info("DELIVERY.RESEND", self.up.name, records=self._inflight)
            self.resends += 1
            self._rewind()
        return done

    def _release(self, seq_mod, n):
        """Release the pending records a receipt (seqs seq_mod-n+1 .. seq_mod, modulo 256,
        stored) covers: only when its run reaches back to the oldest pending record."""
        r = self.j.read(self.j.head)
        if r is None:
            return 0
        head_seq = r[0]
        last = head_seq + (seq_mod - head_seq) % _SEQ_MOD
        if last > (self._sent_max if self.checked_link else self._sent_seq):
            return 0  # a stale receipt
        if last - n + 1 > head_seq:
            # a gap before its run: wait, re-send on timeout (LoRaWAN: at once)
            if self.checked_link:
                diag.info("DELIVERY.RESEND", self.up.name, records=self._inflight, why="gap")
                self.resends += 1
                self._rewind()
            return 0
        pos = self.j.head
        count = 0
        while True:
            r = self.j.read(pos)
            if r is None or r[0] > last:
                break
            count += 1
            pos = r[2]
        try:
            self.j.ack(last, pos, count)
        except OSError as exc:
            diag.exception("JOURNAL.FAIL", exc, None, op="ack", seq=last)
            return 0
        self._inflight -= count
        if self._inflight <= 0:
            self._rewind()
        return count

    def downlinks(self, handler):
        """Hand every waiting command to handler and send its answer back."""
        for _ in range(4):
            cmd = self.up.poll()
            if cmd is None:
                return
            diag.info("DOWNLINK", self.up.name, bytes=len(cmd))
            if handler is None:
                continue
            try:
                ack = handler(cmd)
            except Exception as exc:  # a bad command must not stop delivery
                diag.exception("DOWNLINK.ERROR", exc, self.up.name)
                continue
            if ack:
                ok = self.up.send_ack(ack)
                diag.info("DOWNLINK.ACK", self.up.name, sent=ok)

    def send_status(self):
        """Send a status frame now (a status request); best effort, not journaled."""
        frame = self.up.status()
        if frame is None:
            return False
        if not self.up.connect():
            return False
        ok = self.up.send_status(frame)
        diag.info("STATUS.SENT", self.up.name, ok=ok, bytes=len(frame))
        return ok
