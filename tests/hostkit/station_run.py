"""Host-side helpers for uplink tests: run the virtual station, follow its output, decode frames."""

from __future__ import annotations

import re
import subprocess
import threading
import time

from stationctl.mpenv import spawn
from stationctl.payload import decoder as codec
from stationctl.payload.seqnum import unwrap_seq
from stationctl.virtual import vstation


class StationRun:
    """The virtual station (sim/vstation.py) as a subprocess; `on_line(run, line)` sees every line."""

    def __init__(self, args, fs, on_line=None, heapsize="512K"):
        self.lines: list[str] = []
        self.produced: list[int] = []
        self.end: dict[str, str] = {}
        self.journal: dict[str, str] = {}
        self.on_line = on_line
        cmd = vstation.command(*vstation.flags(fresh=True, fs=fs), *args, heapsize=heapsize)
        self.proc = spawn(cmd)
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            seq = vstation.sample_seq(line)
            if seq is not None:
                self.produced.append(seq)
            sim_line = vstation.sim_report(line)
            if sim_line and sim_line[0] == "end":
                self.end = sim_line[1]
            elif sim_line and sim_line[0] == "journal":
                self.journal = sim_line[1]
            if self.on_line:
                self.on_line(self, line)

    def wait(self, timeout=300):
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        self._t.join(10)
        if rc != 0 or not self.end:
            raise AssertionError(f"virtual station exited {rc}:\n" + "\n".join(self.lines[-60:]))
        return self

    def find(self, code: str) -> list[str]:
        pat = re.compile(r"^\s*\d+\.\d+ [DIWE] " + re.escape(code) + r"\b")
        return [ln for ln in self.lines if pat.search(ln)]


def decode_seqs(frames: list[tuple[bytes, int | None]]) -> list[int]:
    """Every sample seq in the frames, in arrival order (duplicates kept).

    Frames carry seq modulo codec.SEQ_MOD; frames arrive oldest first and a resend or a backlog
    never spans half the modulus (the journal holds < 128 records in these tests), so each seq
    is unwrapped to the full number nearest the previous one.
    """
    seqs = []
    prev = 0
    for frame, port in frames:
        for d in codec.decode(frame, port):
            if "seq" in d:
                prev = unwrap_seq(d["seq"], near=prev)
                seqs.append(prev)
    return seqs


def wait_for(pred, timeout=10.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def report(name: str, produced: list[int], seqs: list[int], run: StationRun) -> dict:
    unique = set(seqs)
    figures = {
        "produced": len(set(produced)),
        "delivered": len(unique & set(produced)),
        "duplicates": len(seqs) - len(unique),
        "lost": len(set(produced) - unique),
        "max_journal_depth": int(run.journal.get("max_depth", -1)),
    }
    print(f"{name}: " + " ".join(f"{k}={v}" for k, v in figures.items()))
    return figures
