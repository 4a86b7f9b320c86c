"""`machine` for the simulated USB station (`stationctl sim-device`): what host tools ask of it on
a board, for the unix port, which has no `machine` module.

`reset()` (mpremote reset) power-cycles the simulated board like a hard reset; `soft_reset()`
restarts the interpreter; `RTC().datetime()` reads the virtual clock (mpremote rtc) and, given a
tuple, sets it (mpremote rtc --set): the setting is kept in the flash folder's `.rtc_offset`
(seconds from the host's clock) over resets, and lost on a power cycle, as an RTC kept in RAM
is; `RTC().memory()` is the simulated board's RTC memory. The firmware never uses this module:
its HAL talks to the simulated board (sim/board.py) directly.
"""

import sys
import time

_halt = None  # devboot's marker writer: the front ends this interpreter and starts the next


def reset():
    _halt("reset:hard")


def soft_reset():
    raise SystemExit


def unique_id():
    """The MCU id as bytes, as on a board (the simulated board's uid is its hex text)."""
    import binascii

    return binascii.unhexlify(_board().unique_id())


def _board():
    return sys.modules["sim.board"].current(None)


_RTC_OFFSET_FILE = "/.rtc_offset"  # read by sim/devboot.py, removed at power loss


def _days_from_civil(y, m, d):
    """Days since 1970-01-01 of a proleptic Gregorian date (the host's mktime is local time)."""
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


class RTC:
    def datetime(self, dt=None):
        if dt is not None:
            y, mo, d, _wd, h, mi, s = dt[:7]
            unix_s = _days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s
            time.set_time(unix_s)
            with open(_RTC_OFFSET_FILE, "w") as f:
                f.write(str(unix_s - time.host_time()))
            return None
        t = time.localtime(int(time.time()))
        return (t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0)

    def memory(self, data=None):
        return _board().rtc_memory(data)
