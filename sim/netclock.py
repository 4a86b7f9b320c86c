"""Real network waits charged to the virtual clock.

The MQTT uplink talks to a real broker over real sockets. Their waits (a refused connect, a
half-open connection timing out) take real time; the firmware measures its deadlines on the
virtual clock, so every blocking socket call charges the real time it took to virtual time.
A cycle's simulated duration therefore includes its network waits, and a test can assert on it.
Also where the runner can cut the network (`down()`/`up()`): new connections are refused and
open ones fail, as when the provider's link is lost; `link()` is the station's own interface
(a simulated Wi-Fi board's radio, sim/wlan.py).
"""

from sim import vtime

_real = vtime._real
_down = False
_link = (
    True  # the station's own link (sim/wlan.py: False until Wi-Fi is associated with an address)
)
charged_us = 0


def begin():
    if _down or not _link:
        raise OSError(113)  # EHOSTUNREACH: the network is gone
    return _real.ticks_us()


def now():
    """A real-time mark (us) for `charge()`."""
    return _real.ticks_us()


def charge(mark):
    """Charge the real time since `mark` (waits and CPU work alike, the clock's own bookkeeping
    included) to the virtual clock; returns the new mark."""
    global charged_us
    t = _real.ticks_us()
    dt = _real.ticks_diff(t, mark)
    if dt > 0:
        charged_us += dt
        vtime.advance_us(dt)
    return t


def end(t0):
    global charged_us
    dt = _real.ticks_diff(_real.ticks_us(), t0)
    if dt > 0:
        charged_us += dt
        vtime.advance_us(dt)


def down():
    global _down
    _down = True


def up():
    global _down
    _down = False


def link(up_):
    """The station's own interface came up or went down (sim/wlan.py)."""
    global _link
    _link = up_


def is_down():
    return _down
