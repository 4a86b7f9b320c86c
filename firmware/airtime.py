"""LoRaWAN airtime: time on air per frame, sub-band duty cycle, join limits, daily fair-use budget.

Time on air follows the LoRa modem formula (Semtech AN1200.13): symbol time 2^SF / BW, preamble
of 8 + 4.25 symbols, explicit header, CRC on, coding rate 4/5, low-data-rate optimisation for
SF11/SF12 at 125 kHz. The PHY payload is the application payload plus 13 bytes of LoRaWAN
overhead (MHDR 1, FHDR 7 without FOpts, FPort 1, MIC 4); a join request is 23 bytes.

EU868: the default channels (868.1/868.3/868.5 MHz) share the 868.0-868.6 MHz sub-band with a
1 % duty cycle, so after a transmission of T the band is closed for 99 T. OTAA join requests are
further limited (LoRaWAN 1.0.3 backoff): 36 s of join airtime in the first hour after power-up,
36 s in the next 10 hours, then 8.7 s per 24 hours. On top, a daily fair-use budget (TTN's 30 s
per device per day by default, `lorawan.fair_use_s`) is enforced before every transmission and
persisted, so a reboot or power cut cannot reset it.
"""

import time

from micropython import const

OVERHEAD = const(13)  # MHDR + FHDR (no FOpts) + FPort + MIC
JOIN_REQUEST = const(23)  # PHY bytes of an OTAA join request
_HOUR_MS = const(3600000)

# region -> per data rate (spreading factor, bandwidth kHz, max application payload bytes)
_EU868 = ((12, 125, 51), (11, 125, 51), (10, 125, 51), (9, 125, 115), (8, 125, 242), (7, 125, 242))
_US915 = ((10, 125, 11), (9, 125, 53), (8, 125, 125), (7, 125, 242))
_REGIONS = {"EU868": _EU868, "US915": _US915}
# duty cycle of the sub-band the default channels use, in 1/x (100 = 1 %); 0 = no duty cycle
_DUTY = {"EU868": 100, "US915": 0}


def _table(region):
    t = _REGIONS.get(region)
    if t is None:
        raise ValueError("airtime: unknown region %r" % (region,))
    return t


def max_dr(region):
    return len(_table(region)) - 1


def max_payload(region, dr):
    """Largest application payload (bytes) at this data rate."""
    t = _table(region)
    if dr < 0 or dr >= len(t):
        raise ValueError("airtime: no data rate %d in %s" % (dr, region))
    return t[dr][2]


def time_on_air_us(sf, bw_khz, phy_bytes, preamble=8, cr=1, crc=True, explicit=True):
    """Time on air of one LoRa packet in microseconds."""
    if sf < 6 or sf > 12 or phy_bytes < 0 or phy_bytes > 255:
        raise ValueError("airtime: sf %d / %d bytes out of range" % (sf, phy_bytes))
    tsym_us = (1 << sf) * 1000 // bw_khz
    de = 1 if (sf >= 11 and bw_khz == 125) else 0
    num = 8 * phy_bytes - 4 * sf + 28 + (16 if crc else 0) - (0 if explicit else 20)
    den = 4 * (sf - 2 * de)
    n = 0
    if num > 0:
        n = (num + den - 1) // den * (cr + 4)
    symbols_x4 = (preamble * 4 + 17) + (8 + n) * 4  # preamble + 4.25, in quarter symbols
    return symbols_x4 * tsym_us // 4


def frame_ms(region, dr, app_bytes):
    """Time on air (ms, rounded up) of an uplink carrying app_bytes at this data rate."""
    sf, bw, _ = _table(region)[dr]
    return (time_on_air_us(sf, bw, app_bytes + OVERHEAD) + 999) // 1000


def join_ms(region, dr):
    sf, bw, _ = _table(region)[dr]
    return (time_on_air_us(sf, bw, JOIN_REQUEST) + 999) // 1000


class DutyCycle:
    """Sub-band duty cycle: after a transmission of T ms the band is closed for (x - 1) * T."""

    def __init__(self, region):
        self.x = _DUTY[region] if region in _DUTY else 100
        self.free_at = time.ticks_ms()

    def wait_ms(self):
        """Milliseconds until the band may be used again (0: now)."""
        if not self.x:
            return 0
        w = time.ticks_diff(self.free_at, time.ticks_ms())
        if w <= 0 or w > _HOUR_MS:
            # passed; a deadline more than an hour ahead is an old one seen across the tick wrap
            # (the band never closes for longer than 99 x the longest frame: about 5 minutes)
            self.free_at = time.ticks_ms()
            return 0
        return w

    def spend(self, toa_ms):
        if self.x:
            self.free_at = time.ticks_add(time.ticks_ms(), toa_ms * (self.x - 1))


class JoinLimit:
    """LoRaWAN 1.0.3 join-request airtime limits counted from power-up."""

    def __init__(self):
        self.t0 = time.ticks_ms()
        self._age = 0  # ms since power-up, accumulated (ticks wrap after 12.4 days)
        self.used = [0, 0, 0]  # ms spent in phase 0 (1st hour), 1 (next 10 h), 2 (this 24 h window)
        self.window = 0  # index of the current 24 h window in phase 2

    def _phase(self):
        now = time.ticks_ms()
        self._age += time.ticks_diff(now, self.t0)
        self.t0 = now
        age = self._age
        if age < _HOUR_MS:
            return 0, 36000
        if age < 11 * _HOUR_MS:
            return 1, 36000
        w = (age - 11 * _HOUR_MS) // (24 * _HOUR_MS)
        if w != self.window:
            self.window = w
            self.used[2] = 0
        return 2, 8700

    def allows(self, toa_ms):
        p, cap = self._phase()
        return self.used[p] + toa_ms <= cap

    def spend(self, toa_ms):
        p, _ = self._phase()
        self.used[p] += toa_ms


_SLOTS = const(25)  # hourly slots: the current hour and the 24 before it


class FairUse:
    """Airtime budget over any 24 hours (The Things Network's fair-use policy), on the monotonic
    clock: a jump of the wall clock (RTC reset, NTP correction) cannot open a second budget.

    Airtime is counted in 25 hourly slots, so a frame's airtime leaves the window only when at
    least 24 hours have passed. `paced_allows` adds a token bucket that earns the budget evenly
    over the day (plus a burst): a station that sends whenever the pace allows fills each frame
    with the samples that waited meanwhile, instead of spending the budget on the first frames.

    Persisted after every spend (`slot acc_ms tokens_ms s0 .. s24`): time spent powered off is
    not known at the next boot and counts as none, which can only make the budget stricter."""

    def __init__(self, path, budget_ms, burst_ms=0):
        self.path = path
        self.budget_ms = budget_ms
        self.burst_ms = burst_ms
        self.slots = [0] * _SLOTS
        self.slot = 0
        self._acc = 0  # ms into the current slot
        self.tokens = burst_ms
        self.day = 0  # counts 24-hour periods since boot (for once-a-day warnings)
        self._hours = 0
        self._t = time.ticks_ms()
        try:
            with open(path) as f:
                parts = [int(x) for x in f.read().split()]
            if len(parts) == 3 + _SLOTS and 0 <= parts[0] < _SLOTS:
                self.slot, self._acc, self.tokens = parts[0], parts[1], parts[2]
                self.slots = parts[3:]
        except (OSError, ValueError):
            pass

    def _advance(self):
        now = time.ticks_ms()
        dt = time.ticks_diff(now, self._t)
        self._t = now
        if dt <= 0:
            return
        rate_tokens = self.tokens + dt * self.budget_ms // 86400000
        cap = self.burst_ms if self.burst_ms else self.budget_ms
        self.tokens = rate_tokens if rate_tokens < cap else cap
        self._acc += dt
        n = 0
        while self._acc >= _HOUR_MS and n < _SLOTS:
            self._acc -= _HOUR_MS
            self.slot = (self.slot + 1) % _SLOTS
            self.slots[self.slot] = 0
            n += 1
            self._hours += 1
        if n == _SLOTS:
            self._acc %= _HOUR_MS
        self.day = self._hours // 24

    @property
    def used_ms(self):
        self._advance()
        return sum(self.slots)

    def left_ms(self):
        left = self.budget_ms - self.used_ms
        return left if left > 0 else 0

    def allows(self, toa_ms):
        return toa_ms <= self.left_ms()

    def paced_allows(self, toa_ms, burst_ms=None):
        """allows() and the pace's tokens cover the frame."""
        if burst_ms is not None and burst_ms != self.burst_ms:
            self.burst_ms = burst_ms
        if not self.allows(toa_ms):
            return False
        return self.tokens >= toa_ms

    def spend(self, toa_ms):
        import os

        self._advance()
        self.slots[self.slot] += toa_ms
        self.tokens -= toa_ms
        if self.tokens < 0:
            self.tokens = 0
        tmp = self.path + ".tmp"
        try:
            with open(tmp, "w") as f:
                f.write(
                    "%d %d %d %s\n"
                    % (self.slot, self._acc, self.tokens, " ".join(str(x) for x in self.slots))
                )
            os.rename(tmp, self.path)
        except OSError:
            pass  # the in-RAM figure still limits this boot
