"""A progress bar for long transfers (deploy, flash): one redrawn line on a terminal, a few
plain lines otherwise (logs, CI)."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, stream=None, width: int = 30):
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.width = width
        self.total = 0
        self.done_bytes = 0
        self.label = ""
        self.t0 = time.monotonic()
        self._last_pct = -1

    def start(self, total: int, label: str = "") -> None:
        self.total = max(1, total)
        self.done_bytes = 0
        self.label = label
        self.t0 = time.monotonic()
        self._last_pct = -1
        self._draw()

    def advance(self, n: int) -> None:
        self.done_bytes = min(self.total, self.done_bytes + n)
        self._draw()

    def _draw(self) -> None:
        pct = int(100 * self.done_bytes / self.total) if self.total else 0
        rate = self.done_bytes / max(1e-6, time.monotonic() - self.t0) / 1024
        if self.tty:
            fill = int(self.width * pct / 100)
            bar = "#" * fill + "." * (self.width - fill)
            self.stream.write(
                f"\r[{bar}] {pct:3d}% {self.done_bytes / 1024:7.1f} KiB {rate:5.1f} KiB/s {self.label}"
            )
            self.stream.flush()
        elif pct // 25 != self._last_pct // 25 or pct == 100 and self._last_pct != 100:
            self.stream.write(f"{pct:3d}% {self.done_bytes} B {rate:.1f} KiB/s {self.label}\n")
            self.stream.flush()
        self._last_pct = pct

    def done(self) -> None:
        self.done_bytes = self.total
        self._draw()
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
