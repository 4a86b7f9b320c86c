"""One station sample: channel values, health bits, sequence number and time.

Channel order is part of the payload format (docs/payload-format.md): never reorder, only append.
Values are floats in the channel's unit, or None when the channel was not measured.
"""

from micropython import const

# Channel indices (bit positions in the health masks and the codec's presence mask).
TEMPERATURE = const(0)
HUMIDITY = const(1)
PRESSURE = const(2)
CO2 = const(3)
PM1_0 = const(4)
PM2_5 = const(5)
PM10 = const(6)
VOC = const(7)
BATTERY = const(8)
N_CHANNELS = const(9)

# Keys as decoded by every decoder, in channel order.
KEYS = (
    "temperature_c",
    "humidity_pct",
    "pressure_hpa",
    "co2_ppm",
    "pm1_0_ugm3",
    "pm2_5_ugm3",
    "pm10_ugm3",
    "voc_index",
    "battery_v",
)

# (min, max) of the valid range per channel; outside it a value is sent as invalid and flagged.
RANGES = (
    (-40.0, 85.0),
    (0.0, 100.0),
    (300.0, 1100.0),
    (0.0, 40000.0),
    (0.0, 1000.0),
    (0.0, 1000.0),
    (0.0, 1000.0),
    (1.0, 500.0),
    (0.0, 40.0),  # Li-ion cells and 12 V / 24 V lead-acid or LiFePO4 systems with their chargers
)

# Sample-wide flags (Sample.flags).
FLAG_RH_HIGH = const(1)  # relative humidity above 70 %: PM readings unreliable
FLAG_CLOCK_SYNCED = const(2)  # `time` is unix seconds from a synced clock, else uptime-based


class Sample:
    """A reusable sample record; the station fills one in place every cycle."""

    __slots__ = ("seq", "time", "values", "fault", "warmup", "implausible", "flags", "boot")

    def __init__(self):
        self.values = [None] * N_CHANNELS
        self.clear()
        self.seq = 0

    def clear(self):
        v = self.values
        for i in range(N_CHANNELS):
            v[i] = None
        self.time = 0
        self.fault = 0  # bit per channel: the sensor failed to deliver
        self.warmup = 0  # bit per channel: taken during the sensor's warm-up
        self.implausible = 0  # bit per channel: out of range or stuck
        self.flags = 0
        # the boot (firmware/bootid.py) an uptime-based `time` belongs to; 0: not known
        self.boot = 0

    def set(self, ch, value):
        lo, hi = RANGES[ch]
        if value is None:
            self.values[ch] = None
        elif value < lo or value > hi:
            self.values[ch] = None
            self.implausible |= 1 << ch
        else:
            self.values[ch] = value

    def present(self):
        """Bit mask of channels that carry a value."""
        m = 0
        v = self.values
        for i in range(N_CHANNELS):
            if v[i] is not None:
                m |= 1 << i
        return m

    def copy_from(self, other):
        self.seq = other.seq
        self.time = other.time
        for i in range(N_CHANNELS):
            self.values[i] = other.values[i]
        self.fault = other.fault
        self.warmup = other.warmup
        self.implausible = other.implausible
        self.flags = other.flags
        self.boot = other.boot

    def as_dict(self):
        d = {"seq": self.seq, "time": self.time}
        for i in range(N_CHANNELS):
            if self.values[i] is not None:
                d[KEYS[i]] = self.values[i]
        d["fault"] = self.fault
        d["warmup"] = self.warmup
        d["implausible"] = self.implausible
        d["flags"] = self.flags
        if self.boot:
            d["boot_id"] = self.boot
        return d
