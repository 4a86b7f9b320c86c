"""The station's wall clock: what it knows of absolute time, from where, and since when.

A station boots with an RTC it cannot trust (lost at power-off, or set long ago and drifting).
Whoever learns the time from the network (SNTP on Wi-Fi, the LoRaWAN modem's DeviceTimeReq)
calls `set_wall_time(hal, unix_s, source)`; this module sets the RTC through the HAL and keeps
what the rest of the firmware needs to place samples in time:

- `offset_s()`: unix seconds at uptime 0 of this boot, learnt at the sync, so a sample taken
  before the sync (stamped with its uptime) can be converted: unix = uptime + offset;
- `source`, `syncs` and the last correction (`last_step_s`, how far the RTC was off), for
  diagnostics and the status frame.
"""

import time

import diag

# earliest plausible unix time (2023-11-14): an answer before it is a broken source, not time
_MIN_UNIX_S = 1700000000
_MAX_UNIX_S = 4102444800  # 2100-01-01: beyond it a 32-bit frame time could not carry it

SOURCES = ("sntp", "lorawan", "technician")

_offset_s = None  # unix seconds at uptime 0 of this boot (int), None before the first sync
source = None  # where the last sync came from (one of SOURCES)
syncs = 0  # successful syncs since boot
last_step_s = None  # the last correction: new time minus the RTC's, None if it was not synced
last_sync_uptime_s = None  # uptime of the last sync


def reset():
    """Forget every sync (at boot: a new boot's uptime starts again at 0)."""
    global _offset_s, source, syncs, last_step_s, last_sync_uptime_s
    _offset_s = None
    source = None
    syncs = 0
    last_step_s = None
    last_sync_uptime_s = None


def set_wall_time(hal, unix_s, source_name):
    """Set the station's clock to `unix_s` (unix seconds; pass an int on a board: a single-precision
    float cannot hold today's time to the second) learnt from `source_name` (one of SOURCES). Returns the correction in seconds (the new time minus the
    RTC's) when the clock was synced before, else None. A value that cannot be a time raises
    ValueError and changes nothing."""
    global _offset_s, source, syncs, last_step_s, last_sync_uptime_s
    if source_name not in SOURCES:
        raise ValueError("unknown time source %r" % (source_name,))
    if not isinstance(unix_s, (int, float)) or not _MIN_UNIX_S <= unix_s < _MAX_UNIX_S:
        raise ValueError("implausible time %r from %s" % (unix_s, source_name))
    was_synced = hal.time_synced()
    step = unix_s - time.time() if was_synced else None
    up_ms = diag.uptime_ms()
    hal.set_wall_time(unix_s)
    # integers only: unix seconds need more than a single-precision float's 24 bits
    _offset_s = int(unix_s) - up_ms // 1000
    source = source_name
    syncs += 1
    last_step_s = step
    last_sync_uptime_s = up_ms // 1000
    diag.info(
        "CLOCK.SET",
        None,
        source=source_name,
        unix_s=int(unix_s),
        step_s=None if step is None else round(step, 3),
    )
    return step


def offset_s():
    """Unix seconds at uptime 0 of this boot (learnt at the last sync), or None before it."""
    return _offset_s


def to_unix(uptime_s):
    """The unix time of an uptime of this boot, or None while the clock has not been synced."""
    if _offset_s is None:
        return None
    return int(uptime_s) + _offset_s
