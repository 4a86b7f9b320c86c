"""Byte-level model of the Sensirion SCD4x (SCD40/SCD41) NDIR CO2 sensor, I2C 0x62.

Reproduces (datasheet SCD4x, version 1.4, section 3):
- 16-bit commands with word+CRC arguments and responses, execution times: start_periodic 0x21B1
  (a measurement every 5 s, first after 5 s), start_low_power_periodic 0x21AC (every 30 s),
  read_measurement 0xEC05 (1 ms; CO2 ppm, T = -45 + 175 w/65535, RH = 100 w/65535),
  stop_periodic 0x3F86 (500 ms), get_data_ready_status 0xE4B8 (1 ms; ready when the low
  11 bits are not 0), set/get_temperature_offset 0x241D/0x2318 (offset = 175 w/65535, default
  4 degC), set/get_sensor_altitude 0x2427/0x2322 (m), set/get_ambient_pressure 0xE000 (word =
  Pa/100, allowed during periodic measurement), set/get_automatic_self_calibration 0x2416/0x2313,
  get_serial_number 0x3682 (three words), perform_self_test 0x3639 (10 s, 0 = ok),
  perform_forced_recalibration 0x362F (400 ms, 0xFFFF when it fails; the answer is the
  correction in ppm + 0x8000 and later readings include it, kept over power cycles until a
  factory reset), persist_settings 0x3615
  (800 ms), perform_factory_reset 0x3632 (1200 ms), reinit 0x3646 (20 ms);
  SCD41 only: measure_single_shot 0x219D (5000 ms), measure_single_shot_rht_only 0x2196 (50 ms;
  CO2 word 0), power_down 0x36E0, wake_up 0x36F6 (not acknowledged, 30 ms);
- newer datasheet revisions (v1.5+): get_sensor_variant 0x202F (bits 15-12: 0 SCD40, 1 SCD41),
  set/get_automatic_self_calibration_target 0x243A/0x233F (ppm, default 400),
  set/get_automatic_self_calibration_initial_period 0x2445/0x2340 (hours, default 44) and
  standard_period 0x244E/0x234B (hours, default 156), all idle mode, 1 ms;
- start_periodic / start_low_power_periodic have no execution time (the datasheet lists none):
  the next command (e.g. get_data_ready_status) is accepted at once;
- in periodic mode only read_measurement, get_data_ready_status, stop_periodic and
  set/get_ambient_pressure are accepted, other commands are NACKed;
- read_measurement when no new data is available is NACKed; reading clears data-ready;
- power-up time 1000 ms; 30 ms after wake_up.

Physics (plausible, documented here, not datasheet numbers): an NDIR cell measures the CO2 number
density, so an uncompensated reading scales with actual pressure / assumed pressure; the chip
assumes the ambient pressure set with set_ambient_pressure, else the pressure of the configured
altitude (standard atmosphere). The chip's temperature sensor sits 4 degC above ambient (its own
heat), which the default temperature offset of 4 degC removes; RH is recomputed for the offset.
"""

import math

from sim.sensirion import SensirionChip

_PERIOD_US = 5000000
_LP_PERIOD_US = 30000000
_SELF_HEATING_C = 4.0

_IDLE, _PERIODIC, _SLEEP = 0, 1, 2
_PERIODIC_OK = (0xEC05, 0xE4B8, 0x3F86, 0xE000)


def _sat_vp(t_c):
    return 6.112 * math.exp(17.62 * t_c / (243.12 + t_c))


class SCD4xModel(SensirionChip):
    FORCE = ("co2_ppm", 50000.0)  # out-of-range fault used by the fault plan
    OFFSET = ("co2_ppm", 300.0)

    def __init__(
        self,
        env,
        address=0x62,
        variant="scd41",
        serial=(0xF896, 0x9F07, 0x3BB4),
        noise_ppm=0,
        seed=7,
    ):
        self.variant = variant
        self.noise_ppm = noise_ppm  # CO2 measurement noise (datasheet repeatability: 10 ppm typ.)
        self._rng = seed or 1
        self.frc_offset_ppm = 0.0  # forced recalibration: kept in the chip's EEPROM
        super().__init__(env, address, serial=serial, powerup_us=1000000)

    def reset_state(self):
        self.mode = _IDLE
        self.period_us = _PERIOD_US
        self.next_meas_us = None
        self.ready = False
        self.data = (0, 0, 0)
        self.temp_offset_word = int(round(4.0 * 65535 / 175))
        self.altitude_m = 0
        self.ambient_hpa = 0  # 0 = not set: use altitude
        self.asc = 1
        self.asc_target_ppm = 400
        self.asc_initial_h = 44
        self.asc_standard_h = 156
        self.measurements = 0
        self.single_until = None

    # --- the measurement ---
    def assumed_hpa(self):
        if self.ambient_hpa:
            return float(self.ambient_hpa)
        return 1013.25 * (1.0 - 2.25577e-5 * self.altitude_m) ** 5.25588

    def _measure(self, t_us, rht_only=False):
        co2 = self._co2(t_us)
        c = self.conditions(t_us)
        if self.noise_ppm:
            # sum of two uniforms: a triangular distribution, deterministic (xorshift32)
            co2 += self.noise_ppm * (self._rand() + self._rand() - 1.0)
        co2_w = 0 if rht_only else max(0, min(65535, int(round(co2))))
        offset = self.temp_offset_word * 175.0 / 65535
        t_chip = c.temperature_c + _SELF_HEATING_C
        t_rep = t_chip - offset
        rh_rep = c.humidity_pct * _sat_vp(c.temperature_c) / _sat_vp(t_rep)
        t_w = max(0, min(65535, int(round((t_rep + 45.0) * 65535 / 175.0))))
        rh_w = max(0, min(65535, int(round(rh_rep * 65535 / 100.0))))
        self.data = (co2_w, t_w, rh_w)
        self.ready = True
        self.measurements += 1

    def _co2(self, t_us):
        c = self.conditions(t_us)
        return c.co2_ppm * c.pressure_hpa / self.assumed_hpa() + self.frc_offset_ppm

    def _rand(self):
        x = self._rng
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self._rng = x
        return x / 4294967296.0

    def _advance(self, now_us):
        if self.mode == _PERIODIC and self.next_meas_us is not None and now_us >= self.next_meas_us:
            # each measurement overwrites the last: compute only the latest one that is due
            n = (now_us - self.next_meas_us) // self.period_us
            self._measure(self.next_meas_us + n * self.period_us)
            self.measurements += n
            self.next_meas_us += (n + 1) * self.period_us
        if self.single_until is not None and now_us >= self.single_until[0]:
            self._measure(self.single_until[0], self.single_until[1])
            self.single_until = None

    def write(self, data, now_us):
        self._advance(now_us)
        if self.mode == _SLEEP:
            if bytes(data[:2]) == b"\x36\xf6":
                self.mode = _IDLE
                self.busy_until = now_us + 30000
            self.nack()  # asleep: nothing is acknowledged (wake_up included, as documented)
        super().write(data, now_us)

    def read(self, n, now_us):
        self._advance(now_us)
        return super().read(n, now_us)

    def command(self, cmd, args, now_us):
        if self.mode == _PERIODIC and cmd not in _PERIODIC_OK:
            self.nack()
        if cmd in (0x21B1, 0x21AC):
            self.mode = _PERIODIC
            self.period_us = _PERIOD_US if cmd == 0x21B1 else _LP_PERIOD_US
            self.next_meas_us = now_us + self.period_us
            self.ready = False
            return 0, None
        if cmd == 0xEC05:
            if not self.ready:
                self.nack()
            self.ready = False
            return 1000, list(self.data)
        if cmd == 0xE4B8:
            return 1000, [0x8006 if self.ready else 0x8000]
        if cmd == 0x3F86:
            self.mode = _IDLE
            self.next_meas_us = None
            return 500000, None
        if cmd == 0xE000:
            if args:
                if not 700 <= args[0] <= 1200:
                    self.nack()
                self.ambient_hpa = args[0]
                return 1000, None
            return 1000, [self.ambient_hpa or int(round(self.assumed_hpa()))]
        if cmd == 0x241D and args:
            self.temp_offset_word = args[0]
            return 1000, None
        if cmd == 0x2318:
            return 1000, [self.temp_offset_word]
        if cmd == 0x2427 and args:
            if args[0] > 3000:
                self.nack()
            self.altitude_m = args[0]
            return 1000, None
        if cmd == 0x2322:
            return 1000, [self.altitude_m]
        if cmd == 0x2416 and args:
            self.asc = 1 if args[0] else 0
            return 1000, None
        if cmd == 0x2313:
            return 1000, [self.asc]
        if cmd == 0x3682:
            return 1000, list(self.serial)
        if cmd == 0x202F:
            return 1000, [(1 if self.variant == "scd41" else 0) << 12]
        if cmd == 0x243A and args:
            self.asc_target_ppm = args[0]
            return 1000, None
        if cmd == 0x233F:
            return 1000, [self.asc_target_ppm]
        if cmd in (0x2445, 0x244E) and args:
            if args[0] % 4:
                self.nack()  # periods are in multiples of 4 hours
            if cmd == 0x2445:
                self.asc_initial_h = args[0]
            else:
                self.asc_standard_h = args[0]
            return 1000, None
        if cmd == 0x2340:
            return 1000, [self.asc_initial_h]
        if cmd == 0x234B:
            return 1000, [self.asc_standard_h]
        if cmd == 0x3639:
            return 10000000, [0]
        if cmd == 0x362F and args:
            if not self.measurements:
                return 400000, [0xFFFF]  # FRC needs the sensor to have been measuring
            # the reading is corrected to the reference from now on; the answer is the change
            corr = int(round(args[0] - self._co2(now_us)))
            self.frc_offset_ppm += corr
            return 400000, [max(0, min(0xFFFE, corr + 0x8000))]
        if cmd in (0x3615, 0x3632, 0x3646):
            if cmd == 0x3632:
                self.reset_state()
                self.frc_offset_ppm = 0.0
            return {0x3615: 800000, 0x3632: 1200000, 0x3646: 20000}[cmd], None
        if self.variant == "scd41":
            if cmd in (0x219D, 0x2196):
                took = 5000000 if cmd == 0x219D else 50000
                self.ready = False
                self.single_until = (now_us + took, cmd == 0x2196)
                return took, None
            if cmd == 0x36E0:
                self.mode = _SLEEP
                return 1000, None
        self.nack()
