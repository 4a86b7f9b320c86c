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
"""

import time

from micropython import const

import codec
import diag

_BATCH_MAX = const(16)


class Delivery:
    def __init__(self, jnl, uplink, out=None):
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

    def _many(self, limit):
        """As many pending samples as fit `limit` bytes, packed by the codec's batch encoder."""
        import sample as S

        if self._samples is None:
            self._samples = [S.Sample() for _ in range(_BATCH_MAX)]
            self._seqs = [0] * _BATCH_MAX
            self._pos = [0] * _BATCH_MAX
        pos = self.j.head
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

    def drain(self, budget_ms, port=1, min_pending=1):
        """Send pending records oldest first; returns how many were confirmed this call.

        Nothing is sent until at least min_pending records wait (config `batch`: samples travel
        together, one frame's overhead and airtime shared by several samples).
        """
        start = time.ticks_ms()
        done = 0
        if self.j.pending < min_pending:
            return 0
        while self.j.pending:
            if time.ticks_diff(time.ticks_ms(), start) >= budget_ms:
                diag.info("DELIVERY.BUDGET", self.up.name, pending=self.j.pending)
                break
            if not self.up.connect():
                break
            limit = self.up.max_payload()
            item = self._many(limit)
            if item is None:
                break
            frame, count, last_seq, nxt = item
            if not self.up.send(frame, port):
                break
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
            except Exception as exc:  # noqa: a bad command must not stop delivery
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
