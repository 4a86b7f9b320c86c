"""Byte-level model of the Sensirion SHT4x (SHT40/41/45) humidity and temperature sensor, I2C 0x44.

Reproduces (datasheet SHT4x, version 6.5, sections 4.4-4.6):
- single-byte commands: 0xFD/0xF6/0xE0 measure T & RH at high/medium/low repeatability
  (typical 6.9/3.7/1.3 ms, max 8.3/4.5/1.6 ms; the model takes the typical time), 0x89 serial
  number (two words), 0x94 soft reset (1 ms), heater commands 0x39/0x32 (200 mW, 1 s/0.1 s),
  0x2F/0x24 (110 mW), 0x1E/0x15 (20 mW), each ending in a high-repeatability measurement;
- the chip NACKs its address while measuring and when no result is pending (read once);
- response: 6 bytes, T word + CRC, RH word + CRC;
  T = -45 + 175 * S_T / 65535 degC, RH = -6 + 125 * S_RH / 65535 %RH (not cropped by the chip);
- the heater raises the sensed temperature (model: about 6 degC per 200 mW after 1 s, scaled
  linearly with power and (1 - exp(-t/0.3 s)), a plausible figure; not a datasheet value) and
  lowers the sensed RH accordingly (constant absolute humidity);
- power-up time 1 ms.
"""

import math

from sim.sensirion import SensirionChip

_MEASURE_US = {0xFD: 6900, 0xF6: 3700, 0xE0: 1300}
# heater command -> (power mW, duration us); datasheet 4.6 (typ. durations)
_HEATER = {
    0x39: (200, 1000000),
    0x32: (200, 100000),
    0x2F: (110, 1000000),
    0x24: (110, 100000),
    0x1E: (20, 1000000),
    0x15: (20, 100000),
}


def _sat_vp(t_c):
    # Magnus formula, hPa
    return 6.112 * math.exp(17.62 * t_c / (243.12 + t_c))


def ticks_t(t_c):
    v = int(round((t_c + 45.0) * 65535 / 175.0))
    return 0 if v < 0 else (65535 if v > 65535 else v)


def ticks_rh(rh):
    v = int(round((rh + 6.0) * 65535 / 125.0))
    return 0 if v < 0 else (65535 if v > 65535 else v)


class SHT4xModel(SensirionChip):
    CMD_LEN = 1

    def __init__(self, env, address=0x44, serial=(0x1A2B, 0x3C4D)):
        super().__init__(env, address, serial=serial, powerup_us=1000)
        self.heater_on_us = 0  # total heater time (duty-cycle bookkeeping)

    def measure_words(self, now_us, heat_mw=0, heat_us=0):
        c = self.conditions(now_us)
        t = c.temperature_c
        rh = c.humidity_pct
        if heat_mw:
            dt = 6.0 * heat_mw / 200.0 * (1.0 - math.exp(-heat_us / 300000.0))
            rh = rh * _sat_vp(t) / _sat_vp(t + dt)
            t = t + dt
        return [ticks_t(t), ticks_rh(rh)]

    def command(self, cmd, args, now_us):
        if cmd in _MEASURE_US:
            return _MEASURE_US[cmd], self.measure_words(now_us + _MEASURE_US[cmd])
        if cmd == 0x89:
            return 10, list(self.serial)
        if cmd == 0x94:
            self._power_on(now_us)
            return 1000, None
        if cmd in _HEATER:
            mw, us = _HEATER[cmd]
            self.heater_on_us += us
            return us + _MEASURE_US[0xFD], self.measure_words(now_us + us, mw, us)
        self.nack()  # unknown command
