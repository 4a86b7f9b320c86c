"""Fitted sensors: open each driver from the board config, read it into channels, retry failures.

Each sensor type has an adapter in TYPES: how to open its driver from the Hal and the board
config entry, which channels it provides, its warm-up time, its default priority and how to
read it. A failing sensor is marked faulty for that cycle, closed, and re-opened after a backoff
that doubles per failure (up to `_MAX_BACKOFF_S`); it never stops the cycle or other sensors.

Duplicate channels are merged by priority: the highest-priority sensor that delivered a value
wins (default: SHT4x > SCD4x > BME280 for temperature and humidity; see docs/sensors.md).
"""

import time

from micropython import const

import sample as S

_MAX_BACKOFF_S = const(3600)


def _open_bme280(hal, entry):
    from bme280 import BME280

    return BME280(hal.i2c(entry["bus"]), entry.get("address", 0x76))


def _read_bme280(drv, vals, now_ms):
    drv.measure()
    vals[S.TEMPERATURE] = drv.temp_cdeg / 100
    vals[S.HUMIDITY] = drv.hum_q10 / 1024
    vals[S.PRESSURE] = drv.press_q8 / 25600


# type -> (open(hal, entry) -> driver, read(driver, vals, now_ms), channels, warm-up ms, priority)
TYPES = {
    "bme280": (_open_bme280, _read_bme280, (S.TEMPERATURE, S.HUMIDITY, S.PRESSURE), 2, 10),
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
        self.failures = 0  # consecutive
        self.total_failures = 0
        self.retry_at = None  # ticks_ms before which we do not retry
        self.opened_at = None
        self.vals = [None] * S.N_CHANNELS
        self.last_error = None

    def warming_up(self, now_ms):
        if self.opened_at is None:
            return True
        return time.ticks_diff(now_ms, self.opened_at) < self.warmup_ms

    def backoff_s(self):
        s = 1 << min(self.failures, 12)
        return s if s < _MAX_BACKOFF_S else _MAX_BACKOFF_S

    def read(self, hal, now_ms, log):
        """Fill self.vals; returns True on success. Never raises for sensor faults."""
        v = self.vals
        for i in range(S.N_CHANNELS):
            v[i] = None
        if self.driver is None:
            if self.retry_at is not None and time.ticks_diff(self.retry_at, now_ms) > 0:
                return False
            try:
                self.driver = self._open(hal, self.entry)
                self.opened_at = time.ticks_ms()
                log(1, "SENSOR.OPEN", self.name, attempt=self.failures + 1)
            except Exception as exc:  # noqa: any driver failure is a sensor fault, not a crash
                self._fail(now_ms, exc, log, "SENSOR.ABSENT")
                return False
        try:
            self._read(self.driver, v, now_ms)
        except Exception as exc:  # noqa
            for i in range(S.N_CHANNELS):
                v[i] = None
            self._fail(now_ms, exc, log, "SENSOR.FAIL")
            self.driver = None  # re-initialise on the next attempt
            return False
        if self.failures:
            log(1, "SENSOR.RECOVERED", self.name, after=self.failures)
        self.failures = 0
        self.retry_at = None
        return True

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
        log(3 if self.failures == 1 else 2, code, self.name, **fields)


def build(board_cfg, log):
    """SensorSlots for every sensor the board config lists (unknown types are logged, skipped)."""
    slots = []
    for entry in board_cfg.get("sensors", []):
        try:
            slots.append(SensorSlot(entry))
        except ValueError as exc:
            log(3, "SENSOR.CONFIG", entry.get("name", "?"), msg=str(exc))
    # highest priority first, so merging takes the first value found
    slots.sort(key=lambda s: -s.priority)
    return slots
