"""Sensirion SGP40 metal-oxide VOC sensor on I2C (address 0x59), with the VOC index.

Datasheet: Sensirion SGP40 v1.1. `measure_raw(rh_cpct, t_cdeg)` returns the raw signal SRAW
(ticks, an integer: lower = more VOC) compensated for the humidity and temperature of the air,
given as integers (0.01 %RH, 0.01 degC, e.g. from an SHT4x). It allocates nothing.
`voc_index.VocIndex` turns successive SRAW values into the VOC index.

    sgp = SGP40(i2c)                          # serial number and self test checked
    sraw = sgp.measure_raw(5230, 2145)        # 52.3 %RH, 21.45 degC
    sgp.heater_off()                          # between sparse samples: saves ~3 mA

After the heater was off, the first measurement is not settled: `measure_raw(..., settle=True)`
follows Sensirion's low-power procedure (SGP40 low-power example / application note): one
measurement switches the hotplate on and is discarded, the kept one is requested 170 ms after it
(heater on for about 230 ms in all), then `heater_off()`.
"""

import time

from micropython import const

import sensirion

_CMD_MEASURE_RAW = const(0x260F)
_CMD_SELF_TEST = const(0x280E)
_CMD_HEATER_OFF = const(0x3615)
_CMD_SERIAL = const(0x3682)
_SELF_TEST_OK = const(0xD4)
_MEASURE_MS = const(30)
_HEAT_UP_MS = const(170)  # low-power procedure: wait after the discarded measurement
_SELF_TEST_MS = const(320)
_EIO = const(5)
_POWERUP_MS = const(2)  # datasheet: power-up time 0.6 ms max; one more tick of ms resolution
_SRAW_MIN = const(1)  # 0 is not a valid raw signal (hotplate fault)
_SRAW_MAX = const(64999)  # the gas index algorithm ignores values from 65000 up

NO_RH = const(5000)  # 50 %RH and 25 degC: the datasheet's "no compensation" defaults
NO_T = const(2500)
WARMUP_MS = const(2745000)  # VOC index: 45 s blackout + 45 min initial learning (algorithm)


class SGP40:
    def __init__(self, i2c, address=0x59, self_test=True):
        self._i2c = i2c
        self.address = address
        self._cmd = bytearray(2)
        self._cmd8 = bytearray(8)
        self._cmd8[0] = _CMD_MEASURE_RAW >> 8
        self._cmd8[1] = _CMD_MEASURE_RAW & 0xFF
        self._rx3 = bytearray(3)
        self.sraw = 0
        self._heater_on = False
        buf = bytearray(9)
        # right after power-up (0.6 ms) the chip does not acknowledge its address yet
        self._cmd[0] = _CMD_SERIAL >> 8
        self._cmd[1] = _CMD_SERIAL & 0xFF
        sensirion.send_polled(self._i2c, self.address, self._cmd, _POWERUP_MS)
        time.sleep_ms(1)
        self._read(buf, 3)
        self.serial = (
            (sensirion.word(buf, 0) << 32) | (sensirion.word(buf, 1) << 16) | sensirion.word(buf, 2)
        )
        if self.serial == 0 or self.serial == 0xFFFFFFFFFFFF:
            raise ValueError("SGP40: implausible serial number")
        if self_test and not self.self_test():
            raise OSError(_EIO)

    def _send(self, cmd, wait_ms):
        self._cmd[0] = cmd >> 8
        self._cmd[1] = cmd & 0xFF
        self._i2c.writeto(self.address, self._cmd)
        time.sleep_ms(wait_ms)

    def _read(self, buf, nwords, grace_ms=20):
        sensirion.read_polled(self._i2c, self.address, buf, nwords, grace_ms)

    def self_test(self):
        """On-chip self test (320 ms); True when all tests passed (result 0xD4xx)."""
        self._send(_CMD_SELF_TEST, _SELF_TEST_MS)
        self._read(self._rx3, 1)
        self._heater_on = False  # the chip returns to idle after the test
        return self._rx3[0] == _SELF_TEST_OK

    def heater_off(self):
        """Switch the hotplate off (idle) until the next measurement."""
        self._send(_CMD_HEATER_OFF, 1)
        self._heater_on = False

    def measure_raw(self, rh_cpct=NO_RH, t_cdeg=NO_T, settle=False):
        """Raw VOC signal (ticks) for air of rh_cpct (0.01 %RH) and t_cdeg (0.01 degC).

        Raises OSError on bus faults/timeouts, CRCError, ValueError if the raw value is invalid."""
        if rh_cpct < 0:
            rh_cpct = 0
        elif rh_cpct > 10000:
            rh_cpct = 10000
        if t_cdeg < -4500:
            t_cdeg = -4500
        elif t_cdeg > 13000:
            t_cdeg = 13000
        b = self._cmd8
        sensirion.put_word(b, 2, (rh_cpct * 65535 + 5000) // 10000)
        sensirion.put_word(b, 5, ((t_cdeg + 4500) * 65535 + 8750) // 17500)
        if settle and not self._heater_on:
            self._measure_once()  # switches the hotplate on; its value is not settled
            time.sleep_ms(_HEAT_UP_MS)
        self._measure_once()
        s = sensirion.word(self._rx3, 0)
        if s < _SRAW_MIN or s > _SRAW_MAX:
            raise ValueError("SGP40: raw signal %d out of range" % s)
        self.sraw = s
        return s

    def _measure_once(self):
        self._i2c.writeto(self.address, self._cmd8)
        self._heater_on = True
        time.sleep_ms(_MEASURE_MS)
        self._read(self._rx3, 1)
