"""Byte-level model of the Plantower PMS5003 particle sensor on a UART (9600 8N1).

Reproduces (Plantower PMS5003 data manual, 2016, appendices I and II):
- data frame: 0x42 0x4D, frame length 2*13+2 = 28, thirteen big-endian words (PM1.0, PM2.5,
  PM10 "CF=1 standard particle"; PM1.0, PM2.5, PM10 "under atmospheric environment"; particle
  counts beyond 0.3/0.5/1.0/2.5/5.0/10 um per 0.1 L; reserved), 16-bit checksum = sum of all
  preceding bytes; 32 bytes in all;
- host commands 0x42 0x4D CMD DATAH DATAL LRCH LRCL (checksum = sum of the first five bytes):
  0xE2 read in passive mode, 0xE1 mode (0 passive, 1 active), 0xE4 sleep (0) / wake up (1);
  mode and sleep commands are answered with a short frame 42 4D 00 04 CMD DATA checksum;
  bad checksums are ignored;
- power-on state: active mode, awake; active mode sends a frame every 2.3 s ("stable mode");
- asleep (fan and laser off) the sensor answers nothing and sends nothing but hears wake up;
- after waking, the fan needs 30 s before the data is stable: the model reads low during those
  30 s (scaled by 0.5 + 0.5 * t/30 s, a plausible figure, not a datasheet one);
- concentrations are integers (1 ug/m3 resolution), 0..1000 valid; CF=1 equals atmospheric up
  to 30 ug/m3 and is 1.5x above (the usual shape of Plantower's two columns; approximate).
Model-side value faults: sim.chip's (stuck / force / offset on pm*_ugm3).
"""

from sim.chip import Chip

_FRAME_PERIOD_US = 2300000
_WARMUP_US = 30000000
_REPLY_DELAY_US = 3000


def _checksum(data):
    return sum(data) & 0xFFFF


def frame(words):
    out = bytearray(b"\x42\x4d\x00\x1c")
    for w in words:
        out.append((w >> 8) & 0xFF)
        out.append(w & 0xFF)
    c = _checksum(out)
    out.append(c >> 8)
    out.append(c & 0xFF)
    return bytes(out)


def ack(cmd, data):
    out = bytearray((0x42, 0x4D, 0x00, 0x04, cmd, data))
    c = _checksum(out)
    out.append(c >> 8)
    out.append(c & 0xFF)
    return bytes(out)


def _clip(v):
    v = int(round(v))
    return 0 if v < 0 else (65535 if v > 65535 else v)


class PMS5003Model(Chip):
    FORCE = ("pm2_5_ugm3", 1500.0)  # out-of-range fault used by the fault plan
    OFFSET = ("pm2_5_ugm3", 25.0)

    def __init__(self, env, **_):
        super().__init__(env)
        self.uart = None
        self.active = True
        self.asleep = False
        self.woke_us = 0
        self.next_frame_us = _FRAME_PERIOD_US
        self._rx = bytearray()
        self.frames_sent = 0
        self.bad_commands = 0
        self.laser_on_acc_us = 0  # laser (and fan) time before the last wake

    def laser_on_us(self, now_us):
        """Total time the laser has been on (the sensor wakes at power-on), us."""
        return self.laser_on_acc_us + (0 if self.asleep else now_us - self.woke_us)

    # --- the measurement ---
    def words(self, now_us):
        c = self.conditions(now_us)
        since = now_us - self.woke_us
        k = 1.0 if since >= _WARMUP_US else 0.5 + 0.5 * since / _WARMUP_US
        pm1, pm25, pm10 = c.pm1_0_ugm3 * k, c.pm2_5_ugm3 * k, c.pm10_ugm3 * k

        def cf1(v):
            return v if v <= 30 else 30 + (v - 30) * 1.5

        # counts per 0.1 L beyond each size (plausible urban size distribution)
        n03 = pm25 * 120 + pm10 * 15
        counts = (n03, n03 * 0.3, pm25 * 8, pm25 * 1.2, (pm10 - pm25) * 0.6, (pm10 - pm25) * 0.1)
        w = [
            _clip(cf1(pm1)),
            _clip(cf1(pm25)),
            _clip(cf1(pm10)),
            _clip(pm1),
            _clip(pm25),
            _clip(pm10),
        ]
        w.extend(_clip(n) for n in counts)
        w.append(0x9700)  # reserved word (firmware version / error code on real units)
        return w

    # --- SimUART peer protocol ---
    def next_tx_us(self):
        if self.asleep or not self.active:
            return None
        return self.next_frame_us

    def poll(self, now_us):
        if self.asleep or not self.active:
            return
        if now_us < self.next_frame_us:
            return
        # frames due since the last poll; those older than the receive buffer can hold are lost
        # in the UART FIFO anyway, so only the last few are materialised
        n = (now_us - self.next_frame_us) // _FRAME_PERIOD_US + 1
        keep = self.uart.rxbuf // 32 + 1 if self.uart is not None else 1
        if n > keep:
            self.next_frame_us += (n - keep) * _FRAME_PERIOD_US
            self.frames_sent += n - keep
        # one reading for the batch: the air does not change within a few frames, and asking the
        # environment for past times would make trace replay rewind
        data = frame(self.words(now_us))
        while self.next_frame_us <= now_us:
            t = self.next_frame_us
            self.uart.send_to_host(data, at_us=t)
            self.frames_sent += 1
            self.next_frame_us += _FRAME_PERIOD_US

    def receive(self, data, now_us):
        self.poll(now_us)
        self._rx.extend(data)
        while len(self._rx) >= 7:
            i = self._rx.find(b"\x42\x4d")
            if i < 0:
                self._rx[:] = b""
                return
            if i:
                self._rx[:i] = b""
                continue
            if len(self._rx) < 7:
                return
            cmd = bytes(self._rx[:7])
            self._rx[:7] = b""
            if _checksum(cmd[:5]) != (cmd[5] << 8 | cmd[6]):
                self.bad_commands += 1
                continue
            self._command(cmd[2], cmd[4], now_us)

    def _command(self, cmd, data, now_us):
        if self.asleep:
            if cmd == 0xE4 and data == 1:
                self.asleep = False
                self.woke_us = now_us
                self.next_frame_us = now_us + _FRAME_PERIOD_US
            return
        if cmd == 0xE2:
            if not self.active:
                self.uart.send_to_host(frame(self.words(now_us)), _REPLY_DELAY_US)
                self.frames_sent += 1
        elif cmd == 0xE1:
            self.active = data == 1
            self.next_frame_us = now_us + _FRAME_PERIOD_US
            self.uart.send_to_host(ack(0xE1, data), _REPLY_DELAY_US)
        elif cmd == 0xE4:
            if data == 0:
                self.uart.send_to_host(ack(0xE4, 0), _REPLY_DELAY_US)
                self.laser_on_acc_us += now_us - self.woke_us
                self.asleep = True
            # wake up while awake: nothing to do
        else:
            self.bad_commands += 1
