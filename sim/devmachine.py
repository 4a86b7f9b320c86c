"""`machine` for the simulated USB station (`stationctl sim-device`): what host tools ask of it on
a board, for the unix port, which has no `machine` module.

`reset()` (mpremote reset) power-cycles the simulated board like a hard reset; `soft_reset()`
restarts the interpreter; `RTC().datetime()` reads the virtual clock (mpremote rtc). Setting
the RTC is not simulated (the virtual clock follows the host's), and `RTC().memory()` is the
simulated board's RTC memory. The firmware never uses this module: its HAL talks to the
simulated board (sim/board.py) directly.
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


class RTC:
    def datetime(self, dt=None):
        if dt is not None:
            raise OSError(95)  # EOPNOTSUPP: the simulated clock follows the host's
        t = time.localtime(int(time.time()))
        return (t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0)

    def memory(self, data=None):
        return _board().rtc_memory(data)
