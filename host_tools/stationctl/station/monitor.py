"""Read a station's serial diagnostics: parse, colour, timestamp, log, keep a live status.

A diagnostics line (firmware/diag.py) is `uptime level CODE [subject] key=value ...`, e.g.
`   12.345 I SENSE.OK bme280 temp_c=21.43`. Values with spaces are double-quoted with `\\"`
escapes. Anything else on the line (tracebacks, REPL banners, `MPY: soft reboot`) is passed
through as text.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field

_LINE = re.compile(r"^\s*(\d+\.\d+)\s+([DIWE])\s+([A-Z][A-Z0-9_.]*)(?:\s+(.*))?$")
LEVELS = {"D": "debug", "I": "info", "W": "warning", "E": "error"}
COLOURS = {"D": "\x1b[2m", "I": "", "W": "\x1b[33m", "E": "\x1b[31;1m"}
RESET = "\x1b[0m"


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

    def update(self, d: DiagLine, host_time: str) -> None:
        self.lines += 1
        if d.level == "W":
            self.warnings += 1
        if d.level == "E":
            self.errors += 1
        if d.level in "WE":
            self.last_fault = d.code + (f" {d.subject}" if d.subject else "")
        f = d.fields
        if d.code == "BOOT":
            self.boots += 1
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
            + (f" last={self.last_fault}" if self.last_fault else "")
        )

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


class Monitor:
    """Feeds bytes in, writes lines out. `clock()` gives the host timestamp text."""

    def __init__(self, out, json_mode=False, colour=False, log=None, live_status=False):
        self.out = out
        self.json = json_mode
        self.colour = colour
        self.log = log
        self.live = live_status
        self.status = Status()
        self._buf = b""
        self._status_shown = False

    @staticmethod
    def clock() -> str:
        t = time.time()
        return time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t * 1000) % 1000:03d}"

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

    def line(self, text: str) -> None:
        text = "".join(c for c in text if c >= " " or c == "\t")  # no terminal control bytes
        if not text.strip():
            return
        host = self.clock()
        self._log(text)
        d = parse_line(text)
        if d:
            self.status.update(d, host)
        if self.json:
            obj = {"host_time": host, "kind": "diag" if d else "text"}
            if d:
                obj.update(d.to_json())
            else:
                obj["text"] = text
            self._write(json.dumps(obj))
            return
        if d and self.colour and COLOURS[d.level]:
            self._write(f"{host} {COLOURS[d.level]}{text.strip()}{RESET}")
        else:
            self._write(f"{host} {text.strip() if d else text}")

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
