"""Simulated UART with the machine.UART API, wired to a peer model, with wire timing.

Bytes the peer sends arrive at the rate of the configured baud (10 bits per byte), scheduled in
virtual time; `read()` waits (advancing the virtual clock) up to the UART's `timeout` ms like a
real one. Bytes the firmware writes are delivered to the peer's `receive(data, now_us)`.

Faults (`inject(kind, count=None, **params)`) on the peer -> firmware direction:
    "garbage"   - `nbytes` random bytes (or the bytes `data`) arrive before the next peer
                  transmission
    "truncate"  - the next peer transmission is cut to `keep` bytes
    "corrupt"   - one bit flipped at byte `index` (default middle) of the next transmission
    "drop"      - the next transmission never arrives
    "silent"    - the peer hears nothing we write (disconnected wire)
    "absent"    - nothing is connected: no bytes in either direction (use count=None)
    "slow"      - the next peer transmission starts `delay_us` later (default 500 ms)

Peers that transmit on their own (an active-mode particle sensor) may define `poll(now_us)`,
called before bytes are delivered, to queue what they have sent by now (`send_to_host(...,
at_us=...)` with a time in the past is fine), and `next_tx_us()`, the virtual time of their next
transmission, so that a waiting `read()` advances the clock to it. A peer that also defines
`poll_due(now_us)` is polled only when that says so (a modem with timers): the heap accounting
around `poll` costs a heap walk per call.
"""

from sim import heap, vtime


class SimUART:
    def __init__(self, uart_id=1, baudrate=9600, timeout=1000, rxbuf=512, seed=1):
        self.uart_id = uart_id
        self.baudrate = baudrate
        self.timeout = timeout
        self.rxbuf = rxbuf
        self.peer = None
        self._rx = bytearray()  # bytes that have arrived
        self._pending = []  # [(arrival_us, bytes)] scheduled, ordered
        self.faults = []  # [kind, count, params]
        self.overflows = 0
        self._rng = seed or 1
        self.tx_log_bytes = 0

    # --- simulation side ---
    def attach(self, peer):
        self.peer = peer
        peer.uart = self
        return peer

    def inject(self, kind, count=1, **params):
        if kind not in ("garbage", "truncate", "corrupt", "drop", "silent", "absent", "slow"):
            raise ValueError("unknown UART fault: %s" % kind)
        self.faults.append([kind, count, params])

    def clear(self):
        del self.faults[:]

    def _take_fault(self, kinds):
        for f in self.faults:
            if f[0] in kinds:
                if f[1] is not None:
                    f[1] -= 1
                    if f[1] <= 0:
                        self.faults.remove(f)
                return f[0], f[2]
        return None, None

    def _rand(self):
        # xorshift32: deterministic garbage
        x = self._rng
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self._rng = x
        return x

    def byte_time_us(self):
        return 10 * 1000000 // self.baudrate

    def send_to_host(self, data, delay_us=0, at_us=None, queued=True):
        """Peer transmits `data`, starting `delay_us` from now or at virtual time `at_us`.

        queued=True: after everything already scheduled (the next line of one reply, an event
        that follows the previous one). queued=False: at its own time, in time order among what
        is scheduled: a command reply goes out before an asynchronous event a modem scheduled
        earlier for a later moment (a join outcome seconds away), as a real modem's UART does.
        A transmission never overlaps another on the wire; later ones move back if needed."""
        kind, params = self._take_fault(("absent",))
        if kind == "absent":
            return
        kind, params = self._take_fault(("slow",))
        if kind == "slow":
            delay_us += params.get("delay_us", 500000)
        kind, params = self._take_fault(("garbage",))
        if kind == "garbage":
            junk = params.get("data")  # given bytes (e.g. a stray start byte), else random
            if junk is None:
                junk = bytes(self._rand() & 0xFF for _ in range(params.get("nbytes", 8)))
            data = bytes(junk) + bytes(data)
        kind, params = self._take_fault(("truncate", "corrupt", "drop"))
        if kind == "drop":
            return
        if kind == "truncate":
            data = bytes(data)[: params.get("keep", len(data) // 2)]
        elif kind == "corrupt" and data:
            b = bytearray(data)
            i = params.get("index", len(b) // 2)
            b[i % len(b)] ^= params.get("mask", 0x10)
            data = bytes(b)
        start = (vtime.now_us() if at_us is None else at_us) + delay_us
        bt = self.byte_time_us()
        if queued or not self._pending:
            if self._pending:
                last_t, last_d = self._pending[-1]
                start = max(start, last_t + len(last_d) * bt)
            self._pending.append((start, bytes(data)))
            return
        i = 0
        while i < len(self._pending) and self._pending[i][0] <= start:
            i += 1
        if i:
            prev_t, prev_d = self._pending[i - 1]
            start = max(start, prev_t + len(prev_d) * bt)
        self._pending.insert(i, (start, bytes(data)))
        for j in range(i + 1, len(self._pending)):
            prev_t, prev_d = self._pending[j - 1]
            t, d = self._pending[j]
            if t >= prev_t + len(prev_d) * bt:
                break
            self._pending[j] = (prev_t + len(prev_d) * bt, d)

    def _poll(self):
        poll = getattr(self.peer, "poll", None)
        if poll is not None:
            due = getattr(self.peer, "poll_due", None)  # a cheap check first: heap.call is not
            if due is not None and not due(vtime.now_us()):
                return
            heap.call(poll, vtime.now_us())

    def _deliver(self):
        self._poll()
        now = vtime.now_us()
        bt = self.byte_time_us()
        while self._pending:
            t, data = self._pending[0]
            if now < t:
                break
            n = min(len(data), (now - t) // bt)
            if n <= 0:
                break
            self._rx.extend(data[:n])
            if n == len(data):
                self._pending.pop(0)
            else:
                self._pending[0] = (t + n * bt, data[n:])
        if len(self._rx) > self.rxbuf:
            self.overflows += len(self._rx) - self.rxbuf
            self._rx[: len(self._rx) - self.rxbuf] = b""

    def _next_arrival_us(self):
        nxt = getattr(self.peer, "next_tx_us", None)
        t = nxt() if nxt is not None else None
        if self._pending and (t is None or self._pending[0][0] < t):
            t = self._pending[0][0]
        if t is None:
            return None
        return max(t + self.byte_time_us(), vtime.now_us() + 1)

    # --- machine.UART API ---
    def init(self, baudrate=None, timeout=None, **kwargs):
        if baudrate:
            self.baudrate = baudrate
        if timeout is not None:
            self.timeout = timeout

    def deinit(self):
        pass

    def any(self):
        self._deliver()
        return len(self._rx)

    def _wait(self, need):
        deadline = vtime.now_us() + self.timeout * 1000
        while True:
            self._deliver()
            if len(self._rx) >= need:
                return
            nxt = self._next_arrival_us()
            if nxt is None or nxt > deadline:
                vtime.advance_us(max(0, deadline - vtime.now_us()))
                self._deliver()
                return
            more = need - len(self._rx)
            if more > 1 and self._pending:
                # straight to when the missing bytes of this transmission are in: the same
                # arrival times in one step instead of one step per byte
                t, data = self._pending[0]
                nxt = max(nxt, min(deadline, t + min(more, len(data)) * self.byte_time_us()))
            vtime.advance_us(nxt - vtime.now_us())

    def read(self, nbytes=None):
        if nbytes is None:
            self._deliver()
            if not self._rx:
                self._wait(1)
        else:
            self._wait(nbytes)
        if not self._rx:
            return None
        n = len(self._rx) if nbytes is None else min(nbytes, len(self._rx))
        out = bytes(self._rx[:n])
        self._rx[:n] = b""
        return out

    def readinto(self, buf, nbytes=None):
        want = len(buf) if nbytes is None else nbytes
        data = self.read(want)
        if not data:
            return None
        for i in range(len(data)):
            buf[i] = data[i]
        return len(data)

    def readline(self):
        deadline = vtime.now_us() + self.timeout * 1000
        while True:
            self._deliver()
            i = self._rx.find(b"\n")
            if i >= 0:
                out = bytes(self._rx[: i + 1])
                self._rx[: i + 1] = b""
                return out
            nxt = self._next_arrival_us()
            if nxt is None or nxt > deadline:
                vtime.advance_us(max(0, deadline - vtime.now_us()))
                self._deliver()
                if not self._rx:
                    return None
                out = bytes(self._rx)
                self._rx[:] = b""
                return out
            vtime.advance_us(nxt - vtime.now_us())

    def write(self, buf):
        data = bytes(buf)
        self.tx_log_bytes += len(data)
        # our own transmission takes wire time too
        vtime.advance_us(len(data) * self.byte_time_us())
        kind, _ = self._take_fault(("silent", "absent"))
        if kind is None and self.peer is not None:
            heap.call(self.peer.receive, data, vtime.now_us())
        return len(data)

    def flush(self):
        pass

    def txdone(self):
        return True
