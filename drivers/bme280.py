"""Bosch BME280 temperature / humidity / pressure sensor on I2C (forced mode).

Datasheet: Bosch BST-BME280-DS002. Compensation uses the datasheet's integer formulas
(section 4.2.3: 32-bit temperature and humidity, 64-bit pressure in Q24.8) so that a reading
allocates nothing on a 64-bit port and stays exact on boards without double-precision floats.

    bme = BME280(i2c, address=0x76)
    bme.measure()                 # one forced-mode conversion, integer results kept in the object
    bme.temperature_c, bme.humidity_pct, bme.pressure_hpa
"""

import time

from micropython import const

_REG_CALIB00 = const(0x88)  # 0x88..0xA1: dig_T1..dig_P9, (0xA0 reserved), dig_H1
_REG_CHIP_ID = const(0xD0)
_REG_RESET = const(0xE0)
_REG_CALIB26 = const(0xE1)  # 0xE1..0xE7: dig_H2..dig_H6
_REG_CTRL_HUM = const(0xF2)
_REG_STATUS = const(0xF3)
_REG_CTRL_MEAS = const(0xF4)
_REG_CONFIG = const(0xF5)
_REG_DATA = const(0xF7)  # press[3], temp[3], hum[2]

CHIP_ID = const(0x60)
_BMP280_ID = const(0x58)
_RESET_WORD = const(0xB6)
_STATUS_MEASURING = const(0x08)
_STATUS_IM_UPDATE = const(0x01)
_MODE_FORCED = const(0x01)
_SKIPPED_TP = const(0x80000)
_SKIPPED_H = const(0x8000)
_DEBUG = const(False)

# Oversampling register codes -> factor: 1:x1 2:x2 3:x4 4:x8 5:x16
_OS_FACTOR = (0, 1, 2, 4, 8, 16)

WARMUP_MS = const(2)  # datasheet t_startup


class BME280:
    """BME280 in forced mode. Results: `temp_cdeg` (0.01 degC), `press_q8` (Pa/256), `hum_q10` (%RH/1024)."""

    def __init__(self, i2c, address=0x76, osrs_t=1, osrs_p=1, osrs_h=1, iir=0):
        if not (1 <= osrs_t <= 5 and 1 <= osrs_p <= 5 and 1 <= osrs_h <= 5 and 0 <= iir <= 4):
            raise ValueError("BME280: oversampling codes 1..5, IIR code 0..4")
        self._i2c = i2c
        self.address = address
        self._buf1 = bytearray(1)
        self._data = bytearray(8)
        self._mv = memoryview(self._data)
        chip = self._read_u8(_REG_CHIP_ID)
        if chip != CHIP_ID:
            hint = " (a BMP280 has no humidity sensor)" if chip == _BMP280_ID else ""
            raise ValueError("BME280: chip id 0x%02x at 0x%02x, expected 0x60%s" % (chip, address, hint))
        self._wait_nvm()
        self._read_calibration()
        self._osrs_t = osrs_t
        self._osrs_p = osrs_p
        self._osrs_h = osrs_h
        self._write_u8(_REG_CONFIG, iir << 2)  # t_sb unused in forced mode
        self._write_u8(_REG_CTRL_HUM, osrs_h)  # takes effect at the next ctrl_meas write
        self._ctrl_meas = (osrs_t << 5) | (osrs_p << 2) | _MODE_FORCED
        # worst-case conversion time (datasheet 9.1), microseconds
        self.conversion_us = (
            1250
            + 2300 * _OS_FACTOR[osrs_t]
            + 2300 * _OS_FACTOR[osrs_p]
            + 575
            + 2300 * _OS_FACTOR[osrs_h]
            + 575
        )
        self.t_fine = 0
        self.temp_cdeg = 0
        self.press_q8 = 0
        self.hum_q10 = 0
        self.adc_t = 0
        self.adc_p = 0
        self.adc_h = 0

    # --- bus helpers (no allocation) ---
    def _read_u8(self, reg):
        self._i2c.readfrom_mem_into(self.address, reg, self._buf1)
        return self._buf1[0]

    def _write_u8(self, reg, value):
        self._buf1[0] = value
        self._i2c.writeto_mem(self.address, reg, self._buf1)

    def _wait_nvm(self):
        deadline = time.ticks_add(time.ticks_ms(), 50)
        while self._read_u8(_REG_STATUS) & _STATUS_IM_UPDATE:
            if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                raise OSError(110)  # ETIMEDOUT: NVM copy never finished
            time.sleep_ms(1)

    def _read_calibration(self):
        c = self._i2c.readfrom_mem(self.address, _REG_CALIB00, 26)
        h = self._i2c.readfrom_mem(self.address, _REG_CALIB26, 7)
        self.dig_T1 = c[0] | c[1] << 8
        self.dig_T2 = _s16(c[2] | c[3] << 8)
        self.dig_T3 = _s16(c[4] | c[5] << 8)
        self.dig_P1 = c[6] | c[7] << 8
        self.dig_P2 = _s16(c[8] | c[9] << 8)
        self.dig_P3 = _s16(c[10] | c[11] << 8)
        self.dig_P4 = _s16(c[12] | c[13] << 8)
        self.dig_P5 = _s16(c[14] | c[15] << 8)
        self.dig_P6 = _s16(c[16] | c[17] << 8)
        self.dig_P7 = _s16(c[18] | c[19] << 8)
        self.dig_P8 = _s16(c[20] | c[21] << 8)
        self.dig_P9 = _s16(c[22] | c[23] << 8)
        self.dig_H1 = c[25]
        self.dig_H2 = _s16(h[0] | h[1] << 8)
        self.dig_H3 = h[2]
        self.dig_H4 = _s12((h[3] << 4) | (h[4] & 0x0F))
        self.dig_H5 = _s12((h[5] << 4) | (h[4] >> 4))
        self.dig_H6 = h[6] - 256 if h[6] > 127 else h[6]
        if self.dig_T1 == 0 or self.dig_P1 == 0:
            raise ValueError("BME280: calibration data reads as zero (bus fault?)")

    def reset(self):
        """Soft reset (power-on state), then reload calibration and settings."""
        self._write_u8(_REG_RESET, _RESET_WORD)
        time.sleep_ms(WARMUP_MS)
        self.__init__(self._i2c, self.address, self._osrs_t, self._osrs_p, self._osrs_h)

    # --- measurement ---
    def measure(self):
        """Run one forced conversion and compensate it. Raises OSError on bus fault or timeout."""
        self._write_u8(_REG_CTRL_MEAS, self._ctrl_meas)
        time.sleep_us(self.conversion_us)
        deadline = time.ticks_add(time.ticks_ms(), 100)
        while self._read_u8(_REG_STATUS) & _STATUS_MEASURING:
            if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                raise OSError(110)  # ETIMEDOUT
            time.sleep_ms(1)
        self._i2c.readfrom_mem_into(self.address, _REG_DATA, self._data)
        d = self._mv
        self.adc_p = (d[0] << 12) | (d[1] << 4) | (d[2] >> 4)
        self.adc_t = (d[3] << 12) | (d[4] << 4) | (d[5] >> 4)
        self.adc_h = (d[6] << 8) | d[7]
        if self.adc_t == _SKIPPED_TP or self.adc_p == _SKIPPED_TP or self.adc_h == _SKIPPED_H:
            raise ValueError("BME280: measurement skipped (chip was reset?)")
        self.compensate(self.adc_t, self.adc_p, self.adc_h)

    def compensate(self, adc_t, adc_p, adc_h):
        """Datasheet integer compensation; sets temp_cdeg, press_q8, hum_q10."""
        T1 = self.dig_T1
        var1 = ((((adc_t >> 3) - (T1 << 1))) * self.dig_T2) >> 11
        x = (adc_t >> 4) - T1
        var2 = (((x * x) >> 12) * self.dig_T3) >> 14
        t_fine = var1 + var2
        self.t_fine = t_fine
        self.temp_cdeg = (t_fine * 5 + 128) >> 8
        self.press_q8 = self._pressure(adc_p, t_fine)
        self.hum_q10 = self._humidity(adc_h, t_fine)

    def _pressure(self, adc_p, t_fine):
        # Datasheet 4.2.3 64-bit formula, result in Pa as Q24.8. Two products of the reference code
        # exceed 62 bits; they are split exactly so no intermediate leaves the small-int range
        # of a 64-bit port (no allocation):
        #   ((2**47 + v1) * P1) >> 33 == P1 * 2**14 + ((v1 * P1) >> 33)
        #   (N * 3125) // v1        == (N // v1) * 3125 + ((N % v1) * 3125) // v1   (N, v1 > 0)
        P1 = self.dig_P1
        v1 = t_fine - 128000
        v2 = v1 * v1 * self.dig_P6
        v2 = v2 + ((v1 * self.dig_P5) << 17)
        v2 = v2 + (self.dig_P4 << 35)
        v1 = ((v1 * v1 * self.dig_P3) >> 8) + ((v1 * self.dig_P2) << 12)
        v1 = (P1 << 14) + ((v1 * P1) >> 33)
        if v1 <= 0:
            return 0  # avoid division by zero (datasheet returns 0)
        n = ((1048576 - adc_p) << 31) - v2
        if n < 0:
            return 0  # outside the chip's range; the C code's truncation would differ here
        p = (n // v1) * 3125 + ((n % v1) * 3125) // v1
        r = p >> 13
        v1 = (self.dig_P9 * r * r) >> 25
        v2 = (self.dig_P8 * p) >> 19
        return ((p + v1 + v2) >> 8) + (self.dig_P7 << 4)

    def _humidity(self, adc_h, t_fine):
        v = t_fine - 76800
        a = ((adc_h << 14) - (self.dig_H4 << 20) - (self.dig_H5 * v) + 16384) >> 15
        b = (((((v * self.dig_H6) >> 10) * (((v * self.dig_H3) >> 11) + 32768)) >> 10) + 2097152)
        v = a * ((b * self.dig_H2 + 8192) >> 14)
        w = v >> 15
        v = v - ((((w * w) >> 7) * self.dig_H1) >> 4)
        if v < 0:
            v = 0
        elif v > 419430400:
            v = 419430400
        return v >> 12

    @property
    def temperature_c(self):
        """Temperature of the last measure(), degrees Celsius (0.01 resolution)."""
        return self.temp_cdeg / 100

    @property
    def pressure_hpa(self):
        """Pressure of the last measure(), hectopascal (1/25600 resolution)."""
        return self.press_q8 / 25600

    @property
    def humidity_pct(self):
        """Relative humidity of the last measure(), percent (1/1024 resolution)."""
        return self.hum_q10 / 1024

    def read(self):
        """measure() and return (temperature_c, humidity_pct, pressure_hpa)."""
        self.measure()
        return self.temperature_c, self.humidity_pct, self.pressure_hpa


def _s16(v):
    return v - 65536 if v > 32767 else v


def _s12(v):
    return v - 4096 if v > 2047 else v
