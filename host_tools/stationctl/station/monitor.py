"""Read a station's serial diagnostics: parse, colour, timestamp, log, keep a live status.

A diagnostics line (firmware/diag.py) is `uptime level CODE [subject] key=value ...`, e.g.
`   12.345 I SENSE.OK bme280 temp_c=21.43`. Values with spaces are double-quoted with `\\"`
escapes. Anything else on the line (tracebacks, REPL banners, `MPY: soft reboot`) is passed
through as text; tracebacks are highlighted and counted, and a REPL prompt or `BOOT.FAILED` is
reported as "firmware not running" (a silent station is otherwise just waiting for its next
sample). A restart is noticed from a BOOT line or from the uptime going backwards.
"""

from __future__ import annotations

import datetime
import json
import re
import time
from dataclasses import dataclass, field

_LINE = re.compile(r"^\s*(\d+\.\d+)\s+([DIWE])\s+([A-Z][A-Z0-9_.]*)(?:\s+(.*))?$")
# a diagnostics line glued behind bytes the port caught while the board reset (ROM boot noise)
_LINE_INSIDE = re.compile(r"\s(\s*\d+\.\d+\s+[DIWE]\s+[A-Z][A-Z0-9_.]*(?:\s+.*)?)$")
LEVELS = {"D": "debug", "I": "info", "W": "warning", "E": "error"}
LEVEL_ORDER = "DIWE"
COLOURS = {"D": "\x1b[2m", "I": "", "W": "\x1b[33m", "E": "\x1b[31;1m"}
TRACEBACK_COLOUR = "\x1b[35;1m"
RESET = "\x1b[0m"
TRACEBACK_START = "Traceback (most recent call last):"
_TRACEBACK_END = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*(Error|Exception|Interrupt|Exit)\b")
REPL_PROMPT = b">>> "


def _value(text: str):
    if text == "-":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _tokens(rest: str) -> list[str]:
    """Split `subject k=v k="quoted \\" text"` into tokens, unquoting values."""
    out = []
    i, n = 0, len(rest)
    while i < n:
        while i < n and rest[i] == " ":
            i += 1
        if i >= n:
            break
        tok = []
        quoted = False
        while i < n and (rest[i] != " " or quoted):
            c = rest[i]
            if c == '"':
                quoted = not quoted
            elif c == "\\" and quoted and i + 1 < n:
                i += 1
                tok.append(rest[i])
            else:
                tok.append(c)
            i += 1
        out.append("".join(tok))
    return out


@dataclass
class DiagLine:
    uptime_s: float
    level: str
    code: str
    subject: str | None
    fields: dict

    def to_json(self) -> dict:
        return {
            "uptime_s": self.uptime_s,
            "level": self.level,
            "code": self.code,
            "subject": self.subject,
            "fields": self.fields,
        }


def parse_line(line: str) -> DiagLine | None:
    m = _LINE.match(line)
    if not m:
        inside = _LINE_INSIDE.search(line)
        if inside is None or inside.start() == 0:
            return None
        m = _LINE.match(inside.group(1))
        if not m:
            return None
    subject = None
    fields = {}
    for i, tok in enumerate(_tokens(m.group(4) or "")):
        key, sep, val = tok.partition("=")
        if sep and key and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            fields[key] = _value(val)
        elif i == 0 and subject is None:
            subject = tok
        else:
            return None  # not a diagnostics line after all
    return DiagLine(float(m.group(1)), m.group(2), m.group(3), subject, fields)


@dataclass
class Status:
    """What a field technician wants at a glance."""

    connected: bool = False
    boots: int = 0
    reset: str | None = None
    station: str | None = None
    last_sample: dict = field(default_factory=dict)
    last_sample_at: str | None = None
    uplink: str | None = None
    journal_pending: int | None = None
    warnings: int = 0
    errors: int = 0
    last_fault: str | None = None
    lines: int = 0
    tracebacks: int = 0
    restarts: int = 0
    firmware: str = "?"  # running | not running (why)
    uptime_s: float | None = None

    def update(self, d: DiagLine, host_time: str) -> str | None:
        """Take one diagnostics line; returns a restart noticed only from the uptime, if any."""
        self.lines += 1
        noticed = None
        if d.code != "BOOT" and self.uptime_s is not None and d.uptime_s + 1.0 < self.uptime_s:
            self.restarts += 1
            noticed = f"uptime went back from {self.uptime_s:g} s to {d.uptime_s:g} s"
        self.uptime_s = d.uptime_s
        if d.code == "BOOT.FAILED":
            self.firmware = "not running (BOOT.FAILED: redeploy)"
        elif d.code == "SAFE.ENTER" or d.code == "SAFE.ACTIVE":
            self.firmware = "safe mode (cycle not running)"
        else:
            self.firmware = "running"
        if d.level == "W":
            self.warnings += 1
        if d.level == "E":
            self.errors += 1
        if d.level in "WE":
            self.last_fault = d.code + (f" {d.subject}" if d.subject else "")
        f = d.fields
        if d.code == "BOOT":
            self.boots += 1
            if self.boots > 1:
                self.restarts += 1
            self.reset = f.get("reset", self.reset)
            self.station = f.get("station", self.station)
        elif d.code == "SAMPLE":
            self.last_sample = {k: v for k, v in f.items() if k not in ("health",)}
            self.last_sample_at = host_time
        if "pending" in f and d.code.startswith(("DELIVERY", "JOURNAL")):
            self.journal_pending = f["pending"]
        if d.code.startswith(("UPLINK", "MQTT", "LORAWAN", "DELIVERY")):
            state = f"{d.code} {d.subject}" if d.subject else d.code
            self.uplink = state if d.level == "I" else f"{state} ({LEVELS[d.level]})"
        return noticed

    def line(self) -> str:
        s = self.last_sample
        parts = []
        for key, label, unit in (
            ("temperature_c", "T", "C"),
            ("humidity_pct", "RH", "%"),
            ("pressure_hpa", "p", "hPa"),
            ("co2_ppm", "CO2", "ppm"),
            ("pm2_5_ugm3", "PM2.5", ""),
        ):
            if isinstance(s.get(key), (int, float)):
                parts.append(f"{label}={s[key]:g}{unit}")
        sample = " ".join(parts) or "no sample yet"
        seq = f"#{s['seq']} " if "seq" in s else ""
        return (
            f"[{'online' if self.connected else 'OFFLINE'}] {self.station or '?'} "
            f"boots={self.boots} reset={self.reset or '?'} | {seq}{sample} | "
            f"uplink={self.uplink or '?'} journal={self.journal_pending if self.journal_pending is not None else '?'}"
            f" | warn={self.warnings} err={self.errors}"
            + (f" tracebacks={self.tracebacks}" if self.tracebacks else "")
            + (f" firmware={self.firmware}" if self.firmware not in ("?", "running") else "")
            + (f" last={self.last_fault}" if self.last_fault else "")
        )

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


class Monitor:
    """Feeds bytes in, writes lines out. `clock()` gives the host timestamp text."""

    def __init__(
        self,
        out,
        json_mode=False,
        colour=False,
        log=None,
        live_status=False,
        min_level: str = "D",
        codes: tuple[str, ...] = (),
    ):
        self.out = out
        self.json = json_mode
        self.colour = colour
        self.log = log
        self.live = live_status
        self.min_level = min_level
        self.codes = tuple(codes)  # code prefixes to show (empty: all)
        self.status = Status()
        self._buf = b""
        self._status_shown = False
        self._in_traceback = False

    def clock(self) -> str:
        """Host time: the time of day on a terminal; date, time and zone offset in JSON."""
        now = datetime.datetime.now().astimezone()
        if self.json:
            return now.isoformat(timespec="milliseconds")
        return now.strftime("%H:%M:%S.") + f"{now.microsecond // 1000:03d}"

    def _shown(self, d: DiagLine | None) -> bool:
        if d is None:
            return not self.codes and self.min_level == "D"
        if LEVEL_ORDER.index(d.level) < LEVEL_ORDER.index(self.min_level):
            return False
        return not self.codes or d.code.startswith(self.codes)

    def _write(self, text: str) -> None:
        if self._status_shown:
            self.out.write("\r\x1b[K")
            self._status_shown = False
        self.out.write(text + "\n")
        if self.live:
            self.out.write(self.status.line())
            self._status_shown = True
        self.out.flush()

    def _log(self, text: str) -> None:
        if self.log:
            self.log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime())}Z {text}\n")
            self.log.flush()

    def event(self, name: str, detail: str = "") -> None:
        if name in ("connected", "reconnected", "disconnected", "waiting"):
            self.status.connected = name in ("connected", "reconnected")
        self._log(f"[monitor] {name} {detail}".rstrip())
        if self.json:
            self._write(
                json.dumps(
                    {"host_time": self.clock(), "kind": "event", "event": name, "detail": detail}
                )
            )
        else:
            self._write(f"{self.clock()} [monitor] {name} {detail}".rstrip())

    def feed(self, data: bytes) -> None:
        self._buf += data
        while b"\n" in self._buf:
            raw, self._buf = self._buf.split(b"\n", 1)
            self.line(raw.rstrip(b"\r").decode("utf-8", errors="replace"))
        if self._buf.endswith(REPL_PROMPT) and self.status.firmware != "not running (REPL)":
            # the prompt has no newline: a station sitting at it runs no cycle at all
            self.status.firmware = "not running (REPL)"
            self.event("firmware-not-running", "the station is at the MicroPython REPL prompt")

    def lost_link(self) -> None:
        """The port went away: bytes of a half-received line must not glue onto the next boot."""
        self._buf = b""
        self._in_traceback = False

    def line(self, text: str) -> None:
        text = "".join(c for c in text if c >= " " or c == "\t")  # no terminal control bytes
        if not text.strip():
            return
        host = self.clock()
        self._log(text)
        d = parse_line(text)
        traceback = self._traceback_line(text, d)
        if d:
            before = self.status.firmware
            restart = self.status.update(d, host)
            if restart:
                self.event("restart", restart)
            if self.status.firmware != before and self.status.firmware.startswith("not"):
                self.event("firmware-not-running", d.code)
        if not traceback and not self._shown(d):
            return
        if self.json:
            obj = {"host_time": host, "kind": "diag" if d else "text"}
            if d:
                obj.update(d.to_json())
            else:
                obj["text"] = text
            if traceback:
                obj["traceback"] = True
            self._write(json.dumps(obj))
            return
        if traceback and self.colour:
            self._write(f"{host} {TRACEBACK_COLOUR}{text}{RESET}")
        elif d and self.colour and COLOURS[d.level]:
            self._write(f"{host} {COLOURS[d.level]}{text.strip()}{RESET}")
        else:
            self._write(f"{host} {text.strip() if d else text}")

    def _traceback_line(self, text: str, d: DiagLine | None) -> bool:
        """Is this line part of a traceback? Counts each traceback once, at its first line."""
        if text.startswith(TRACEBACK_START):
            self.status.tracebacks += 1
            self._in_traceback = True
            return True
        if not self._in_traceback or d is not None:
            self._in_traceback = False
            return False
        if text.startswith((" ", "\t")):
            return True
        self._in_traceback = False
        return bool(_TRACEBACK_END.match(text))  # the exception line closes it

    def finish(self) -> None:
        if self._status_shown:
            self.out.write("\r\x1b[K")
            self._status_shown = False
        if self.json:
            self.out.write(
                json.dumps({"host_time": self.clock(), "kind": "status", **self.status.to_json()})
                + "\n"
            )
        else:
            self.out.write("status: " + self.status.line() + "\n")
        self.out.flush()
