"""Byte-level model of the Nova Fitness SDS011 particle sensor on a UART (9600 8N1).

Reproduces (Nova SDS011 laser dust sensor control protocol V1.3, and the SDS011 datasheet V1.3):
- data frame, 10 bytes: AA C0 PM2.5(lo, hi) PM10(lo, hi) ID1 ID2 checksum AB; values in
  0.1 ug/m3 (0.0..999.9 valid); checksum = low byte of the sum of bytes 2..7;
- host command, 19 bytes: AA B4 CMD data(12 bytes) ID1 ID2 (FF FF = any) checksum AB, checksum
  = low byte of the sum of bytes 2..16; replies AA C5 CMD ... ID1 ID2 checksum AB (10 bytes);
- commands: 2 data reporting mode (active / query), 4 query data (answered with a data frame),
  5 set device ID, 6 sleep / work, 7 firmware version (year, month, day), 8 working period
  (0 = continuous; n = 1..30 min: work 30 s, report, sleep n*60 - 30 s);
- power-on state: active reporting, continuous, a data frame every 1 s;
- asleep (fan and laser off) only the sleep/work command is heard; commands addressed to
  another ID are ignored; bad checksums are ignored;
- after waking, readings need about 30 s to settle (the working-period mode measures 30 s before
  reporting for this reason): the model reads low during those 30 s (0.5 + 0.5 t/30 s; plausible
  figure, not a datasheet one).
"""

from sim.chip import Chip

_PERIOD_US = 1000000
_WARMUP_US = 30000000
_REPLY_DELAY_US = 2000


def _chk(b):
    return sum(b[2:8]) & 0xFF


def reply(cmd, d1, d2, d3, dev_id):
    b = bytearray((0xAA, 0xC5, cmd, d1, d2, d3, dev_id >> 8, dev_id & 0xFF, 0, 0xAB))
    b[8] = _chk(b)
    return bytes(b)


def data_frame(pm25_d, pm10_d, dev_id):
    b = bytearray(
        (
            0xAA,
            0xC0,
            pm25_d & 0xFF,
            pm25_d >> 8,
            pm10_d & 0xFF,
            pm10_d >> 8,
            dev_id >> 8,
            dev_id & 0xFF,
            0,
            0xAB,
        )
    )
    b[8] = _chk(b)
    return bytes(b)


def command(cmd, data=(), dev_id=0xFFFF):
    b = bytearray(19)
    b[0], b[1], b[2] = 0xAA, 0xB4, cmd
    for i, v in enumerate(data):
        b[3 + i] = v
    b[15], b[16] = dev_id >> 8, dev_id & 0xFF
    b[17] = sum(b[2:17]) & 0xFF
    b[18] = 0xAB
    return bytes(b)


class SDS011Model(Chip):
    FORCE = ("pm10_ugm3", 2500.0)  # out-of-range fault used by the fault plan
    OFFSET = ("pm2_5_ugm3", 25.0)

    def __init__(self, env, dev_id=0xA160, firmware=(18, 11, 16), **_):
        super().__init__(env)
        self.uart = None
        self.dev_id = dev_id
        self.firmware = firmware
        self.query_mode = False
        self.asleep = False
        self.period_min = 0
        self.woke_us = 0
        self.next_us = _PERIOD_US
        self._rx = bytearray()
        self.bad_commands = 0
        self.laser_on_acc_us = 0  # laser (and fan) time before the last wake

    def laser_on_us(self, now_us):
        """Total time the laser has been on (the sensor works from power-on), us."""
        return self.laser_on_acc_us + (0 if self.asleep else now_us - self.woke_us)

    def reading(self, now_us):
        c = self.conditions(now_us)
        since = now_us - self.woke_us
        k = 1.0 if since >= _WARMUP_US else 0.5 + 0.5 * since / _WARMUP_US

        def d(v):
            v = int(round(v * k * 10))
            return 0 if v < 0 else (65535 if v > 65535 else v)

        return data_frame(d(c.pm2_5_ugm3), d(c.pm10_ugm3), self.dev_id)

    # --- SimUART peer protocol ---
    def next_tx_us(self):
        if self.query_mode:
            return None
        return self.next_us

    def poll(self, now_us):
        if self.query_mode or now_us < self.next_us:
            return
        if self.period_min == 0:
            if self.asleep:
                self.next_us = now_us + _PERIOD_US
                return
            n = (now_us - self.next_us) // _PERIOD_US + 1
            keep = self.uart.rxbuf // 10 + 1
            if n > keep:
                self.next_us += (n - keep) * _PERIOD_US
            data = self.reading(now_us)
            while self.next_us <= now_us:
                self.uart.send_to_host(data, at_us=self.next_us)
                self.next_us += _PERIOD_US
        else:
            # working period: one report at the end of each 30 s work phase
            cycle = self.period_min * 60000000
            while self.next_us <= now_us:
                self.woke_us = self.next_us - _WARMUP_US
                self.uart.send_to_host(self.reading(self.next_us), at_us=self.next_us)
                self.next_us += cycle

    def receive(self, data, now_us):
        self.poll(now_us)
        self._rx.extend(data)
        while len(self._rx) >= 19:
            i = self._rx.find(b"\xaa\xb4")
            if i < 0:
                self._rx[:] = b""
                return
            if i:
                self._rx[:i] = b""
                continue
            b = bytes(self._rx[:19])
            self._rx[:19] = b""
            if b[18] != 0xAB or sum(b[2:17]) & 0xFF != b[17]:
                self.bad_commands += 1
                continue
            target = (b[15] << 8) | b[16]
            if target not in (0xFFFF, self.dev_id):
                continue
            self._command(b, now_us)

    def _send(self, data):
        self.uart.send_to_host(data, _REPLY_DELAY_US)

    def _command(self, b, now_us):
        cmd, d1, d2 = b[2], b[3], b[4]
        if self.asleep and cmd != 6:
            return
        if cmd == 2:
            if d1 == 1:
                self.query_mode = d2 == 1
                self.next_us = now_us + _PERIOD_US
            self._send(reply(2, d1, 1 if self.query_mode else 0, 0, self.dev_id))
        elif cmd == 4:
            self._send(self.reading(now_us))
        elif cmd == 5:
            new = (b[13] << 8) | b[14]
            self._send(reply(5, 0, 0, 0, new))
            self.dev_id = new
        elif cmd == 6:
            if d1 == 1:
                if d2 == 1 and self.asleep:
                    self.asleep = False
                    self.woke_us = now_us
                    self.next_us = now_us + _PERIOD_US
                elif d2 == 0:
                    if not self.asleep:
                        self.laser_on_acc_us += now_us - self.woke_us
                    self.asleep = True
            self._send(reply(6, d1, 0 if self.asleep else 1, 0, self.dev_id))
        elif cmd == 7:
            y, m, d = self.firmware
            self._send(reply(7, y, m, d, self.dev_id))
        elif cmd == 8:
            if d1 == 1:
                self.period_min = min(30, d2)
                self.next_us = now_us + (30000000 if self.period_min else _PERIOD_US)
            self._send(reply(8, d1, self.period_min, 0, self.dev_id))
        else:
            self.bad_commands += 1
