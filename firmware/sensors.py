"""Fitted sensors: open each driver from the board config, read it into channels, retry failures.

Each sensor type has an adapter in TYPES: how to open its driver from the Hal and the board
config entry, which channels it provides, its warm-up time, its default priority and how to
read it. A failing sensor is marked faulty for that cycle, closed, and re-opened after a backoff
that doubles per failure (up to `_MAX_BACKOFF_S`); it never stops the cycle or other sensors.

Duplicate channels are merged by priority: the highest-priority sensor that delivered a value
wins (default: SHT4x > SCD4x > BME280 for temperature and humidity; see docs/sensors.md).
Sensors are read in that order, so a lower-priority sensor sees the merged values of the cycle
so far (`merged`): the SGP40 (lowest priority) compensates with this cycle's humidity and
temperature. A reader returns True when its reading was taken during the sensor's warm-up.
HOOKS add two optional steps per type: `prepare(driver)` for every open sensor at the start of
the cycle (wake the particle sensors, so that their fan warm-ups run while the others are read)
and `feedback(driver, merged)` at its end (the cycle's pressure to the SCD4x for the next one).
"""

import gc
import time

from micropython import const

import diag
import sample as S

_MAX_BACKOFF_S = const(3600)


def _open_bme280(hal, entry):
    from bme280 import BME280

    return BME280(hal.i2c(entry["bus"]), entry.get("address", 0x76))


def _read_bme280(drv, vals, now_ms, merged=None):
    drv.measure()
    vals[S.TEMPERATURE] = drv.temp_cdeg / 100
    vals[S.HUMIDITY] = drv.hum_q10 / 1024
    vals[S.PRESSURE] = drv.press_q8 / 25600


def _open_sht4x(hal, entry):
    from sht4x import SHT4x

    drv = SHT4x(hal.i2c(entry["bus"]), entry.get("address", 0x44))
    # above this humidity a short heater pulse after each reading drives off condensed water and
    # counters creep (Sensirion's advice for high-humidity use); None: never
    heat = entry.get("heater_above_pct", 95)
    drv.heat_above_cpct = None if heat is None else int(heat * 100)
    return drv


def _read_sht4x(drv, vals, now_ms, merged):
    drv.measure()
    vals[S.TEMPERATURE] = drv.temp_cdeg / 100
    vals[S.HUMIDITY] = drv.rh_cpct / 100
    if drv.heat_above_cpct is not None and drv.rh_cpct >= drv.heat_above_cpct:
        # 200 mW for 0.1 s per cycle: far below the datasheet's 10 % duty-cycle limit; the
        # heated reading it ends with is not used, the chip has minutes to cool before the next
        drv.heat(drv.HEATER_200MW_100MS)


def _open_scd4x(hal, entry):
    from scd4x import SCD4x

    drv = SCD4x(hal.i2c(entry["bus"]), entry.get("address", 0x62), start=False)
    if "altitude_m" in entry:
        drv.set_altitude(entry["altitude_m"])
    if "temperature_offset_c" in entry:
        drv.set_temperature_offset(entry["temperature_offset_c"])
    if "asc" in entry:
        drv.set_asc(bool(entry["asc"]))  # off where the air never returns to ~400 ppm
    _apply_asc(drv)  # the station config's scd4x.asc, if set, wins (applied while idle)
    mode = entry.get("mode", "periodic")
    if mode in ("periodic", "low_power"):
        drv.start(mode == "low_power" or entry.get("low_power", False))
    elif mode != "single_shot":  # SCD41: left idle (0.2 mA), one 5 s single shot per cycle
        raise ValueError("scd4x mode %r: periodic, low_power or single_shot" % mode)
    return drv


def _read_scd4x(drv, vals, now_ms, merged):
    drv.measure()
    vals[S.CO2] = drv.co2_ppm
    vals[S.TEMPERATURE] = drv.temp_cdeg / 100
    vals[S.HUMIDITY] = drv.rh_cpct / 100
    return drv.count == 1  # the first reading after (re)start is not trusted


def _feedback_scd4x(drv, merged):
    # the station's barometer compensates the CO2 reading, sent every cycle (1 ms on the bus):
    # a chip that lost it (brown-out, re-open) has it again at the next cycle
    p = merged[S.PRESSURE]
    if p is not None and 700 <= p <= 1200:
        drv.set_ambient_pressure(p)
    _apply_asc(drv)


_asc = None  # station config scd4x.asc: None keep, True on, False off (use_config)


def use_config(cfg):
    """Take the station config's sensor settings (called every cycle: a command may change them)."""
    global _asc
    v = cfg.get("scd4x", {}).get("asc", "keep")
    _asc = None if v == "keep" else v == "on"


def _apply_asc(drv):
    # set_asc stops periodic measurement around the write: the chip takes settings when idle
    if _asc is not None and drv.asc != _asc:
        drv.set_asc(_asc)


class _Voc:
    """An SGP40 with its VOC index state. The index learns over hours, so its state outlives the
    driver: a re-open after a bus error carries it over (`_carry_voc`), and it is persisted to
    flash every `_VOC_SAVE_S` (as ESPHome keeps its baseline every 3 h) and restored at open
    when the saved copy is at most `voc_state_max_age_s` old and from the same chip."""

    __slots__ = (
        "sgp",
        "uncompensated",
        "index",
        "last_ms",
        "path",
        "max_age_s",
        "saved_s",
        "restored",
    )

    def __init__(self, sgp, path, max_age_s):
        from sgp40 import NO_RH, NO_T
        from voc_index import VocIndex

        self.sgp = sgp
        self.uncompensated = (
            NO_RH,
            NO_T,
        )  # what the chip gets while humidity or temperature is unknown
        self.index = VocIndex()
        self.last_ms = None
        self.path = path
        self.max_age_s = max_age_s
        self.saved_s = None  # unix time of the last save (None: not this boot)
        self.restored = False


# Sensirion's get_states needs 3 h of operation; ESPHome saves its baseline every 3 h
_VOC_SAVE_S = const(10800)
_VOC_MAX_AGE_S = const(14400)  # one save period plus an hour of outage


def _now_unix(hal):
    """Unix time when the clock is set (a persisted state's age can be judged), else None."""
    if hal is None or not hal.time_synced():
        return None
    return int(time.time())


def _voc_restore(voc, hal):
    """Load the persisted index state if it is recent enough and from this chip (else ignore)."""
    now = _now_unix(hal)
    if now is None:
        return
    try:
        with open(voc.path) as f:
            parts = f.read().split()
        serial, saved, mean, std = int(parts[0]), int(parts[1]), float(parts[2]), float(parts[3])
    except (OSError, ValueError, IndexError):
        return  # none yet, or damaged: learn afresh
    if serial != voc.sgp.serial or not 0 <= now - saved <= voc.max_age_s:
        return
    try:
        voc.index.restore(mean, std)
    except ValueError:
        return
    voc.saved_s = saved
    voc.restored = True


def _voc_save(voc, hal):
    """Persist the index state every _VOC_SAVE_S once the initial learning is over."""
    now = _now_unix(hal)
    if now is None or voc.index.learning:
        return
    if voc.saved_s is not None and now - voc.saved_s < _VOC_SAVE_S:
        return
    import config

    mean, std = voc.index.states()
    try:
        config.write_atomic(voc.path, "%d %d %r %r\n" % (voc.sgp.serial, now, mean, std))
    except OSError:
        return  # flash full or failing: the in-RAM state still serves this boot
    voc.saved_s = now


def _open_sgp40(hal, entry):
    from sgp40 import SGP40

    sgp = SGP40(hal.i2c(entry["bus"]), entry.get("address", 0x59))
    path = hal.fs_root + "/voc-" + entry.get("name", "sgp40")
    voc = _Voc(sgp, path, entry.get("voc_state_max_age_s", _VOC_MAX_AGE_S))
    _voc_restore(voc, hal)
    return voc


def _carry_voc(old, new):
    """Re-opened after a bus error: the same chip keeps its learned index (not 45 min anew)."""
    if old.sgp.serial == new.sgp.serial:
        new.index = old.index
        new.last_ms = old.last_ms
        new.saved_s = old.saved_s


def _read_sgp40(voc, vals, now_ms, merged):
    rh = merged[S.HUMIDITY] if merged else None
    t = merged[S.TEMPERATURE] if merged else None
    no_rh, no_t = voc.uncompensated
    sraw = voc.sgp.measure_raw(
        no_rh if rh is None else int(rh * 100), no_t if t is None else int(t * 100), settle=True
    )
    voc.sgp.heater_off()  # sparse sampling: the hotplate rests between cycles
    if voc.last_ms is None:
        # the first sample counts as one sampling interval, as in the reference algorithm (1.0 s
        # here would stretch the 45 s blackout over one more cycle)
        dt = _interval_s
    else:
        dt = time.ticks_diff(now_ms, voc.last_ms) / 1000
    voc.last_ms = now_ms
    idx = voc.index.process(sraw, dt if dt > 0 else _interval_s)
    vals[S.VOC] = idx if idx > 0 else None  # 0: blackout, no index yet
    _voc_save(voc, _hal)
    return voc.index.learning


def _open_pms5003(hal, entry):
    from pms5003 import PMS5003

    # passive (default): a frame on request; active: the next frame the sensor sends
    return PMS5003(hal.uart(entry["uart"], 9600), passive=entry.get("passive", True))


def _read_pms5003(drv, vals, now_ms, merged):
    drv.wake()  # normally done by prepare at the cycle start; then a no-op
    wait = drv.ready_in_ms()
    if wait:
        _wait_ms(wait)  # the fan warm-up (started by prepare, overlapped with other reads)
    drv.read()
    vals[S.PM1_0] = drv.pm1_0
    vals[S.PM2_5] = drv.pm2_5
    vals[S.PM10] = drv.pm10
    drv.sleep()


def _open_sds011(hal, entry):
    from sds011 import SDS011

    return SDS011(hal.uart(entry["uart"], 9600))


def _read_sds011(drv, vals, now_ms, merged):
    drv.wake()
    wait = drv.ready_in_ms()
    if wait:
        _wait_ms(wait)
    drv.read()
    vals[S.PM2_5] = drv.pm2_5_d / 10
    vals[S.PM10] = drv.pm10_d / 10
    drv.sleep()


def _wake(drv):
    drv.wake()


_hal = None  # the Hal of the read in progress (its watchdog is fed during long waits)
_interval_s = 60.0  # the station's sampling interval (set by build()); first-sample VOC dt


def _wait_ms(ms):
    """Sleep in slices of at most 1 s, feeding the watchdog: a board's hardware watchdog may be
    shorter than a particle sensor's 30 s fan warm-up (ESP32: at most about 8 s)."""
    while ms > 0:
        step = ms if ms < 1000 else 1000
        time.sleep_ms(step)
        ms -= step
        if _hal is not None:
            _hal.feed()


# type -> (open(hal, entry) -> driver, read(driver, vals, now_ms, merged) -> in warm-up?,
#          channels, warm-up ms (from the sensor's open), priority)
TYPES = {
    "sht4x": (_open_sht4x, _read_sht4x, (S.TEMPERATURE, S.HUMIDITY), 1, 30),
    "scd4x": (_open_scd4x, _read_scd4x, (S.CO2, S.TEMPERATURE, S.HUMIDITY), 5000, 20),
    "bme280": (_open_bme280, _read_bme280, (S.TEMPERATURE, S.HUMIDITY, S.PRESSURE), 2, 10),
    "pms5003": (_open_pms5003, _read_pms5003, (S.PM1_0, S.PM2_5, S.PM10), 30000, 8),
    "sds011": (_open_sds011, _read_sds011, (S.PM2_5, S.PM10), 30000, 6),
    # the VOC index says itself when it is learning (blackout + 45 min, none after a restore or a
    # re-open that kept its state): no fixed warm-up from the open
    "sgp40": (_open_sgp40, _read_sgp40, (S.VOC,), 0, 1),
}

# type -> driver modules it uses (loaded at boot by build())
MODULES = {
    "bme280": ("bme280",),
    "sht4x": ("sht4x",),
    "scd4x": ("scd4x",),
    "sgp40": ("sgp40", "voc_index"),
    "pms5003": ("pms5003",),
    "sds011": ("sds011",),
}

# type -> carry(old driver, new driver): state that outlives a re-open after a failure
CARRY = {"sgp40": _carry_voc}

# laser particle sensors: their run time is counted (lasers are rated for ~8,000 h of operation)
LASER = ("pms5003", "sds011")
LASER_RATED_H = const(8000)
_LASER_SAVE_S = const(600)  # write the total after 10 more minutes of laser time (~20 cycles)

# type -> (prepare(driver) or None, feedback(driver, merged) or None)
HOOKS = {
    "scd4x": (None, _feedback_scd4x),
    "pms5003": (_wake, None),
    "sds011": (_wake, None),
}


class SensorSlot:
    """One fitted sensor: its driver, health and retry state."""

    def __init__(self, entry):
        kind = entry.get("type")
        if kind not in TYPES:
            raise ValueError("unknown sensor type %r" % kind)
        self.kind = kind
        self.name = entry.get("name", kind)
        self.entry = entry
        opener, reader, channels, warmup_ms, priority = TYPES[kind]
        self._open = opener
        self._read = reader
        self.channels = channels
        self.warmup_ms = entry.get("warmup_ms", warmup_ms)
        self.priority = entry.get("priority", priority)
        self.driver = None
        self.previous = None  # the driver closed after a failure, until a re-open carries it over
        self.failures = 0  # consecutive
        self.total_failures = 0
        self.retry_at = None  # ticks_ms before which we do not retry
        self.opened_at = None
        self.warm_done = False
        self.read_at = None
        self.warm_reading = False  # the reader said: taken during warm-up
        self.vals = [None] * S.N_CHANNELS
        self.last_error = None
        self.laser_s = None  # laser sensors: total laser run time, s (None: not loaded yet)
        self._laser_ms = 0  # run time below one second, not yet in laser_s
        self._laser_saved_s = 0

    def warming_up(self, now_ms=None):
        """True if the last reading was taken within warmup_ms of opening the sensor, or the
        driver reported warm-up (PM fan, SCD4x first reading, VOC index learning)."""
        if self.opened_at is None or self.warm_reading:
            return True
        if self.warm_done:
            return False
        at = self.read_at if self.read_at is not None else now_ms
        if time.ticks_diff(at, self.opened_at) < self.warmup_ms:
            return True
        # latched: ticks wrap after 12.4 days, so an old opening time must not be compared again
        self.warm_done = True
        return False

    def prepare(self, log):
        hook = HOOKS.get(self.kind)
        if hook is None or hook[0] is None or self.driver is None:
            return
        try:
            hook[0](self.driver)
        except Exception as exc:  # the read that follows reports the fault
            log(diag.WARN, "SENSOR.PREPARE", self.name, exc=type(exc).__name__)

    def feedback(self, merged, log):
        hook = HOOKS.get(self.kind)
        if hook is None or hook[1] is None or self.driver is None:
            return
        try:
            hook[1](self.driver, merged)
        except Exception as exc:  # compensation is best effort
            log(diag.WARN, "SENSOR.FEEDBACK", self.name, exc=type(exc).__name__)

    def backoff_s(self):
        s = 1 << min(self.failures, 12)
        return s if s < _MAX_BACKOFF_S else _MAX_BACKOFF_S

    def read(self, hal, now_ms, log, merged=None):
        """Fill self.vals; returns True on success. Never raises for sensor faults."""
        global _hal
        _hal = hal
        self.warm_reading = False
        v = self.vals
        for i in range(S.N_CHANNELS):
            v[i] = None
        if self.driver is None:
            if self.retry_at is not None and time.ticks_diff(self.retry_at, now_ms) > 0:
                return False
            try:
                self.driver = self._open(hal, self.entry)
                carry = CARRY.get(self.kind)
                if carry is not None and self.previous is not None:
                    carry(self.previous, self.driver)
                self.previous = None
                self.opened_at = time.ticks_ms()
                self.warm_done = False
                log(diag.INFO, "SENSOR.OPEN", self.name, attempt=self.failures + 1)
            except Exception as exc:  # any driver failure is a sensor fault, not a crash
                self._fail(now_ms, exc, log, "SENSOR.ABSENT")
                return False
        try:
            self.warm_reading = bool(self._read(self.driver, v, now_ms, merged))
            self.read_at = time.ticks_ms()
        except Exception as exc:  # noqa
            for i in range(S.N_CHANNELS):
                v[i] = None
            self._fail(now_ms, exc, log, "SENSOR.FAIL")
            self.previous = self.driver
            self.driver = None  # re-initialise on the next attempt
            return False
        if self.kind in LASER:
            self._count_laser(hal)
        if self.failures:
            log(diag.INFO, "SENSOR.RECOVERED", self.name, after=self.failures)
        self.failures = 0
        self.retry_at = None
        return True

    # --- laser run time (kept on flash: it is the sensor's life, not this boot's) ---
    def _laser_path(self, hal):
        return hal.fs_root + "/laser-" + self.name

    def laser_hours(self, hal):
        """Total laser run time of this particle sensor, whole hours (None: not a laser sensor)."""
        if self.kind not in LASER:
            return None
        self._load_laser(hal)
        return self.laser_s // 3600

    def _load_laser(self, hal):
        if self.laser_s is not None:
            return
        try:
            with open(self._laser_path(hal)) as f:
                self.laser_s = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            self.laser_s = 0  # a new sensor (or a damaged file: counted from now)
        if self.laser_s < 0:
            self.laser_s = 0
        self._laser_saved_s = self.laser_s

    def _count_laser(self, hal):
        self._load_laser(hal)
        self._laser_ms += self.driver.take_on_ms()
        if self._laser_ms >= 1000:
            self.laser_s += self._laser_ms // 1000
            self._laser_ms %= 1000
        if self.laser_s - self._laser_saved_s >= _LASER_SAVE_S:
            import config

            try:
                config.write_atomic(self._laser_path(hal), "%d\n" % self.laser_s)
                self._laser_saved_s = self.laser_s
            except OSError:
                pass  # flash full: counted in RAM, written at the next chance

    def _fail(self, now_ms, exc, log, code):
        self.failures += 1
        self.total_failures += 1
        self.last_error = exc
        wait_s = self.backoff_s()
        self.retry_at = time.ticks_add(now_ms, wait_s * 1000)
        fields = {"exc": type(exc).__name__, "retry_s": wait_s, "failures": self.failures}
        if isinstance(exc, OSError) and exc.args:
            fields["errno"] = exc.args[0]
        else:
            msg = str(exc)
            if msg:
                fields["msg"] = msg
        log(diag.ERROR if self.failures == 1 else diag.WARN, code, self.name, **fields)


def build(board_cfg, log, interval_s=None):
    """SensorSlots for every sensor the board config lists (unknown types are logged, skipped).
    interval_s: the station's sampling interval (the VOC index's first time step)."""
    global _interval_s
    if interval_s:
        _interval_s = float(interval_s)
    slots = []
    for entry in board_cfg.get("sensors", []):
        try:
            slots.append(SensorSlot(entry))
        except ValueError as exc:
            log(diag.ERROR, "SENSOR.CONFIG", entry.get("name", "?"), msg=str(exc))
    # highest priority first, so merging takes the first value found
    slots.sort(key=lambda s: -s.priority)
    # load the fitted sensors' driver modules now, after a collection, while the heap has room in
    # one piece (compiling or loading a module needs contiguous blocks; later it is fragmented)
    gc.collect()
    for slot in slots:
        for mod in MODULES.get(slot.kind, ()):
            try:
                __import__(mod)
            except (ImportError, MemoryError) as exc:
                log(diag.ERROR, "SENSOR.CONFIG", slot.name, msg=str(exc))
    return slots
