"""Register-level model of the Bosch BME280 (I2C), after datasheet BST-BME280-DS002.

Reproduces: chip id 0x60 at 0xD0; soft reset by writing 0xB6 to 0xE0; calibration NVM at
0x88..0xA1 and 0xE1..0xE7 (im_update bit during the 2 ms start-up copy); ctrl_hum taking effect
only at the next ctrl_meas write; forced mode (one conversion, `measuring` status bit for the
datasheet's typical conversion time, then back to sleep); normal mode (a conversion every
t_measure + t_standby); skipped measurements reading 0x80000 / 0x8000; data registers shadowed
(a read during conversion returns the previous result); auto-incrementing burst reads; I2C
multi-byte writes as register/value pairs.

Raw ADC values are produced by inverting the datasheet's floating-point compensation (section
8.1) by bisection, so a correct driver recovers the environment to within the chip's resolution.
Then, as the datasheet describes (sections 3.4.2-3.4.4, 3.5): with the IIR filter off, pressure
and temperature have 16 + (osrs - 1) bits (x1: 16 bits, x16: 20; the unused low bits read 0);
with the filter on (config filter 1..4: coefficient c = 2, 4, 8, 16) each conversion updates
    filtered = (filtered_old * (c - 1) + adc) / c
and the 20-bit filtered value is reported. Humidity is always 16 bits and never filtered. The
filter starts from the first conversion after power-on or after a write to config (the
datasheet does not say what the chip starts from; this is our assumption).
"""

from sim.chip import Chip

# Calibration of one real BME280 (values as dumped from a breakout board); any set works.
DEFAULT_CALIB = {
    "T1": 28485,
    "T2": 26735,
    "T3": 50,
    "P1": 36738,
    "P2": -10635,
    "P3": 3024,
    "P4": 7014,
    "P5": -4,
    "P6": -7,
    "P7": 9900,
    "P8": -10230,
    "P9": 4285,
    "H1": 75,
    "H2": 362,
    "H3": 0,
    "H4": 324,
    "H5": 0,
    "H6": 30,
}

_OS = (0, 1, 2, 4, 8, 16, 16, 16)
_IIR = (1, 2, 4, 8, 16, 16, 16, 16)  # config filter[2:0] -> coefficient (1: off)
_TSB_MS = (0.5, 62.5, 125, 250, 500, 1000, 10, 20)


def _resolution(adc, osrs):
    """A 20-bit code as the chip reports it without the IIR filter: 16 + (osrs - 1) bits."""
    bits = 16 + osrs - 1
    if bits >= 20 or osrs == 0:
        return adc
    return adc & ~((1 << (20 - bits)) - 1)


def _u16(v):
    return (v & 0xFF, (v >> 8) & 0xFF)


class BME280Model(Chip):
    def __init__(self, env, address=0x76, calib=None, startup_us=2000):
        super().__init__(env)
        self.address = address
        self.cal = dict(DEFAULT_CALIB)
        if calib:
            self.cal.update(calib)
        self.startup_us = startup_us
        self.regs = bytearray(256)
        self.conversions = 0
        self._power_on(0)

    # --- calibration image ---
    def _write_calib(self):
        c = self.cal
        r = self.regs
        vals = [
            c["T1"],
            c["T2"],
            c["T3"],
            c["P1"],
            c["P2"],
            c["P3"],
            c["P4"],
            c["P5"],
            c["P6"],
            c["P7"],
            c["P8"],
            c["P9"],
        ]
        for i, v in enumerate(vals):
            lo, hi = _u16(v)
            r[0x88 + 2 * i] = lo
            r[0x89 + 2 * i] = hi
        r[0xA1] = c["H1"] & 0xFF
        lo, hi = _u16(c["H2"])
        r[0xE1] = lo
        r[0xE2] = hi
        r[0xE3] = c["H3"] & 0xFF
        h4 = c["H4"] & 0xFFF
        h5 = c["H5"] & 0xFFF
        r[0xE4] = (h4 >> 4) & 0xFF
        r[0xE5] = (h4 & 0x0F) | ((h5 & 0x0F) << 4)
        r[0xE6] = (h5 >> 4) & 0xFF
        r[0xE7] = c["H6"] & 0xFF

    def _power_on(self, now_us):
        r = self.regs
        for i in range(256):
            r[i] = 0
        r[0xD0] = 0x60
        self._write_calib()
        # reset values of the data registers: "no measurement yet"
        r[0xF7] = 0x80
        r[0xFA] = 0x80
        r[0xFD] = 0x80
        self.ptr = 0
        self._filtered = None  # (adc_t, adc_p) of the IIR filter, floats; None: starts afresh
        self.osrs_h_pending = 0
        self.osrs_h = 0
        self.busy_until = 0
        self.nvm_until = now_us + self.startup_us
        self.next_normal = None

    def power_cycle(self, now_us):
        """Supply lost and back: registers to their reset values, NVM copied again."""
        self._power_on(now_us)

    # --- inverse compensation (datasheet 8.1, double precision) ---
    def _t_fine(self, adc_t):
        c = self.cal
        v1 = (adc_t / 16384.0 - c["T1"] / 1024.0) * c["T2"]
        x = adc_t / 131072.0 - c["T1"] / 8192.0
        return v1 + x * x * c["T3"]

    def _pressure(self, adc_p, t_fine):
        c = self.cal
        v1 = t_fine / 2.0 - 64000.0
        v2 = v1 * v1 * c["P6"] / 32768.0
        v2 = v2 + v1 * c["P5"] * 2.0
        v2 = v2 / 4.0 + c["P4"] * 65536.0
        v1 = (c["P3"] * v1 * v1 / 524288.0 + c["P2"] * v1) / 524288.0
        v1 = (1.0 + v1 / 32768.0) * c["P1"]
        if v1 == 0:
            return 0.0
        p = 1048576.0 - adc_p
        p = (p - v2 / 4096.0) * 6250.0 / v1
        v1 = c["P9"] * p * p / 2147483648.0
        v2 = p * c["P8"] / 32768.0
        return p + (v1 + v2 + c["P7"]) / 16.0

    def _humidity(self, adc_h, t_fine):
        c = self.cal
        h = t_fine - 76800.0
        h = (adc_h - (c["H4"] * 64.0 + c["H5"] / 16384.0 * h)) * (
            c["H2"] / 65536.0 * (1.0 + c["H6"] / 67108864.0 * h * (1.0 + c["H3"] / 67108864.0 * h))
        )
        return h * (1.0 - c["H1"] * h / 524288.0)

    @staticmethod
    def _bisect(fn, target, lo, hi, increasing):
        # smallest/largest integer code whose compensated value is closest to target
        while hi - lo > 1:
            mid = (lo + hi) // 2
            v = fn(mid)
            if (v < target) == increasing:
                lo = mid
            else:
                hi = mid
        return lo if abs(fn(lo) - target) <= abs(fn(hi) - target) else hi

    def raw_for(self, temp_c, rh_pct, p_hpa):
        """ADC codes (adc_T, adc_P, adc_H) that compensate to the given conditions."""
        adc_t = self._bisect(lambda a: self._t_fine(a) / 5120.0, temp_c, 0, (1 << 20) - 1, True)
        tf = self._t_fine(adc_t)
        adc_p = self._bisect(
            lambda a: self._pressure(a, tf), p_hpa * 100.0, 0, (1 << 20) - 1, False
        )
        rh = 0.0 if rh_pct < 0 else (100.0 if rh_pct > 100 else rh_pct)
        adc_h = self._bisect(lambda a: self._humidity(a, tf), rh, 0, (1 << 16) - 1, True)
        return adc_t, adc_p, adc_h

    # --- conversion ---
    def _t_measure_us(self, osrs_t, osrs_p, osrs_h):
        # typical conversion time, datasheet 9.1
        us = 1000 + 2000 * _OS[osrs_t]
        if osrs_p:
            us += 2000 * _OS[osrs_p] + 500
        if osrs_h:
            us += 2000 * _OS[osrs_h] + 500
        return us

    def _start(self, now_us):
        meas = self.regs[0xF4]
        osrs_t, osrs_p = meas >> 5, (meas >> 2) & 7
        self.osrs_h = self.osrs_h_pending
        self.busy_until = now_us + self._t_measure_us(osrs_t, osrs_p, self.osrs_h)
        self._conv = (osrs_t, osrs_p, self.osrs_h)

    def _finish(self):
        osrs_t, osrs_p, osrs_h = self._conv
        c = self.conditions(self.busy_until)
        adc_t, adc_p, adc_h = self.raw_for(c.temperature_c, c.humidity_pct, c.pressure_hpa)
        coeff = _IIR[(self.regs[0xF5] >> 2) & 7]
        if coeff > 1:
            if self._filtered is None:
                self._filtered = (float(adc_t), float(adc_p))
            ft, fp = self._filtered
            ft = (ft * (coeff - 1) + adc_t) / coeff
            fp = (fp * (coeff - 1) + adc_p) / coeff
            self._filtered = (ft, fp)
            adc_t, adc_p = int(ft + 0.5), int(fp + 0.5)
        else:
            adc_t = _resolution(adc_t, osrs_t)
            adc_p = _resolution(adc_p, osrs_p)
        if not osrs_t:
            adc_t = 0x80000
        if not osrs_p:
            adc_p = 0x80000
        if not osrs_h:
            adc_h = 0x8000
        r = self.regs
        r[0xF7], r[0xF8], r[0xF9] = (adc_p >> 12) & 0xFF, (adc_p >> 4) & 0xFF, (adc_p & 0xF) << 4
        r[0xFA], r[0xFB], r[0xFC] = (adc_t >> 12) & 0xFF, (adc_t >> 4) & 0xFF, (adc_t & 0xF) << 4
        r[0xFD], r[0xFE] = (adc_h >> 8) & 0xFF, adc_h & 0xFF
        self.conversions += 1
        self._conv = None

    def _update(self, now_us):
        if self.busy_until and now_us >= self.busy_until:
            self._finish()
            self.busy_until = 0
            mode = self.regs[0xF4] & 3
            if mode == 3:
                tsb = _TSB_MS[self.regs[0xF5] >> 5]
                self.next_normal = now_us + int(tsb * 1000)
            else:
                self.regs[0xF4] &= 0xFC  # forced -> sleep
        if self.next_normal is not None and not self.busy_until and now_us >= self.next_normal:
            if self.regs[0xF4] & 3 == 3:
                self._start(self.next_normal)
                self.next_normal = None
                self._update(now_us)
            else:
                self.next_normal = None
        status = 0
        if self.busy_until:
            status |= 0x08
        if now_us < self.nvm_until:
            status |= 0x01
        self.regs[0xF3] = status

    # --- I2C device protocol (sim.i2c) ---
    def write(self, data, now_us):
        self._update(now_us)
        if not data:
            return
        self.ptr = data[0]
        # multi-byte writes are register/value pairs (datasheet 6.2.1)
        for i in range(0, len(data) - 1, 2):
            self._write_reg(data[i], data[i + 1], now_us)

    def _write_reg(self, reg, val, now_us):
        if reg == 0xE0:
            if val == 0xB6:
                self._power_on(now_us)
            return
        if reg == 0xF2:
            self.regs[0xF2] = val & 7
            self.osrs_h_pending = val & 7
        elif reg == 0xF4:
            self.regs[0xF4] = val
            mode = val & 3
            if mode in (1, 2):
                self._start(now_us)
            elif mode == 3:
                self._start(now_us)
        elif reg == 0xF5:
            self.regs[0xF5] = val & 0xFD
            self._filtered = None
        # other registers are read-only

    def read(self, n, now_us):
        self._update(now_us)
        out = bytearray(n)
        p = self.ptr
        for i in range(n):
            out[i] = self.regs[(p + i) & 0xFF]
        self.ptr = (p + n) & 0xFF
        return out
