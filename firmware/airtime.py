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
        return w if w > 0 else 0

    def spend(self, toa_ms):
        if self.x:
            self.free_at = time.ticks_add(time.ticks_ms(), toa_ms * (self.x - 1))


class JoinLimit:
    """LoRaWAN 1.0.3 join-request airtime limits counted from power-up."""

    def __init__(self):
        self.t0 = time.ticks_ms()
        self.used = [0, 0, 0]  # ms spent in phase 0 (1st hour), 1 (next 10 h), 2 (this 24 h window)
        self.window = 0  # index of the current 24 h window in phase 2

    def _phase(self):
        age = time.ticks_diff(time.ticks_ms(), self.t0)
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


class FairUse:
    """Daily airtime budget, persisted in a small file (`<day> <used_ms>`) after every spend."""

    def __init__(self, path, budget_ms, day_fn=None):
        self.path = path
        self.budget_ms = budget_ms
        self._day_fn = day_fn or _utc_day
        self.day = self._day_fn()
        self.used_ms = 0
        try:
            with open(path) as f:
                parts = f.read().split()
            if len(parts) == 2 and int(parts[0]) == self.day:
                self.used_ms = int(parts[1])
        except (OSError, ValueError):
            pass

    def _roll(self):
        d = self._day_fn()
        if d != self.day:
            self.day = d
            self.used_ms = 0

    def left_ms(self):
        self._roll()
        left = self.budget_ms - self.used_ms
        return left if left > 0 else 0

    def allows(self, toa_ms):
        return toa_ms <= self.left_ms()

    def paced_allows(self, toa_ms, burst_ms):
        """Spread the day's budget over the day: by second s of the UTC day at most
        budget * s / 86400 + burst_ms may have been spent. A station that sends whenever the
        pace allows fills each frame with the samples that waited meanwhile, so at SF12 a frame
        carries many samples instead of the budget going to the first frames of the day."""
        if not self.allows(toa_ms):
            return False
        s = time.time() % 86400
        earned = self.budget_ms * s // 86400 + burst_ms
        if earned > self.budget_ms:
            earned = self.budget_ms
        return self.used_ms + toa_ms <= earned

    def spend(self, toa_ms):
        import os

        self._roll()
        self.used_ms += toa_ms
        tmp = self.path + ".tmp"
        try:
            with open(tmp, "w") as f:
                f.write("%d %d\n" % (self.day, self.used_ms))
            os.rename(tmp, self.path)
        except OSError:
            pass  # the in-RAM figure still limits this boot


def _utc_day():
    return time.time() // 86400
