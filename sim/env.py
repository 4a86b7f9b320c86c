"""The air around the simulated station: replayed real traces or a synthetic weather model.

`Environment.at(t_s)` fills and returns one reused `Conditions` for simulated time t_s (seconds
since the simulation started). Chip models read it; nothing here knows about registers.

Traces (../shared/data, see its SOURCES.md) are streamed row by row and interpolated linearly,
so replay costs a few hundred bytes of heap whatever the file size; they loop at their end.

  stonehaven  sensor.community node, 72 h, July 2018: temperature, humidity, pressure (BME280),
              PM2.5 and PM10 (SDS011). PM1.0, CO2, VOC come from the synthetic model.
  office      UCI occupancy data, 5.6 days, Feb 2015: temperature, humidity, CO2.
              Pressure, PM and VOC come from the synthetic model.
  synthetic   the model alone (below).

Synthetic model (documented so tests can predict it), with h = hour of day (UTC) and d = days:
  temperature_c = 14 + 6 sin(2 pi (h - 9) / 24) + 1.5 sin(2 pi d / 5.3)
  humidity_pct  = clamp(72 - 2.5 (temperature_c - 14) + 6 sin(2 pi d / 3.1), 15, 99)
  pressure_hpa  = 1012 + 9 sin(2 pi d / 4.2) + 0.6 sin(2 pi h / 12)
  co2_ppm       = 425 + 60 rush(h)           rush(h) = exp(-((h-8)/1.5)^2) + exp(-((h-17.5)/2)^2)
  pm2_5_ugm3    = 7 + 9 rush(h) + 3 sin(2 pi d / 2.7) ;  pm10 = 1.6 pm2_5 ; pm1_0 = 0.68 pm2_5
  voc_ppb       = 120 + 250 rush(h)          (ethanol-equivalent, drives the SGP40 model)
  battery_v     = 3.95 - 0.05 sin(2 pi (h - 13) / 24)
PM1.0 in the stonehaven trace is 0.68 x PM2.5 (typical urban PM1/PM2.5 ratio).
"""

import gc
import math
import os

from micropython import const

_DAY_S = const(86400)
TWO_PI = 2 * math.pi


class Conditions:
    __slots__ = (
        "t_s",
        "temperature_c",
        "humidity_pct",
        "pressure_hpa",
        "co2_ppm",
        "pm1_0_ugm3",
        "pm2_5_ugm3",
        "pm10_ugm3",
        "voc_ppb",
        "battery_v",
    )

    def __init__(self):
        self.t_s = 0.0
        self.temperature_c = 20.0
        self.humidity_pct = 50.0
        self.pressure_hpa = 1013.25
        self.co2_ppm = 420.0
        self.pm1_0_ugm3 = 5.0
        self.pm2_5_ugm3 = 8.0
        self.pm10_ugm3 = 12.0
        self.voc_ppb = 100.0
        self.battery_v = 3.9

    def copy(self):
        c = Conditions()
        for k in Conditions.__slots__:
            setattr(c, k, getattr(self, k))
        return c


def days_from_civil(y, m, d):
    """Days since 1970-01-01 (proleptic Gregorian)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def parse_timestamp(text):
    """'2018-07-20T00:00:06' or '2015-02-04 17:51:00' (quotes allowed) -> unix seconds (UTC)."""
    s = text.strip().strip('"')
    if len(s) < 19 or s[4] != "-" or s[7] != "-" or s[13] != ":" or s[16] != ":":
        raise ValueError("bad timestamp: %s" % s)
    days = days_from_civil(int(s[0:4]), int(s[5:7]), int(s[8:10]))
    return days * _DAY_S + int(s[11:13]) * 3600 + int(s[14:16]) * 60 + int(s[17:19])


class TraceReader:
    """Streams one CSV trace; `sample(t_rel)` interpolates its columns at t_rel seconds."""

    def __init__(self, path, sep, time_col, columns):
        # columns: {name: (column index, scale)}
        self.path = path
        self.sep = sep
        self.time_col = time_col
        self.names = list(columns)
        self.cols = [columns[n] for n in self.names]
        self.t0 = None
        self.t_end = None
        self.rows = 0
        self._scan()
        self._f = None
        self._older = None  # the row before _prev: models ask for slightly earlier times too
        self._prev = None
        self._next = None
        self.values = [0.0] * len(self.names)

    def _parse(self, line):
        parts = line.rstrip("\r\n").split(self.sep)
        try:
            t = parse_timestamp(parts[self.time_col])
            vals = [float(parts[i].strip('"')) * scale for i, scale in self.cols]
        except (ValueError, IndexError):
            return None  # header or malformed row: skipped
        return t, vals

    def _scan(self):
        with open(self.path) as f:
            for line in f:
                row = self._parse(line)
                if row is None:
                    continue
                if self.t0 is None:
                    self.t0 = row[0]
                self.t_end = row[0]
                self.rows += 1
        if self.rows < 2:
            raise ValueError("trace %s has fewer than 2 usable rows" % self.path)
        # the scan leaves the heap full of parsed rows: collect now, so that what is allocated
        # next (the other readers, the chip models, the firmware) is packed low, not scattered
        # between the rows' garbage (MicroPython never moves an object)
        gc.collect()

    @property
    def span_s(self):
        return self.t_end - self.t0

    def _rewind(self):
        if self._f:
            self._f.close()
        self._f = open(self.path)
        self._older = None
        self._prev = self._read_row()
        self._next = self._read_row()

    def _read_row(self):
        while True:
            line = self._f.readline()
            if not line:
                return None
            row = self._parse(line)
            if row is not None:
                return (row[0] - self.t0, row[1])

    def sample(self, t_rel):
        t = t_rel % self.span_s
        if (
            self._f is None
            or self._prev is None
            or (t < self._prev[0] and (self._older is None or t < self._older[0]))
        ):
            # back to the start of the file: at the trace's end, or a jump back further than a row
            self._rewind()
        if t < self._prev[0] and self._older is not None:
            # a step back within the previous row (two models asking for nearly the same time):
            # served from the row kept, not by reading the file again from its start
            a = self._older
            b = self._prev
        else:
            while self._next is not None and self._next[0] < t:
                self._older = self._prev
                self._prev = self._next
                self._next = self._read_row()
            a = self._prev
            b = self._next or self._prev
        if b[0] == a[0]:
            frac = 0.0
        else:
            frac = (t - a[0]) / (b[0] - a[0])
            frac = 0.0 if frac < 0 else (1.0 if frac > 1 else frac)
        for i in range(len(self.values)):
            self.values[i] = a[1][i] + (b[1][i] - a[1][i]) * frac
        return self.values

    def close(self):
        if self._f:
            self._f.close()
            self._f = None


def _rush(h):
    return math.exp(-(((h - 8) / 1.5) ** 2)) + math.exp(-(((h - 17.5) / 2) ** 2))


def data_dir():
    # The WebAssembly port's os has no getenv: its test runner (tests/wasm32/run.mjs) puts the
    # shared data at the default place instead.
    d = os.getenv("STATION_SHARED_DATA") if hasattr(os, "getenv") else None
    if d:
        return d
    return "../shared/data"


TRACES = ("stonehaven", "office", "synthetic")


class Environment:
    """Conditions over time. `trace` is one of TRACES; `start_unix` sets the clock origin."""

    def __init__(self, trace="stonehaven", data=None, start_unix=None):
        if trace not in TRACES:
            raise ValueError("unknown trace %r (known: %s)" % (trace, ", ".join(TRACES)))
        self.trace = trace
        self.cond = Conditions()
        self.readers = []
        base = data or data_dir()
        if trace == "stonehaven":
            self.readers.append(
                (
                    TraceReader(
                        base + "/scomm_stonehaven_bme280.csv",
                        ";",
                        5,
                        {
                            "pressure_hpa": (6, 0.01),
                            "temperature_c": (9, 1.0),
                            "humidity_pct": (10, 1.0),
                        },
                    ),
                )
            )
            self.readers.append(
                (
                    TraceReader(
                        base + "/scomm_stonehaven_sds011.csv",
                        ";",
                        5,
                        {"pm10_ugm3": (6, 1.0), "pm2_5_ugm3": (9, 1.0)},
                    ),
                )
            )
        elif trace == "office":
            self.readers.append(
                (
                    TraceReader(
                        base + "/uci_occupancy_office.csv",
                        ",",
                        0,
                        {"temperature_c": (1, 1.0), "humidity_pct": (2, 1.0), "co2_ppm": (4, 1.0)},
                    ),
                )
            )
        self.readers = [r[0] for r in self.readers]
        if start_unix is None:
            start_unix = self.readers[0].t0 if self.readers else 1700000000
        self.start_unix = start_unix
        # value overrides: name -> value (tests and fault injection pin a quantity)
        self.overrides = {}

    def synthetic(self, t_s):
        c = self.cond
        unix = self.start_unix + t_s
        h = (unix % _DAY_S) / 3600
        d = t_s / _DAY_S
        rush = _rush(h)
        c.temperature_c = (
            14 + 6 * math.sin(TWO_PI * (h - 9) / 24) + 1.5 * math.sin(TWO_PI * d / 5.3)
        )
        rh = 72 - 2.5 * (c.temperature_c - 14) + 6 * math.sin(TWO_PI * d / 3.1)
        c.humidity_pct = 15.0 if rh < 15 else (99.0 if rh > 99 else rh)
        c.pressure_hpa = 1012 + 9 * math.sin(TWO_PI * d / 4.2) + 0.6 * math.sin(TWO_PI * h / 12)
        c.co2_ppm = 425 + 60 * rush
        c.pm2_5_ugm3 = 7 + 9 * rush + 3 * math.sin(TWO_PI * d / 2.7)
        c.pm10_ugm3 = 1.6 * c.pm2_5_ugm3
        c.pm1_0_ugm3 = 0.68 * c.pm2_5_ugm3
        c.voc_ppb = 120 + 250 * rush
        c.battery_v = 3.95 - 0.05 * math.sin(TWO_PI * (h - 13) / 24)

    def at(self, t_s):
        c = self.cond
        c.t_s = t_s
        self.synthetic(t_s)
        for r in self.readers:
            vals = r.sample(t_s + (self.start_unix - r.t0))
            for i in range(len(r.names)):
                setattr(c, r.names[i], vals[i])
        if self.trace == "stonehaven":
            c.pm1_0_ugm3 = 0.68 * c.pm2_5_ugm3
        for k in self.overrides:
            setattr(c, k, self.overrides[k])
        return c

    def close(self):
        for r in self.readers:
            r.close()
