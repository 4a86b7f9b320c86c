"""Sensirion SHT4x (SHT40/41/45) temperature and humidity sensor on I2C (address 0x44).

Datasheet: Sensirion SHT4x v6.5. Results are integers kept in the object (no float, no
allocation on the read path): `temp_cdeg` (0.01 degC) and `rh_cpct` (0.01 %RH, cropped to
0..100 % as the datasheet recommends).

    sht = SHT4x(i2c)              # checks the chip answers its serial number with valid CRCs
    sht.measure()                 # high repeatability, 8.3 ms max
    sht.temperature_c, sht.humidity_pct
    sht.heat(sht.HEATER_200MW_100MS)  # heater pulse (creep/condensation removal), then measure
"""

import time

from micropython import const

import sensirion

_CMD_MEASURE_HIGH = const(0xFD)
_CMD_MEASURE_MED = const(0xF6)
_CMD_MEASURE_LOW = const(0xE0)
_CMD_SERIAL = const(0x89)
_CMD_SOFT_RESET = const(0x94)

WARMUP_MS = const(1)  # power-up time (datasheet t_PU max 1 ms)

# repeatability code -> (command, max duration us), datasheet table 9
_MODES = ((_CMD_MEASURE_LOW, 1600), (_CMD_MEASURE_MED, 4500), (_CMD_MEASURE_HIGH, 8300))


class SHT4x:
    """SHT4x driver; `precision` 0 low, 1 medium, 2 high repeatability."""

    # heater commands with their max duration in us (datasheet table 9)
    HEATER_200MW_1S = (0x39, 1100000)
    HEATER_200MW_100MS = (0x32, 110000)
    HEATER_110MW_1S = (0x2F, 1100000)
    HEATER_110MW_100MS = (0x24, 110000)
    HEATER_20MW_1S = (0x1E, 1100000)
    HEATER_20MW_100MS = (0x15, 110000)

    def __init__(self, i2c, address=0x44, precision=2):
        if precision not in (0, 1, 2):
            raise ValueError("SHT4x: precision 0 (low), 1 (medium) or 2 (high)")
        self._i2c = i2c
        self.address = address
        self._cmd, self._max_us = _MODES[precision]
        self._tx = bytearray(1)
        self._rx = bytearray(6)
        self.temp_cdeg = 0
        self.rh_cpct = 0
        self.heat_above_cpct = None  # the station's policy: heater pulse above this RH (0.01 %)
        # right after power-up (max 1 ms) the chip does not acknowledge its address yet
        deadline = time.ticks_add(time.ticks_ms(), WARMUP_MS + 1)
        while True:
            try:
                self.serial = self.read_serial()
                break
            except OSError as exc:
                if not sensirion.is_nack(exc) or time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                    raise
                time.sleep_ms(1)

    def _command(self, cmd):
        self._tx[0] = cmd
        self._i2c.writeto(self.address, self._tx)

    def _fetch(self, wait_us, grace_ms=20):
        """Wait the command's max duration, then read 6 bytes; polls while the chip NACKs."""
        time.sleep_us(wait_us)
        sensirion.read_polled(self._i2c, self.address, self._rx, 2, grace_ms)

    def read_serial(self):
        """The chip's 32-bit serial number (identity check: two words with valid CRCs)."""
        self._command(_CMD_SERIAL)
        self._fetch(1000)
        s = (sensirion.word(self._rx, 0) << 16) | sensirion.word(self._rx, 1)
        if s == 0 or s == 0xFFFFFFFF:
            raise ValueError("SHT4x: implausible serial number 0x%08x" % s)
        return s

    def soft_reset(self):
        self._command(_CMD_SOFT_RESET)
        time.sleep_ms(1)

    def measure(self):
        """One measurement; sets temp_cdeg and rh_cpct. OSError on bus fault/timeout, CRCError."""
        self._command(self._cmd)
        self._fetch(self._max_us)
        self._convert()

    def heat(self, heater):
        """Run a heater pulse (one of the HEATER_* tuples) and take the measurement it ends with.

        The datasheet limits the heater to a 10 % duty cycle; the reading is of the heated chip."""
        cmd, max_us = heater
        self._command(cmd)
        self._fetch(max_us, grace_ms=200)
        self._convert()

    def _convert(self):
        st = sensirion.word(self._rx, 0)
        srh = sensirion.word(self._rx, 1)
        # datasheet 4.6: T = -45 + 175 S_T / (2^16 - 1); RH = -6 + 125 S_RH / (2^16 - 1), rounded
        self.temp_cdeg = -4500 + (17500 * st + 32767) // 65535
        rh = -600 + (12500 * srh + 32767) // 65535
        self.rh_cpct = 0 if rh < 0 else (10000 if rh > 10000 else rh)

    @property
    def temperature_c(self):
        """Temperature of the last measurement, degrees Celsius (0.01 resolution)."""
        return self.temp_cdeg / 100

    @property
    def humidity_pct(self):
        """Relative humidity of the last measurement, percent (0.01 resolution, 0..100)."""
        return self.rh_cpct / 100
