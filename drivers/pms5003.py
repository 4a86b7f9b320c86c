"""Plantower PMS5003 laser particle sensor on a UART (9600 baud, 8N1).

Data manual: Plantower PMS5003 (2016), appendix I (frame) and II (commands). Results are integers
kept in the object, in ug/m3 "under atmospheric environment" (the columns to use for outdoor
air): `pm1_0`, `pm2_5`, `pm10`; also `pm*_cf1` (CF=1 columns) and `counts` (particles per
0.1 L beyond 0.3/0.5/1.0/2.5/5.0/10 um). Reading a frame allocates nothing.

    pms = PMS5003(uart)          # wakes it, selects passive mode, checks it answers
    pms.read()                   # passive: request a frame; active: wait for the next one
    pms.sleep() / pms.wake()     # fan and laser off/on; data is stable WARMUP_MS after wake

The fan needs 30 s after waking before the data is stable (data manual, note to the sleep
command); `warming_up()` says whether that time has passed, `ready_in_ms()` how long is left.
"""

import time

from micropython import const

_START1 = const(0x42)
_START2 = const(0x4D)
_CMD_READ = const(0xE2)
_CMD_MODE = const(0xE1)
_CMD_SLEEP = const(0xE4)
_DATA_LEN = const(28)  # 13 data words + checksum
_ACK_LEN = const(4)  # command echo + checksum
_FRAME_PERIOD_MS = const(2300)  # active mode, "stable" sub-mode (max interval)
_ETIMEDOUT = const(110)

WARMUP_MS = const(30000)


class PMSError(ValueError):
    """A frame with a wrong checksum or length came from the sensor (or from line noise)."""


class PMS5003:
    def __init__(self, uart, passive=True):
        self._uart = uart
        self._buf = bytearray(32)
        self._mv = memoryview(self._buf)
        self._mv_body = self._mv[4:32]
        self._mv_len = self._mv[2:4]
        self._b1 = bytearray(1)
        self._cmd = bytearray(7)
        self._cmd[0] = _START1
        self._cmd[1] = _START2
        self._drain = bytearray(64)
        self.passive = passive
        self.asleep = False
        self.woke_ms = time.ticks_ms()
        self.bad_frames = 0
        self.pm1_0 = self.pm2_5 = self.pm10 = 0
        self.pm1_0_cf1 = self.pm2_5_cf1 = self.pm10_cf1 = 0
        self.counts = [0] * 6
        # a sleeping sensor only hears "wake up"; waking an awake one changes nothing
        self._send(_CMD_SLEEP, 1)
        self.woke_ms = time.ticks_ms()
        self._on_ms = 0  # laser time not yet taken (take_on_ms)
        self._on_since_ms = self.woke_ms
        # identity: the sensor must answer the mode command (ack) or send a valid data frame
        # (an active-mode frame already on its way may come first: it proves the identity too)
        self._drain_input()
        self._send(_CMD_MODE, 0 if passive else 1)
        deadline = time.ticks_add(time.ticks_ms(), 3000)
        while True:
            left = time.ticks_diff(deadline, time.ticks_ms())
            if left <= 0:
                raise OSError(_ETIMEDOUT)
            kind = self._read_frame(left, want_ack=True)
            if kind == _ACK_LEN and self._buf[4] == _CMD_MODE:
                return
            if kind == _DATA_LEN and not passive:
                return

    # --- wire ---
    def _send(self, cmd, data):
        c = self._cmd
        c[2] = cmd
        c[3] = 0
        c[4] = data
        s = _START1 + _START2 + cmd + data
        c[5] = s >> 8
        c[6] = s & 0xFF
        self._uart.write(c)

    def _drain_input(self):
        while self._uart.any():
            self._uart.readinto(self._drain)

    def _byte(self, deadline):
        while True:
            n = self._uart.readinto(self._b1)
            if n:
                return self._b1[0]
            if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                raise OSError(_ETIMEDOUT)

    def _fill(self, mv, deadline):
        # one readinto for the whole preallocated view (it waits up to the UART timeout); after a
        # short read, byte by byte (UART.readinto always writes from the buffer's start)
        n = self._uart.readinto(mv) or 0
        b = self._b1
        while n < len(mv):
            if self._uart.readinto(b):
                mv[n] = b[0]
                n += 1
            elif time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                raise OSError(_ETIMEDOUT)

    def _read_frame(self, timeout_ms, want_ack=False):
        """Read the next valid frame into the buffer; returns its length field (28 or 4).

        Bytes before a frame header are skipped (line noise, a frame's tail). Every candidate
        header is tried: a 0x42 not followed by 0x4D, or a header whose length or checksum is
        wrong, is followed by a search for the next 0x42 0x4D among the bytes already read.
        Only a bad frame with no later candidate in it raises PMSError. Data frames are returned
        even when an ack is wanted (the caller decides); acks are skipped when only data is
        wanted."""
        deadline = time.ticks_add(time.ticks_ms(), timeout_ms)
        buf = self._buf
        n = 0  # bytes of the candidate frame in buf (buf[0] is 0x42 when n > 0)
        while True:
            if n < 2:
                # hunt the header (n == 1: a 0x42 kept from a resynchronisation)
                b = _START1 if n else self._byte(deadline)
                while True:
                    if b != _START1:
                        b = self._byte(deadline)
                        continue
                    b = self._byte(deadline)
                    if b == _START2:
                        break
                buf[0] = _START1
                buf[1] = _START2
                n = 2
            if n == 2:
                self._fill(self._mv_len, deadline)
                n = 4
            length = (buf[2] << 8) | buf[3]
            if length == _ACK_LEN:
                total = 6
            elif length == _DATA_LEN:
                total = 30
            else:
                n = self._resync(n)
                if n:
                    continue
                self.bad_frames += 1
                raise PMSError("PMS5003: frame length %d" % length)
            if n == 4:
                # the usual case: the rest in one read into the preallocated view
                self._fill(self._mv_body if length == _DATA_LEN else self._mv[4:8], deadline)
            else:
                self._fill_from(n, total + 2, deadline)
            n = total + 2
            s = 0
            for i in range(total):
                s += buf[i]
            if s & 0xFFFF != (buf[total] << 8) | buf[total + 1]:
                n = self._resync(n)
                if n:
                    continue
                self.bad_frames += 1
                raise PMSError("PMS5003: checksum mismatch")
            if length == _ACK_LEN and not want_ack:
                n = 0
                continue
            return length

    def _fill_from(self, n, end, deadline):
        """Read bytes into buf[n:end] one at a time (after a resynchronisation)."""
        b = self._b1
        buf = self._buf
        while n < end:
            if self._uart.readinto(b):
                buf[n] = b[0]
                n += 1
            elif time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                raise OSError(_ETIMEDOUT)

    def _resync(self, n):
        """Move the bytes from the next candidate header in buf[1:n] (0x42 0x4D, or a 0x42 as the
        last byte) to the front; returns how many (0: no candidate)."""
        buf = self._buf
        for i in range(1, n):
            if buf[i] == _START1 and (i + 1 == n or buf[i + 1] == _START2):
                for j in range(i, n):
                    buf[j - i] = buf[j]
                return n - i
        return 0

    # --- public ---
    def read(self, timeout_ms=None, retries=1):
        """Read one data frame (passive: request it; active: the next one sent) and decode it.

        A bad or missing frame is retried `retries` times; then PMSError or OSError(ETIMEDOUT)."""
        if self.asleep:
            raise OSError(_ETIMEDOUT)
        if timeout_ms is None:
            timeout_ms = 1000 if self.passive else _FRAME_PERIOD_MS + 1000
        while True:
            self._drain_input()  # stale frames from before: not this reading
            if self.passive:
                self._send(_CMD_READ, 0)
            try:
                self._read_frame(timeout_ms)
                break
            except (PMSError, OSError):
                if retries <= 0:
                    raise
                retries -= 1
        self._decode()

    def _decode(self):
        b = self._buf
        self.pm1_0_cf1 = (b[4] << 8) | b[5]
        self.pm2_5_cf1 = (b[6] << 8) | b[7]
        self.pm10_cf1 = (b[8] << 8) | b[9]
        self.pm1_0 = (b[10] << 8) | b[11]
        self.pm2_5 = (b[12] << 8) | b[13]
        self.pm10 = (b[14] << 8) | b[15]
        c = self.counts
        for i in range(6):
            c[i] = (b[16 + 2 * i] << 8) | b[17 + 2 * i]

    def set_passive(self, passive):
        self._send(_CMD_MODE, 0 if passive else 1)
        self.passive = passive

    def sleep(self):
        """Fan and laser off (spares the laser: rated life ~8000 h of operation)."""
        self._send(_CMD_SLEEP, 0)
        if not self.asleep:
            self._on_ms += time.ticks_diff(time.ticks_ms(), self._on_since_ms)
        self.asleep = True

    def wake(self):
        """Fan and laser on; data is stable WARMUP_MS later."""
        if self.asleep:
            self._send(_CMD_SLEEP, 1)
            self.asleep = False
            self.woke_ms = self._on_since_ms = time.ticks_ms()

    def take_on_ms(self):
        """Milliseconds the laser has been on since the last call (the station adds them up)."""
        n = self._on_ms
        if not self.asleep:
            now = time.ticks_ms()
            n += time.ticks_diff(now, self._on_since_ms)
            self._on_since_ms = now
        self._on_ms = 0
        return n

    def ready_in_ms(self):
        """Milliseconds until the fan warm-up after the last wake is over (0 when stable)."""
        left = WARMUP_MS - time.ticks_diff(time.ticks_ms(), self.woke_ms)
        return left if left > 0 else 0

    def warming_up(self):
        return self.ready_in_ms() > 0
