"""Byte-level model of the Sensirion SGP40 metal-oxide VOC sensor, I2C 0x59.

Reproduces (datasheet SGP40, version 1.1, section 4):
- sgp40_measure_raw_signal 0x260F with two argument words + CRC (relative humidity ticks
  = RH * 65535 / 100, temperature ticks = (T + 45) * 65535 / 175; defaults 0x8000 / 0x6666 mean
  50 %RH / 25 degC, "no compensation"); result after 30 ms: one word SRAW + CRC;
- sgp40_execute_self_test 0x280E: 320 ms, result 0xD400 (all tests passed) or 0x4B00;
- sgp4x_turn_heater_off 0x3615 (idle mode), get_serial_number 0x3682 (three words, 1 ms);
- get_featureset 0x202F (one word, 1 ms; 0x3220 on the SGP40: product type 3 in the high byte,
  as Sensirion's and Adafruit's drivers check it before use);
- NACK while a command executes, NACK of a wrong argument CRC, power-up time 0.6 ms.

Raw signal (plausible model, not datasheet numbers): a metal-oxide layer's resistance falls with
the log of the reducing-gas concentration and with water vapour; SRAW is proportional to the
log of that resistance. The model uses
    SRAW = 30000 - 400 ln(1 + voc_ppb / 50) - 60 (AH_actual - AH_told)
with AH the absolute humidity in g/m3 of the actual air and of the RH/T the host sent as
compensation: with correct compensation the raw signal does not depend on humidity.
Cold hotplate (Sensirion's SGP40 low-power procedure, the same document the driver follows: a
first measure_raw switches the heater on, the measurement requested 170 ms after it, i.e. 200 ms
after the heater came on, is the one to use): a measurement that starts less than
`HEAT_UP_US` = 200 ms after the hotplate was switched on from idle (power-up, heater off, self
test) reads high, by 1500 ticks at once falling linearly to 0 at 200 ms (the size and shape of
the error are our assumption; the settling time is Sensirion's).
Model-side faults besides sim.chip's: `inject_value("force", "sraw", value=N)` forces the raw
word (e.g. 0: a broken hotplate).
"""

import math

from sim.sensirion import SensirionChip

_MEASURE_US = 30000
_SELF_TEST_US = 320000
HEAT_UP_US = 200000
_COLD_OFFSET = 1500


def abs_humidity(rh, t_c):
    """Absolute humidity, g/m3 (Magnus formula)."""
    e = rh / 100.0 * 6.112 * math.exp(17.62 * t_c / (243.12 + t_c))
    return 216.7 * e / (273.15 + t_c)


def sraw_for(voc_ppb, rh, t_c, rh_told=50.0, t_told=25.0):
    v = 30000.0 - 400.0 * math.log(1.0 + max(0.0, voc_ppb) / 50.0)
    v -= 60.0 * (abs_humidity(rh, t_c) - abs_humidity(rh_told, t_told))
    return max(0, min(65535, int(round(v))))


class SGP40Model(SensirionChip):
    FORCE = ("sraw", 0)  # a broken hotplate: the fault plan's out-of-range fault
    OFFSET = ("voc_ppb", 500.0)

    def __init__(self, env, address=0x59, serial=(0x0000, 0x0334, 0x9A1F), self_test_ok=True):
        self.self_test_ok = self_test_ok
        self.forced_sraw = None
        super().__init__(env, address, serial=serial, powerup_us=600)

    def reset_state(self):
        self.heater_on_since = None  # us the hotplate was switched on; None: idle (cold)
        self.last_told = None

    def inject_value(self, kind, quantity=None, **params):
        if kind == "force" and quantity == "sraw":
            self.forced_sraw = params["value"]
        else:
            super().inject_value(kind, quantity, **params)

    def clear_values(self):
        super().clear_values()
        self.forced_sraw = None

    def command(self, cmd, args, now_us):
        if cmd == 0x260F:
            if len(args) != 2:
                self.nack()
            rh_told = args[0] * 100.0 / 65535
            t_told = args[1] * 175.0 / 65535 - 45.0
            self.last_told = (rh_told, t_told)
            c = self.conditions(now_us + _MEASURE_US)
            sraw = sraw_for(c.voc_ppb, c.humidity_pct, c.temperature_c, rh_told, t_told)
            if self.heater_on_since is None:
                self.heater_on_since = now_us  # idle: this command switches the hotplate on
            hot_us = now_us - self.heater_on_since
            if hot_us < HEAT_UP_US:
                sraw = min(65535, sraw + _COLD_OFFSET * (HEAT_UP_US - hot_us) // HEAT_UP_US)
            if self.forced_sraw is not None:
                sraw = self.forced_sraw
            return _MEASURE_US, [sraw]
        if cmd == 0x280E:
            self.heater_on_since = None  # the chip returns to idle after the self test
            return _SELF_TEST_US, [0xD400 if self.self_test_ok else 0x4B00]
        if cmd == 0x3615:
            self.heater_on_since = None
            return 1000, None
        if cmd == 0x3682:
            return 1000, list(self.serial)
        if cmd == 0x202F:
            return 1000, [0x3220]
        self.nack()
