"""Reset breadcrumbs, crash-loop detection and safe mode.

Breadcrumbs live in RTC memory (survives resets, not power loss; a small file on the simulated
board): the cycle phase the station was in, why it last went down, the sample sequence number,
and the times of recent unexpected resets. Layout (big-endian, 32 bytes):

    0  u16 magic 0x4353 ("CS")      2  u8 layout version (1)   3  u8 phase (PHASES index)
    4  u32 sequence number          8  u8 reason (REASONS)     9  u8 flags (bit0 safe mode)
   10  u16 boot count              12  u32 safe mode until (unix s, 0 = not in safe mode)
   16  u32 x 4 unexpected reset times (unix s, newest first)

An unexpected reset is a watchdog or brown-out reset, or any reset that happened while the
station was not asleep or idle (a crash, a hang). After `resets` of them within `window_s`, the
station enters safe mode: it does not run its cycle, keeps the REPL and diagnostics for a
technician, sends a status frame if it can, and resumes by itself after `hold_s` (or at once
with `resume()` / the downlink command).
"""

import struct
import time

from micropython import const

_MAGIC = const(0x4353)
_LAYOUT = const(1)
_FMT = ">HBBIBBHIIIII"
_SIZE = const(32)
_FLAG_SAFE = const(1)

PHASES = ("none", "boot", "config", "sense", "encode", "journal", "uplink", "sleep", "safe", "idle")
REASONS = (
    "none",
    "power_on",
    "watchdog",
    "crash",
    "hang",
    "brownout",
    "command",
    "safe_timeout",
    "soft",
    "interrupted",  # stopped with Ctrl-C at the console (a technician or a host tool): not a crash
)

# resets in these phases are expected (the station was between cycles)
_QUIET = ("none", "sleep", "idle", "safe")


class Breadcrumbs:
    def __init__(self, hal):
        self.hal = hal
        self.phase = "none"
        self.seq = 0
        self.reason = "none"
        self.safe = False
        self.boots = 0
        self.safe_until = 0
        self.resets = [0, 0, 0, 0]
        self.valid = False
        self.load()

    def load(self):
        raw = self.hal.rtc_memory()
        if not raw or len(raw) < _SIZE:
            return False
        try:
            f = struct.unpack(_FMT, raw[:_SIZE])
        except ValueError:
            return False
        if f[0] != _MAGIC or f[1] != _LAYOUT or f[2] >= len(PHASES) or f[4] >= len(REASONS):
            return False
        self.phase = PHASES[f[2]]
        self.seq = f[3]
        self.reason = REASONS[f[4]]
        self.safe = bool(f[5] & _FLAG_SAFE)
        self.boots = f[6]
        self.safe_until = f[7]
        self.resets = list(f[8:12])
        self.valid = True
        return True

    def save(self):
        buf = struct.pack(
            _FMT,
            _MAGIC,
            _LAYOUT,
            PHASES.index(self.phase),
            self.seq & 0xFFFFFFFF,
            REASONS.index(self.reason),
            _FLAG_SAFE if self.safe else 0,
            self.boots & 0xFFFF,
            self.safe_until & 0xFFFFFFFF,
            self.resets[0],
            self.resets[1],
            self.resets[2],
            self.resets[3],
        )
        self.hal.rtc_memory(buf)

    def enter(self, phase):
        """Record the cycle phase (cheap: RTC memory is RAM on a board)."""
        self.phase = phase
        self.save()

    def set_reason(self, reason):
        self.reason = reason
        self.save()


class Lifecycle:
    """What happened before this boot, and whether to run the cycle or stay in safe mode."""

    def __init__(self, hal, resets=3, window_s=3600, hold_s=6 * 3600):
        self.hal = hal
        self.max_resets = resets
        self.window_s = window_s
        self.hold_s = hold_s
        self.crumbs = Breadcrumbs(hal)
        self.cause = hal.reset_cause()
        self.last_phase = self.crumbs.phase
        self.last_reason = self.crumbs.reason
        self.unexpected = False

    def on_boot(self):
        """Classify the reset, update the crash-loop window; returns the reset summary dict.

        Runs first at boot, before the config is read: whatever crashes after it (a damaged
        config included) counts towards safe mode. `limits()` applies the config's own limits."""
        c = self.crumbs
        now = time.time()
        if self.cause in ("watchdog", "brownout"):
            self.unexpected = True
            if c.reason in ("none", "soft", "power_on"):
                c.reason = "watchdog" if self.cause == "watchdog" else "brownout"
        elif c.valid and (
            c.reason == "crash"
            or (
                c.phase not in _QUIET and c.reason not in ("command", "safe_timeout", "interrupted")
            )
        ):
            # reset while mid-cycle without a watchdog: the firmware crashed (or was reset by hand)
            self.unexpected = True
            if c.reason in ("none", "soft"):
                c.reason = "crash"
        if not c.valid:
            c.reason = "power_on"
        self.last_reason = c.reason
        if self.unexpected:
            c.resets = [now] + c.resets[:3]
        c.boots += 1
        if c.safe and c.safe_until and now >= c.safe_until:
            c.safe = False  # the hold time passed while we were down
            c.safe_until = 0
        c.phase = "boot"
        c.reason = "none"
        self._decide()  # saves the breadcrumbs
        return {
            "reset": self.cause,
            "last_phase": self.last_phase,
            "last_reason": self.last_reason,
            "unexpected_resets": self._recent(),
        }

    def limits(self, resets, window_s, hold_s):
        """The config's crash-loop limits (read after on_boot): may enter safe mode now."""
        self.max_resets = resets
        self.window_s = window_s
        self.hold_s = hold_s
        self._decide()

    def _decide(self):
        c = self.crumbs
        if not c.safe and self.unexpected and self._recent() >= self.max_resets:
            c.safe = True
            c.safe_until = time.time() + self.hold_s
        c.save()

    def _recent(self):
        now = time.time()
        n = 0
        for t in self.crumbs.resets:
            if t and now - t <= self.window_s:
                n += 1
        return n

    @property
    def safe_mode(self):
        return self.crumbs.safe

    def remaining_s(self):
        return max(0, self.crumbs.safe_until - time.time())

    def resume(self):
        """Leave safe mode now (technician at the REPL, or a downlink command)."""
        self._leave("command")

    def expire(self):
        """The hold time is over: leave safe mode and reset into a normal boot."""
        self._leave("safe_timeout")

    def _leave(self, reason):
        c = self.crumbs
        c.safe = False
        c.safe_until = 0
        c.resets = [0, 0, 0, 0]
        c.reason = reason
        c.phase = "idle"
        c.save()
