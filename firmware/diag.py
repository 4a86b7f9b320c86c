"""Serial diagnostics: every event is one line `uptime level CODE [subject] key=value ...`.

Example: `   12.345 I SENSE.OK bme280 temp_c=21.43 rh_pct=45.2 p_hpa=1002.1`

Codes are stable (host_tools/stationctl/station/monitor.py parses them; docs/diagnostics.md lists them).
Levels: D debug, I info, W warning, E error. Values that are secrets must never be passed here.
"""

import sys
import time

from micropython import const

DEBUG = const(0)
INFO = const(1)
WARN = const(2)
ERROR = const(3)
_LETTERS = "DIWE"

_t0 = time.ticks_ms()
_min_level = INFO
_out = None  # stream with .write(); None = sys.stdout
_sink = None  # optional callable(line) that also receives every line (tests, status)
counts = [0, 0, 0, 0]


_up_ms = 0  # uptime accumulated in steps: time.ticks_diff is only valid below 2**29 ms (6.2 days)


def reset_uptime():
    """Restart the uptime origin (at boot; the simulated board resets it on a simulated reset)."""
    global _t0, _up_ms
    _t0 = time.ticks_ms()
    _up_ms = 0


def uptime_ms():
    """Milliseconds since boot, correct for any uptime as long as it is read at least once every
    6 days (every diagnostic line and every cycle does): the tick counter wraps every 12.4 days."""
    global _t0, _up_ms
    now = time.ticks_ms()
    _up_ms += time.ticks_diff(now, _t0)
    _t0 = now
    return _up_ms


def uptime_s():
    return uptime_ms() / 1000


def set_level(level):
    global _min_level
    _min_level = level


def configure(level=INFO, out=None, sink=None):
    global _min_level, _out, _sink
    _min_level = level
    _out = out
    _sink = sink


def _fmt(v):
    if isinstance(v, float):
        # compact, stable: up to 3 decimals, no trailing zeros
        s = "%.3f" % v
        s = s.rstrip("0")
        if s.endswith("."):
            s = s[:-1]
        return s
    if isinstance(v, str):
        ctrl = _has_control(v)
        if not v or ctrl or " " in v or "=" in v or '"' in v:
            v = v.replace("\\", "\\\\").replace('"', '\\"')
            return '"' + (_escape_control(v) if ctrl else v) + '"'
        return v
    if v is None:
        return "-"
    return str(v)


def _has_control(text):
    for ch in text:
        if ch < " " or ch == "\x7f":
            return True
    return False


def _escape_control(text):
    """Control characters as \\n, \\r, \\t or \\xNN: a value can never start a line of its own
    (a forged event for the monitor) nor hide part of one."""
    out = []
    for ch in text:
        if ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch < " " or ch == "\x7f":
            out.append("\\x%02x" % ord(ch))
        else:
            out.append(ch)
    return "".join(out)


def _subject(subject):
    s = str(subject)
    return _fmt(s) if _has_control(s) else s


def line(level, code, subject=None, **fields):
    """Build the text of one diagnostic line (without newline)."""
    return _line(level, code, subject, fields)


def _line(level, code, subject, fields):
    parts = ["%9.3f %s %s" % (uptime_s(), _LETTERS[level], code)]
    if subject is not None:
        parts.append(_subject(subject))
    for k in sorted(fields):
        parts.append("%s=%s" % (k, _fmt(fields[k])))
    return " ".join(parts)


def _write(out, level, code, subject, fields):
    # the same text as _line(), written piece by piece: no list of parts, no joined copy
    out.write("%9.3f " % uptime_s())
    out.write(_LETTERS[level])
    out.write(" ")
    out.write(code)
    if subject is not None:
        out.write(" ")
        out.write(_subject(subject))
    for k in sorted(fields):
        out.write(" ")
        out.write(k)
        out.write("=")
        out.write(_fmt(fields[k]))
    out.write("\n")


def log(level, code, subject=None, **fields):
    _log(level, code, subject, fields)


def _log(level, code, subject, fields):
    # fields passed as the dict itself: each **fields hop would copy it
    counts[level] += 1
    if level < _min_level and _sink is None:
        return
    out = _out or sys.stdout
    if _sink is None:
        try:
            _write(out, level, code, subject, fields)
        except MemoryError:
            # a report must never be what brings the station down: say at least the code
            out.write("\n! %s (out of memory while reporting)\n" % code)
        return
    text = _line(level, code, subject, fields)
    _sink(text)
    if level < _min_level:
        return
    out.write(text)
    out.write("\n")


def debug(code, subject=None, **fields):
    _log(DEBUG, code, subject, fields)


def info(code, subject=None, **fields):
    _log(INFO, code, subject, fields)


def warn(code, subject=None, **fields):
    _log(WARN, code, subject, fields)


def error(code, subject=None, **fields):
    _log(ERROR, code, subject, fields)


def exception(code, exc, subject=None, **fields):
    """An error line naming the exception type and message (no traceback on the wire)."""
    fields["exc"] = type(exc).__name__
    msg = str(exc)
    if msg:
        fields["msg"] = msg
    _log(ERROR, code, subject, fields)
