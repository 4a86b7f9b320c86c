"""Virtual clock that stands in for the `time` module on the simulated board.

Simulated time advances only through sleeps (and explicit `advance()`), instantly, so a
simulated day runs in seconds. Tick arithmetic wraps like MicroPython's (ticks period 2**30),
so code that gets `ticks_diff` wrong fails here as it would on a board after 12.4 days.

`install()` puts this module into sys.modules['time']; every later `import time` in firmware
and drivers gets the virtual clock.
"""

import sys
import time as _real

_PERIOD = 1 << 30
_MASK = _PERIOD - 1
_HALF = _PERIOD >> 1

_now_us = 0  # virtual microseconds since the simulation started
_epoch_s = 1700000000  # true unix time at _now_us == 0 (the world's: the network server's)
# The station's RTC (`time()`): set to _rtc_set_us (unix microseconds) at _rtc_at_us, then running
# _drift_ppm fast (negative: slow). Ticks (ticks_ms, uptime) stay true: the drift is the wall
# clock's, which the station corrects by network time.
_rtc_set_us = _epoch_s * 1000000
_rtc_at_us = 0
_drift_ppm = 0
_hooks = []  # callables(now_us) run after each advance (models with timers, fault plans)
_timers = []  # [at_us, fn]: one-shot deadlines (watchdog, safe-mode timer)
_real_sleep_factor = 0.0  # >0: sleeps also take that fraction of real time (sim-device)


def install(epoch_s=None):
    """Make `import time` return this module; optionally set the unix time of t=0."""
    global _epoch_s
    if epoch_s is not None:
        _epoch_s = int(epoch_s)
        _set_rtc_true()
    sys.modules["time"] = sys.modules[__name__]


def reset(epoch_s=None, now_us=0):
    global _now_us, _epoch_s, _drift_ppm
    _now_us = now_us
    _drift_ppm = 0
    if epoch_s is not None:
        _epoch_s = int(epoch_s)
    _set_rtc_true()
    del _hooks[:]
    del _timers[:]


def _set_rtc_true():
    global _rtc_set_us, _rtc_at_us
    _rtc_set_us = _epoch_s * 1000000 + _now_us
    _rtc_at_us = _now_us


def set_drift_ppm(ppm):
    """Let the station's RTC run `ppm` parts per million fast (negative: slow) from now on."""
    global _rtc_set_us, _rtc_at_us, _drift_ppm
    _rtc_set_us = rtc_us()
    _rtc_at_us = _now_us
    _drift_ppm = ppm


def drift_ppm():
    return _drift_ppm


def true_time_us(at_us=None):
    """The true unix time in microseconds (the simulated world's, not the station's RTC), now or
    at the virtual instant `at_us`."""
    return _epoch_s * 1000000 + (_now_us if at_us is None else at_us)


def true_time():
    return true_time_us() / 1000000


def rtc_us():
    """The station RTC's unix time in microseconds (drifting)."""
    el = _now_us - _rtc_at_us
    return _rtc_set_us + el + int(el * _drift_ppm) // 1000000


def clock_error_s():
    """How far the station's RTC is ahead of the true time, in seconds."""
    return (rtc_us() - true_time_us()) / 1000000


def add_hook(fn):
    _hooks.append(fn)


def remove_hook(fn):
    if fn in _hooks:
        _hooks.remove(fn)


def set_real_sleep_factor(f):
    global _real_sleep_factor
    _real_sleep_factor = f


def now_us():
    return _now_us


def now_s():
    return _now_us / 1000000


def add_timer(at_us, fn):
    """Call fn(now_us) when virtual time reaches at_us; time stops there first (a watchdog fires
    at its deadline even inside one long sleep). Returns the timer; cancel with remove_timer."""
    t = [int(at_us), fn]
    _timers.append(t)
    return t


def remove_timer(t):
    if t in _timers:
        _timers.remove(t)


def advance_us(us):
    global _now_us
    if us <= 0:
        return
    target = _now_us + int(us)
    while _timers:
        first = _timers[0]
        for t in _timers:
            if t[0] < first[0]:
                first = t
        if first[0] > target:
            break
        _timers.remove(first)
        if first[0] > _now_us:
            _now_us = first[0]
        first[1](_now_us)  # may raise (a reset unwinds the firmware)
    _now_us = target
    if _real_sleep_factor:
        _real.sleep_us(int(us * _real_sleep_factor))
    if _hooks:
        from sim import heap

        for fn in _hooks:
            heap.call(fn, _now_us)


def advance_ms(ms):
    advance_us(ms * 1000)


def set_time(unix_s):
    """Set the station's RTC (a set by the firmware, or an injected clock jump) to `unix_s`
    (seconds, may have a fraction); ticks and the true time are unaffected."""
    global _rtc_set_us, _rtc_at_us
    _rtc_set_us = int(unix_s * 1000000)
    _rtc_at_us = _now_us


def host_time():
    """The host's own clock (unix seconds), whatever the simulated one reads."""
    return _real.time()


# --- the `time` module API -------------------------------------------------------------------


def ticks_ms():
    return (_now_us // 1000) & _MASK


def ticks_us():
    return _now_us & _MASK


def ticks_cpu():
    return _now_us & _MASK


def ticks_add(ticks, delta):
    return (ticks + delta) & _MASK


def ticks_diff(end, start):
    return ((end - start + _HALF) & _MASK) - _HALF


def sleep_ms(ms):
    advance_us(int(ms) * 1000)


def sleep_us(us):
    advance_us(int(us))


def sleep(s):
    advance_us(int(s * 1000000))


def time():
    return rtc_us() // 1000000


def time_ns():
    return rtc_us() * 1000


def gmtime(secs=None):
    return _real.gmtime(time() if secs is None else secs)


def localtime(secs=None):
    return _real.gmtime(time() if secs is None else secs)


def mktime(t):
    return _real.mktime(t)
