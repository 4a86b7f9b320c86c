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
# One burst from ctrl_hum to the end of the data: ctrl_hum, status, ctrl_meas, config, (0xF6),
# then the data registers 0xF7..0xFE press[3], temp[3], hum[2]. The settings read back with the
# data tell a reset chip apart.
_READ_FROM = const(0xF2)
_READ_LEN = const(13)

_CHIP_ID = const(0x60)
_BMP280_ID = const(0x58)
_RESET_WORD = const(0xB6)
_STATUS_MEASURING = const(0x08)
_STATUS_IM_UPDATE = const(0x01)
_MODE_FORCED = const(0x01)

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
        self._data = bytearray(_READ_LEN)
        self._mv = memoryview(self._data)
        chip = self._read_u8(_REG_CHIP_ID)
        if chip != _CHIP_ID:
            hint = " (a BMP280 has no humidity sensor)" if chip == _BMP280_ID else ""
            raise ValueError(
                "BME280: chip id 0x%02x at 0x%02x, expected 0x60%s" % (chip, address, hint)
            )
        self._wait_nvm()
        self._read_calibration()
        self._osrs_t = osrs_t
        self._osrs_p = osrs_p
        self._osrs_h = osrs_h
        self._iir = iir
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
        """Soft reset (power-on state), then reload calibration and settings (IIR filter too)."""
        self._write_u8(_REG_RESET, _RESET_WORD)
        time.sleep_ms(WARMUP_MS)
        self.__init__(self._i2c, self.address, self._osrs_t, self._osrs_p, self._osrs_h, self._iir)

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
        self._i2c.readfrom_mem_into(self.address, _READ_FROM, self._data)
        d = self._mv
        # A channel whose oversampling is off reads the "skipped" marker (0x80000, 0x8000), which
        # is also a valid mid-range reading: what tells a skipped channel is the chip's own
        # settings. Ours have every channel on, so settings that differ mean the chip was reset
        # (or browned out) since they were written and this conversion is not what was asked.
        if (
            d[0] & 7 != self._osrs_h
            or d[2] >> 2 != self._ctrl_meas >> 2
            or (d[3] >> 2) & 7 != self._iir
        ):
            raise ValueError("BME280: settings lost, measurement skipped (chip was reset?)")
        self.adc_p = (d[5] << 12) | (d[6] << 4) | (d[7] >> 4)
        self.adc_t = (d[8] << 12) | (d[9] << 4) | (d[10] >> 4)
        self.adc_h = (d[11] << 8) | d[12]
        self.compensate(self.adc_t, self.adc_p, self.adc_h)

    def compensate(self, adc_t, adc_p, adc_h):
        """Datasheet integer compensation; sets temp_cdeg, press_q8, hum_q10.

        Bit-exact with the datasheet's formulas (section 4.2.3), computed so that no
        intermediate leaves the 31-bit small-int range of a board for any 16-bit calibration
        and -77..127 degC (an integer above 2**30 is a heap object there): products are split
        where they would grow past 2**30, and the 64-bit pressure formula runs on 10-bit limbs."""
        T1 = self.dig_T1
        # var1 = (((adc_t >> 3) - 2 T1) T2) >> 11, with d = dh 2**11 + dl split to keep d T2 small
        d = (adc_t >> 3) - (T1 << 1)
        var1 = (d >> 11) * self.dig_T2 + (((d & 0x7FF) * self.dig_T2) >> 11)
        # var2 = ((x*x >> 12) T3) >> 14
        sq = _sq_shr(x=(adc_t >> 4) - T1, s=12)
        var2 = (sq >> 14) * self.dig_T3 + (((sq & 0x3FFF) * self.dig_T3) >> 14)
        t_fine = var1 + var2
        self.t_fine = t_fine
        self.temp_cdeg = (t_fine * 5 + 128) >> 8
        self.press_q8 = self._pressure(adc_p, t_fine)
        self.hum_q10 = self._humidity(adc_h, t_fine)

    def _pressure(self, adc_p, t_fine):
        # Datasheet 4.2.3 64-bit formula, result in Pa as Q24.8, on the limb registers _W1/_W2:
        #   D = P1 2**14 + ((B P1) >> 33),  B = ((a a P3) >> 8) + ((a P2) << 12),  a = t_fine - 128000
        #   U = (N << 31) - (a a P6 + ((a P5) << 17) + (P4 << 35)),  N = 2**20 - adc_p
        #   p = (U 3125) // D, then the P7..P9 correction
        # ((2**47 + B) P1) >> 33 == P1 2**14 + ((B P1) >> 33) exactly; U 3125 is never formed:
        # p = (U // D) 3125 + ((U % D) 3125) // D.
        a = t_fine - 128000
        P1 = self.dig_P1
        w1 = _W1
        w2 = _W2
        _w_set(w1, a)
        _w_mul(w1, a)
        _w_mul(w1, self.dig_P3)
        _w_shr(w1, 8)
        _w_set(w2, a)
        _w_mul(w2, self.dig_P2)
        _w_mul(w2, 4096)
        _w_add(w1, w2)  # B
        _w_mul(w1, P1)
        _w_shr(w1, 33)
        d = (P1 << 14) + _w_small(w1)
        if d <= 0:
            return 0  # avoid division by zero (datasheet returns 0)
        _w_set(w1, a)
        _w_mul(w1, a)
        _w_mul(w1, self.dig_P6)
        _w_set(w2, a)
        _w_mul(w2, self.dig_P5)
        _w_mul(w2, 1 << 17)
        _w_add(w1, w2)
        _w_set(w2, self.dig_P4)
        _w_mul(w2, 1 << 18)
        _w_mul(w2, 1 << 17)
        _w_add(w1, w2)
        _w_mul(w1, -1)  # -var2
        _w_set(w2, 1048576 - adc_p)
        _w_mul(w2, 1 << 16)
        _w_mul(w2, 1 << 15)
        _w_add(w1, w2)  # U
        if w1[5] < 0:
            return 0  # outside the chip's range; the C code's truncation would differ here
        r = _w_divmod(w1, d)
        _w_mul(w1, 3125)
        _w_add_small(w1, _mul_div(r, 3125, d))  # p
        _w_copy(w2, w1)
        _w_shr(w2, 13)
        x = _w_small(w2)  # p >> 13
        _w_set(w2, self.dig_P9)
        _w_mul(w2, x)
        _w_mul(w2, x)
        _w_shr(w2, 25)
        v1 = _w_small(w2)
        _w_copy(w2, w1)
        _w_mul(w2, self.dig_P8)
        _w_shr(w2, 19)
        _w_add_small(w1, v1 + _w_small(w2))
        _w_shr(w1, 8)
        return _w_small(w1) + (self.dig_P7 << 4)

    def _humidity(self, adc_h, t_fine):
        # Datasheet 4.2.3 32-bit formula with the products that outgrow 2**30 split.
        v = t_fine - 76800
        H5 = self.dig_H5
        # a = (adc_h 2**14 - H4 2**20 - H5 v + 2**14) >> 15, with H5 v = H5 (vh 2**14 + vl)
        a = (adc_h + 1 - (self.dig_H4 << 6) - H5 * (v >> 14) + ((-H5 * (v & 0x3FFF)) >> 14)) >> 1
        m1 = (v * self.dig_H6) >> 10
        m2 = ((v * self.dig_H3) >> 11) + 32768
        b = m1 * (m2 >> 10) + ((m1 * (m2 & 0x3FF)) >> 10) + 2097152
        H2 = self.dig_H2
        c = (b >> 14) * H2 + (((b & 0x3FFF) * H2 + 8192) >> 14)
        # v = a c as w 2**15 + lo; the datasheet's v >> 15 is w
        w = a * (c >> 15) + ((a * (c & 0x7FFF)) >> 15)
        lo = (a * (c & 0x7FFF)) & 0x7FFF
        sq = _sq_shr(x=w, s=7)
        H1 = self.dig_H1
        lo -= (sq >> 4) * H1 + (((sq & 0xF) * H1) >> 4)
        w += lo >> 15  # v - correction = w 2**15 + (lo & 0x7FFF)
        if w < 0:
            return 0
        if w >= 12800:  # 419430400 = 12800 2**15: the datasheet's upper clamp
            return 102400
        return (w << 3) + ((lo & 0x7FFF) >> 12)

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


def _sq_shr(x, s):
    """(x * x) >> s for |x| < 2**16 and s <= 14, without forming x * x (up to 2**32)."""
    if x < 0:
        x = -x
    m = (1 << s) - 1
    h = x >> s
    lo = x & m
    # x*x = h*h 2**(2s) + 2 h lo 2**s + lo*lo
    return ((h * h) << s) + 2 * h * lo + ((lo * lo) >> s)


def _mul_div(r, c, d):
    """(r * c) // d for 0 <= r < d and 0 < c < 2**12, by doubling, every value below d."""
    q = 0
    acc = 0  # q * d + acc == (bits of c so far) * r, 0 <= acc < d
    for b in range(11, -1, -1):
        e = d - acc
        if acc >= e:
            acc -= e
            q = q + q + 1
        else:
            acc += acc
            q += q
        if (c >> b) & 1:
            e = d - r
            if acc >= e:
                acc -= e
                q += 1
            else:
                acc += r
    return q


# Wide integers for the 64-bit pressure formula: value = sum(w[i] 2**(10 i)), w[0..4] in
# 0..1023, w[5] signed. A 10-bit limb times a multiplier below 2**20 stays below 2**30.
_W1 = [0] * 6
_W2 = [0] * 6


def _w_set(w, x):
    for i in range(5):
        w[i] = x & 0x3FF
        x >>= 10
    w[5] = x


def _w_copy(w, v):
    for i in range(6):
        w[i] = v[i]


def _w_mul(w, c):
    # |c| <= 2**20: limb * c + carry stays below 2**30
    t = 0
    for i in range(5):
        t += w[i] * c
        w[i] = t & 0x3FF
        t >>= 10
    w[5] = w[5] * c + t


def _w_add(w, v):
    t = 0
    for i in range(5):
        t += w[i] + v[i]
        w[i] = t & 0x3FF
        t >>= 10
    w[5] += v[5] + t


def _w_add_small(w, x):
    t = x
    for i in range(5):
        t += w[i]
        w[i] = t & 0x3FF
        t >>= 10
    w[5] += t


def _w_shr(w, s):
    # floor(value / 2**s); limb i takes bits 10 i + s .. 10 i + s + 9 (read before written)
    for i in range(5):
        b = 10 * i + s
        k = b // 10
        r = b - 10 * k
        if k >= 5:
            w[i] = (w[5] >> (b - 50)) & 0x3FF
        else:
            w[i] = ((w[k] >> r) | ((w[k + 1] & ((1 << r) - 1)) << (10 - r))) & 0x3FF
    w[5] >>= s


def _w_small(w):
    x = w[5]
    for i in range(4, -1, -1):
        x = (x << 10) | w[i]
    return x


def _w_divmod(w, d):
    """w //= d for w >= 0 and 0 < d; returns w % d. Bit by bit, every value below d."""
    r = w[5] % d
    w[5] //= d
    for i in range(4, -1, -1):
        limb = w[i]
        q = 0
        for b in range(9, -1, -1):
            e = d - r - ((limb >> b) & 1)  # r + r + bit >= d  <=>  r >= e
            if r >= e:
                r -= e
                q = q + q + 1
            else:
                r = r + r + ((limb >> b) & 1)
                q += q
        w[i] = q
    return r
