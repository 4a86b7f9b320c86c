"""Nova Fitness SDS011 laser particle sensor on a UART (9600 baud, 8N1), in query mode.

Protocol: Nova "Laser Dust Sensor Control Protocol" V1.3. Results are integers kept in the
object, in 0.1 ug/m3: `pm2_5_d`, `pm10_d` (the sensor's own resolution). Reading allocates nothing.

    sds = SDS011(uart)           # wakes it, query mode, continuous working period, firmware check
    sds.read()                   # sends "query data", reads the data frame
    sds.sleep() / sds.wake()     # fan and laser off/on between samples (laser life ~8000 h)

After waking, readings settle within 30 s (the sensor's own working-period mode measures 30 s
before it reports): `warming_up()` / `ready_in_ms()`.
"""

import time

from micropython import const

_HEAD = const(0xAA)
_TAIL = const(0xAB)
_CMD = const(0xB4)
_DATA = const(0xC0)
_REPLY = const(0xC5)
_SET_MODE = const(2)
_QUERY = const(4)
_SLEEP_WORK = const(6)
_FIRMWARE = const(7)
_PERIOD = const(8)
_ETIMEDOUT = const(110)

WARMUP_MS = const(30000)


class SDSError(ValueError):
    """A frame with a wrong checksum, tail or device ID came from the sensor (or line noise)."""


class SDS011:
    def __init__(self, uart, dev_id=0xFFFF):
        self._uart = uart
        self._cmd = bytearray(19)
        self._cmd[0] = _HEAD
        self._cmd[1] = _CMD
        self._cmd[18] = _TAIL
        self._buf = bytearray(10)
        self._mv_rest = memoryview(self._buf)[1:10]
        self._b1 = bytearray(1)
        self._drain = bytearray(32)
        self.dev_id = dev_id  # 0xFFFF: any sensor on the line
        self.pm2_5_d = 0
        self.pm10_d = 0
        self.bad_frames = 0
        self.asleep = False
        # a sensor asleep since before our reboot only hears the sleep/work command
        self._drain_input()
        self._request(_SLEEP_WORK, 1, 1)
        self._expect_reply(_SLEEP_WORK, 3000)
        self.woke_ms = time.ticks_ms()
        self._on_ms = 0  # laser time not yet taken (take_on_ms)
        self._on_since_ms = self.woke_ms
        self._request(_SET_MODE, 1, 1)  # query mode: the sensor sends only when asked
        self._expect_reply(_SET_MODE, 1000)
        self._request(_PERIOD, 1, 0)  # continuous: sleeping is our decision
        self._expect_reply(_PERIOD, 1000)
        self._request(_FIRMWARE, 0, 0)
        self._expect_reply(_FIRMWARE, 1000)
        b = self._buf
        self.firmware = (2000 + b[3], b[4], b[5])
        self.dev_id = (b[6] << 8) | b[7]
        if not (1 <= b[4] <= 12 and 1 <= b[5] <= 31):
            raise ValueError("SDS011: implausible firmware date %r" % (self.firmware,))

    # --- wire ---
    def _request(self, cmd, d1, d2):
        c = self._cmd
        c[2] = cmd
        c[3] = d1
        c[4] = d2
        for i in range(5, 15):
            c[i] = 0
        c[15] = self.dev_id >> 8
        c[16] = self.dev_id & 0xFF
        s = 0
        for i in range(2, 17):
            s += c[i]
        c[17] = s & 0xFF
        self._uart.write(c)

    def _drain_input(self):
        while self._uart.any():
            self._uart.readinto(self._drain)

    def _read_frame(self, deadline):
        """Next frame with a valid tail and checksum; returns its kind (0xC0 data, 0xC5 reply)."""
        b1 = self._b1
        buf = self._buf
        mv = self._mv_rest
        n = 0  # bytes of the candidate frame in buf (n > 0: buf[0] is a head byte)
        while True:
            if n == 0:
                while not self._uart.readinto(b1) or b1[0] != _HEAD:
                    if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                        raise OSError(_ETIMEDOUT)
                buf[0] = _HEAD
                # the other 9 bytes in one go (the usual case); after a short read, byte by byte
                n = 1 + (self._uart.readinto(mv) or 0)
            while n < 10:
                if self._uart.readinto(b1):
                    buf[n] = b1[0]
                    n += 1
                elif time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                    raise OSError(_ETIMEDOUT)
            s = 0
            for i in range(2, 8):
                s += buf[i]
            kind_ok = buf[1] == _DATA or buf[1] == _REPLY
            if not kind_ok or buf[9] != _TAIL or s & 0xFF != buf[8]:
                # not a frame from this head byte: the frame may start at a later 0xAA among
                # the bytes already read (a stray 0xAA up to 9 bytes before it)
                n = self._resync()
                if n or not kind_ok:
                    continue
                self.bad_frames += 1
                raise SDSError("SDS011: bad frame (checksum or tail)")
            if self.dev_id != 0xFFFF and ((buf[6] << 8) | buf[7]) != self.dev_id:
                self.bad_frames += 1
                raise SDSError("SDS011: frame from device %02x%02x" % (buf[6], buf[7]))
            return buf[1]

    def _resync(self):
        """Move the bytes from the next 0xAA in buf[1:10] to the front; returns how many (0: none)."""
        buf = self._buf
        for i in range(1, 10):
            if buf[i] == _HEAD:
                for j in range(i, 10):
                    buf[j - i] = buf[j]
                return 10 - i
        return 0

    def _expect_reply(self, cmd, timeout_ms):
        deadline = time.ticks_add(time.ticks_ms(), timeout_ms)
        while True:
            if self._read_frame(deadline) == _REPLY and self._buf[2] == cmd:
                return

    # --- public ---
    def read(self, timeout_ms=1000, retries=1):
        """Query one reading; sets pm2_5_d and pm10_d (0.1 ug/m3). Retries a bad/missing frame."""
        if self.asleep:
            raise OSError(_ETIMEDOUT)
        while True:
            self._drain_input()
            self._request(_QUERY, 0, 0)
            deadline = time.ticks_add(time.ticks_ms(), timeout_ms)
            try:
                while self._read_frame(deadline) != _DATA:
                    pass
                break
            except (SDSError, OSError):
                if retries <= 0:
                    raise
                retries -= 1
        b = self._buf
        self.pm2_5_d = b[2] | (b[3] << 8)
        self.pm10_d = b[4] | (b[5] << 8)

    def sleep(self):
        """Fan and laser off."""
        self._drain_input()
        self._request(_SLEEP_WORK, 1, 0)
        self._expect_reply(_SLEEP_WORK, 1000)
        if not self.asleep:
            self._on_ms += time.ticks_diff(time.ticks_ms(), self._on_since_ms)
        self.asleep = True

    def wake(self):
        """Fan and laser on; readings settle WARMUP_MS later."""
        if self.asleep:
            self._drain_input()
            self._request(_SLEEP_WORK, 1, 1)
            self._expect_reply(_SLEEP_WORK, 1000)
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

    def set_working_period(self, minutes):
        """Let the sensor sleep by itself: work 30 s, report, sleep minutes*60 - 30 s (1..30), or
        0 for continuous work. Reports then arrive unasked (active reporting mode)."""
        if not 0 <= minutes <= 30:
            raise ValueError("SDS011: working period 0..30 min, got %r" % minutes)
        self._drain_input()
        self._request(_PERIOD, 1, minutes)
        self._expect_reply(_PERIOD, 1000)
        if self._buf[4] != minutes:
            raise SDSError("SDS011: working period not accepted")
        self._request(_SET_MODE, 1, 1 if minutes == 0 else 0)
        self._expect_reply(_SET_MODE, 1000)

    def ready_in_ms(self):
        left = WARMUP_MS - time.ticks_diff(time.ticks_ms(), self.woke_ms)
        return left if left > 0 else 0

    def warming_up(self):
        return self.ready_in_ms() > 0

    @property
    def pm2_5_ugm3(self):
        """PM2.5 of the last reading, ug/m3 (0.1 resolution)."""
        return self.pm2_5_d / 10

    @property
    def pm10_ugm3(self):
        """PM10 of the last reading, ug/m3 (0.1 resolution)."""
        return self.pm10_d / 10
