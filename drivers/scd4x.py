"""Sensirion SCD4x (SCD40/SCD41) photoacoustic NDIR CO2 sensor on I2C (address 0x62).

Datasheet: Sensirion SCD4x v1.4. Results are integers kept in the object (the read path does not
allocate): `co2_ppm` (ppm), `temp_cdeg` (0.01 degC), `rh_cpct` (0.01 %RH).

    scd = SCD4x(i2c)                  # stops a running measurement, checks the serial number
    scd.start()                       # periodic mode: a new value every 5 s (first after 5 s)
    scd.measure()                     # waits (with a deadline) for data-ready, then reads
    scd.set_ambient_pressure(1002)    # hPa, also during periodic measurement (better CO2)

Settings that the chip accepts only when idle (altitude, temperature offset, ASC) stop and restart
periodic measurement around the write. SCD41 also has single-shot mode (`measure_single_shot`).
"""

import time

from micropython import const

import sensirion

_CMD_START_PERIODIC = const(0x21B1)
_CMD_START_LOW_POWER = const(0x21AC)
_CMD_READ_MEASUREMENT = const(0xEC05)
_CMD_STOP_PERIODIC = const(0x3F86)
_CMD_DATA_READY = const(0xE4B8)
_CMD_SET_TEMP_OFFSET = const(0x241D)
_CMD_GET_TEMP_OFFSET = const(0x2318)
_CMD_SET_ALTITUDE = const(0x2427)
_CMD_SET_AMBIENT_PRESSURE = const(0xE000)
_CMD_SET_ASC = const(0x2416)
_CMD_GET_ASC = const(0x2313)
_CMD_SERIAL = const(0x3682)
_CMD_SELF_TEST = const(0x3639)
_CMD_FORCED_RECAL = const(0x362F)
_CMD_SINGLE_SHOT = const(0x219D)
_CMD_SINGLE_SHOT_RHT = const(0x2196)
_CMD_POWER_DOWN = const(0x36E0)
_CMD_WAKE_UP = const(0x36F6)
_EIO = const(5)
_ETIMEDOUT = const(110)

_PERIOD_MS = const(5000)  # periodic mode: signal update interval
_LOW_POWER_PERIOD_MS = const(30000)
_POWERUP_MS = const(1000)  # datasheet: time after power-up until the sensor answers
WARMUP_MS = const(5000)  # the first reading arrives one period after start (datasheet 3.5.1)


class SCD4x:
    def __init__(self, i2c, address=0x62, start=True):
        self._i2c = i2c
        self.address = address
        self._cmd = bytearray(2)
        self._cmd_arg = bytearray(5)
        self._rx3 = bytearray(3)
        self._rx9 = bytearray(9)
        self.co2_ppm = 0
        self.temp_cdeg = 0
        self.rh_cpct = 0
        self.periodic = False
        self.count = 0  # readings since the last start()
        self._started_ms = time.ticks_ms()
        self._period_ms = _PERIOD_MS
        self.ambient_hpa = 0
        self.asc = None  # automatic self-calibration as last set (None: the chip's own)
        # a warm reboot of the MCU may leave the sensor measuring: stop first (500 ms); right
        # after power-up (max 1000 ms) the chip does not acknowledge its address yet
        deadline = time.ticks_add(time.ticks_ms(), _POWERUP_MS)
        while True:
            try:
                self._send(_CMD_STOP_PERIODIC, 500)
                break
            except OSError as exc:
                if not sensirion.is_nack(exc) or time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                    raise
                time.sleep_ms(50)
        self.serial = self._read_serial()
        if start:
            self.start()

    # --- transport ---
    def _send(self, cmd, wait_ms=1):
        self._cmd[0] = cmd >> 8
        self._cmd[1] = cmd & 0xFF
        self._i2c.writeto(self.address, self._cmd)
        time.sleep_ms(wait_ms)

    def _send_arg(self, cmd, value, wait_ms=1):
        b = self._cmd_arg
        b[0] = cmd >> 8
        b[1] = cmd & 0xFF
        sensirion.put_word(b, 2, value)
        self._i2c.writeto(self.address, b)
        time.sleep_ms(wait_ms)

    def _read(self, buf, nwords, grace_ms=20):
        sensirion.read_polled(self._i2c, self.address, buf, nwords, grace_ms)

    def _query(self, cmd, wait_ms=1):
        self._send(cmd, wait_ms)
        self._read(self._rx3, 1)
        return sensirion.word(self._rx3, 0)

    def _read_serial(self):
        self._send(_CMD_SERIAL)
        buf = bytearray(9)
        self._read(buf, 3)
        s = (sensirion.word(buf, 0) << 32) | (sensirion.word(buf, 1) << 16) | sensirion.word(buf, 2)
        if s == 0 or s == 0xFFFFFFFFFFFF:
            raise ValueError("SCD4x: implausible serial number")
        return s

    # --- modes ---
    def start(self, low_power=False):
        """Start periodic measurement (every 5 s, or every 30 s in low-power mode)."""
        self._send(_CMD_START_LOW_POWER if low_power else _CMD_START_PERIODIC)
        self._period_ms = _LOW_POWER_PERIOD_MS if low_power else _PERIOD_MS
        self.periodic = True
        self.count = 0
        self._started_ms = time.ticks_ms()

    def stop(self):
        """Stop periodic measurement (the chip needs 500 ms before it accepts commands)."""
        self._send(_CMD_STOP_PERIODIC, 500)
        self.periodic = False

    def _idle(self, fn, *args):
        was = self.periodic
        if was:
            self.stop()
        try:
            return fn(*args)
        finally:
            if was:
                self.start(self._period_ms == _LOW_POWER_PERIOD_MS)

    def power_down(self):
        """SCD41: sleep (idle mode only)."""
        if self.periodic:
            self.stop()
        self._send(_CMD_POWER_DOWN)

    def wake_up(self):
        """SCD41: wake from power_down. The chip does not acknowledge this command (datasheet)."""
        try:
            self._send(_CMD_WAKE_UP, 30)
        except OSError:
            time.sleep_ms(30)
        self._read_serial()  # answers again: awake

    # --- settings ---
    def set_ambient_pressure(self, hpa):
        """Ambient pressure for CO2 compensation, hPa (700..1200); allowed while measuring."""
        hpa = int(hpa + 0.5)
        if not 700 <= hpa <= 1200:
            raise ValueError("SCD4x: ambient pressure %d hPa outside 700..1200" % hpa)
        self._send_arg(_CMD_SET_AMBIENT_PRESSURE, hpa)
        self.ambient_hpa = hpa

    def set_altitude(self, metres):
        """Sensor altitude for CO2 compensation when no ambient pressure is given (0..3000 m)."""
        if not 0 <= metres <= 3000:
            raise ValueError("SCD4x: altitude %r m outside 0..3000" % metres)
        self._idle(self._send_arg, _CMD_SET_ALTITUDE, int(metres))

    def set_temperature_offset(self, offset_c):
        """Temperature offset of the chip's own heating, degC (0..20; default 4)."""
        if not 0 <= offset_c <= 20:
            raise ValueError("SCD4x: temperature offset %r outside 0..20 degC" % offset_c)
        self._idle(self._send_arg, _CMD_SET_TEMP_OFFSET, int(offset_c * 65535 / 175 + 0.5))

    def temperature_offset_c(self):
        return self._idle(self._query, _CMD_GET_TEMP_OFFSET) * 175 / 65535

    def set_asc(self, enabled):
        """Automatic self-calibration (assumes fresh air, ~400 ppm, at least once a week)."""
        self._idle(self._send_arg, _CMD_SET_ASC, 1 if enabled else 0)
        self.asc = bool(enabled)

    def asc_enabled(self):
        return bool(self._idle(self._query, _CMD_GET_ASC))

    def self_test(self):
        """Run the 10 s self test; True when the chip reports no malfunction."""
        return self._idle(self._query, _CMD_SELF_TEST, 10000) == 0

    def forced_recalibration(self, reference_ppm):
        """FRC to a known reference (after >3 min of measuring); returns the correction in ppm."""

        def frc():
            self._send_arg(_CMD_FORCED_RECAL, int(reference_ppm), 400)
            self._read(self._rx3, 1)
            w = sensirion.word(self._rx3, 0)
            if w == 0xFFFF:
                raise OSError(_EIO)
            return w - 0x8000

        return self._idle(frc)

    # --- measurement ---
    def data_ready(self):
        return self._query(_CMD_DATA_READY) & 0x07FF != 0

    def read_measurement(self):
        """Read the latest measurement; sets co2_ppm, temp_cdeg, rh_cpct."""
        self._send(_CMD_READ_MEASUREMENT)
        self._read(self._rx9, 3)
        b = self._rx9
        self.co2_ppm = sensirion.word(b, 0)
        self.temp_cdeg = -4500 + (17500 * sensirion.word(b, 1) + 32767) // 65535
        self.rh_cpct = (10000 * sensirion.word(b, 2) + 32767) // 65535
        self.count += 1

    def measure(self):
        """Periodic mode: wait for the next measurement (deadline: one period + 1 s), then read
        it. Idle (not started): one single shot (SCD41)."""
        if not self.periodic:
            self.measure_single_shot()
            return
        if self.count == 0:
            # the first measurement comes one period after start: no point asking before
            wait = self._period_ms - time.ticks_diff(time.ticks_ms(), self._started_ms)
            if wait > 0:
                time.sleep_ms(wait)
        deadline = time.ticks_add(time.ticks_ms(), self._period_ms + 1000)
        while not self.data_ready():
            if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                raise OSError(_ETIMEDOUT)
            time.sleep_ms(100)
        self.read_measurement()

    def measure_single_shot(self, rht_only=False):
        """SCD41 single shot (idle mode): 5 s for CO2+T+RH, 50 ms for T+RH only (co2_ppm = 0)."""
        if self.periodic:
            raise OSError(_EIO)
        self._send(_CMD_SINGLE_SHOT_RHT if rht_only else _CMD_SINGLE_SHOT, 50 if rht_only else 5000)
        deadline = time.ticks_add(time.ticks_ms(), 1000)
        while True:
            try:
                if self.data_ready():
                    break
            except OSError as exc:
                if not sensirion.is_nack(exc):
                    raise
            if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                raise OSError(_ETIMEDOUT)
            time.sleep_ms(10)
        self.read_measurement()

    @property
    def temperature_c(self):
        """Temperature of the last reading, degC."""
        return self.temp_cdeg / 100

    @property
    def humidity_pct(self):
        """Relative humidity of the last reading, %RH."""
        return self.rh_cpct / 100
