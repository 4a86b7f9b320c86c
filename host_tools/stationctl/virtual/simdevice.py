"""A simulated station on USB serial: unix MicroPython behind a pseudo-terminal.

The unix port already speaks the friendly REPL, the raw REPL and raw-paste mode, and turns Ctrl-C
into KeyboardInterrupt through its terminal (ISIG) in the friendly REPL. What it lacks, this front
provides in front of the interpreter, on the pty master that host tools (stationctl, mpremote,
picocom) open:

* Ctrl-C while code sent through the raw REPL runs (the terminal stays raw there) becomes the
  SIGINT the unix port listens to, as a board's UART interrupt catches it;

* soft reset: when the interpreter exits (Ctrl-D at an empty REPL line, sys.exit()), the front
  prints `MPY: soft reboot`, starts a fresh interpreter that runs the station's `boot.py` and, after
  a friendly-REPL reset, `main.py` from its own flash folder; after a raw-REPL reset the new
  interpreter is put back into the raw REPL, as a board stays in it;
* a USB-serial-like line: `\\n` goes out as `\\r\\n` (what a board's print sends), and bytes move at
  the simulated wire rate (10 bits per byte at `baud`) in both directions, so transfer times are
  those of a real 115200-baud link;
* output nobody reads is dropped after a short time, as a USB CDC device does, instead of
  stalling the firmware.

The interpreter runs on its own inner pty whose line settings keep ISIG (Ctrl-C -> SIGINT while
code runs) and nothing else; MicroPython switches it to raw mode itself while reading the REPL.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import signal
import subprocess
import sys
import termios
import threading
import time
import tty
from dataclasses import dataclass
from pathlib import Path

from stationctl.mpenv import REPO_ROOT, micropython_exe

_MARK = b"\x1b]simdev;"
_RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
_FRIENDLY_BANNER = b'Type "help()" for more information.'
_DEVBOOT = "sim/devboot.py"  # relative: the interpreter starts in REPO_ROOT (no host paths)
_UNREAD_DROP_S = 2.0


def _set_raw(fd: int) -> None:
    tty.setraw(fd, termios.TCSANOW)


def _inner_line_settings(fd: int) -> None:
    attrs = termios.tcgetattr(fd)
    attrs[0] = 0  # iflag: no CR/NL translation, no flow control
    attrs[1] = 0  # oflag: the front does the NL -> CR NL
    attrs[3] = termios.ISIG | termios.NOFLSH  # Ctrl-C raises SIGINT while code runs, keep queues
    attrs[6][termios.VINTR] = 3
    attrs[6][termios.VQUIT] = 0
    attrs[6][termios.VSUSP] = 0
    attrs[6][termios.VMIN] = 1
    attrs[6][termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


class Pacer:
    """Holds a byte stream to `rate` bytes per second."""

    def __init__(self, baud: int):
        self.rate = baud / 10.0
        self.next_t = time.monotonic()

    def wait(self, n: int) -> None:
        now = time.monotonic()
        self.next_t = max(self.next_t, now) + n / self.rate
        delay = self.next_t - now
        if delay > 0.0005:
            time.sleep(delay)


@dataclass
class _PumpState:
    """What _pump carries from one read of the interpreter's output to the next."""

    resume_raw: bool  # this interpreter must come back in the raw REPL (reset from it)
    pending: bytes = b""  # held back: the start of a marker split across reads
    prev: bytes = b""  # last byte sent, for the line-ending translation
    swallow: bool = False  # resuming the raw REPL: output up to its banner is dropped
    tail: bytes = b""  # what was swallowed so far


def split_markers(buf: bytes) -> tuple[list[tuple[str, bytes]], bytes]:
    """Split interpreter output into ("text", bytes) and ("mark", word) items; the rest, which
    may be the start of a marker, is returned to be prefixed to the next read."""
    items: list[tuple[str, bytes]] = []
    while buf:
        i = buf.find(_MARK)
        if i < 0:
            keep = 0  # a partial marker at the end waits for the next read
            for k in range(min(len(_MARK) - 1, len(buf)), 0, -1):
                if _MARK.startswith(buf[-k:]):
                    keep = k
                    break
            if len(buf) > keep:
                items.append(("text", buf[: len(buf) - keep]))
            return items, buf[len(buf) - keep :]
        j = buf.find(b"\x07", i)
        if i:
            items.append(("text", buf[:i]))
        if j < 0:
            return items, buf[i:]
        items.append(("mark", buf[i + len(_MARK) : j]))
        buf = buf[j + 1 :]
    return items, b""


class SimDevice:
    """One simulated station. `start()` returns the port path; `stop()` unplugs it."""

    def __init__(
        self,
        fs: Path,
        board: Path,
        baud: int = 115200,
        speed: float = 1.0,
        uid: str = "5eed0001",
        link: Path | None = None,
        heapsize: str = "512K",
        absent: tuple[str, ...] = (),
        log=None,
    ):
        self.fs = Path(fs).resolve()
        self.board = Path(board).resolve()
        self.baud = baud
        self.speed = speed
        self.uid = uid
        self.link = Path(link) if link else None
        self.heapsize = heapsize
        self.absent = tuple(absent)
        self.log = log or (lambda msg: None)
        self.port = ""
        self.boots = 0
        self.failed = ""
        self._stop = threading.Event()
        self._master = -1
        self._slave = -1
        self._child: subprocess.Popen | None = None
        self._inner = -1
        self._lock = threading.Lock()
        self._wlock = threading.Lock()
        self._hold = True  # host input is held back (interpreter starting, raw REPL resuming)
        self._held = bytearray()
        self._raw_mode = False  # last REPL the interpreter showed was the raw REPL
        self._threads: list[threading.Thread] = []
        self._out_pacer = Pacer(baud)
        self._in_pacer = Pacer(baud)
        self._unread = False
        self._halt_word = ""
        self._intr_pending = False
        self._futex_since: float | None = None
        self._hard = False
        self._release_after = False
        self._mode_tail = b""

    # --- life cycle ---
    def start(self) -> str:
        if not self.board.is_file():
            raise FileNotFoundError(f"board config {self.board} not found")
        self.fs.mkdir(parents=True, exist_ok=True)
        self._master, self._slave = os.openpty()
        _set_raw(self._slave)
        self.port = os.ttyname(self._slave)
        if self.link:
            self.link.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.link.with_name(self.link.name + ".new")
            if tmp.is_symlink() or tmp.exists():
                tmp.unlink()
            os.symlink(self.port, tmp)
            os.replace(tmp, self.link)
        for target in (self._host_rx, self._run):
            t = threading.Thread(target=target, daemon=True)
            t.start()
            self._threads.append(t)
        return str(self.link) if self.link else self.port

    def _kill_interpreters(self, within_s: float = 10.0) -> None:
        """Kill the interpreter until the boot loop has ended. A stop that lands while the loop
        is between two boots (a reset in progress) would otherwise miss the interpreter it spawns
        next: that one kept running on the same flash folder after the unplug and wrote its
        breadcrumbs into the next board's RTC memory (a power-on boot then counted a crash)."""
        runner = self._threads[-1] if self._threads else None
        deadline = time.monotonic() + within_s
        while True:
            child = self._child
            if child and child.poll() is None:
                child.kill()
                child.wait()
            if runner is None or not runner.is_alive() or time.monotonic() > deadline:
                return
            runner.join(timeout=0.1)

    def stop(self) -> None:
        """Unplug: the interpreter dies, the port disappears."""
        self._stop.set()
        self._kill_interpreters()
        if self.link and self.link.is_symlink() and os.readlink(self.link) == self.port:
            self.link.unlink()
        for fd in (self._master, self._slave):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._master = self._slave = -1

    def wait(self) -> None:
        while not self._stop.is_set():
            time.sleep(0.2)

    def _power_lost(self) -> None:
        """RTC memory, the RTC's setting (and the rp2 watchdog scratch registers) are RAM: a power
        cycle (plugging in, hard_reset) clears them, unlike a reset (sim/board.py and
        sim/devmachine.py keep them in these files)."""
        for name in (".rtc_memory", ".rtc_offset", ".rp2_scratch"):
            try:
                (self.fs / name).unlink()
            except FileNotFoundError:
                pass

    def hard_reset(self) -> None:
        """Power-cycle the simulated board (no soft reboot message, reset cause power_on)."""
        child = self._child
        if child and child.poll() is None:
            self._hard = True
            child.kill()

    # --- host -> device ---
    def _host_rx(self) -> None:
        while not self._stop.is_set():
            try:
                r, _, _ = select.select([self._master], [], [], 0.2)
                if not r:
                    continue
                data = os.read(self._master, 64)
            except OSError:
                if self._stop.is_set():
                    return
                time.sleep(0.05)
                continue
            if not data:
                continue
            self._in_pacer.wait(len(data))
            self._deliver(data)

    def _deliver(self, data: bytes) -> None:
        with self._wlock:  # one writer at a time, so held bytes go first and order is kept
            with self._lock:
                if self._hold or self._inner < 0:
                    self._held += data
                    return
                fd = self._inner
            if b"\x03" in data:
                data = self._one_interrupt(fd, data)
            self._write_inner(fd, data)

    def _one_interrupt(self, fd: int, data: bytes) -> bytes:
        """Ctrl-C interrupts running code, as a board's UART interrupt does.

        The friendly REPL runs code with ISIG on (the pty turns Ctrl-C into SIGINT); the raw REPL
        and raw-paste mode run it with the terminal left raw, so the byte would just wait in the
        input queue while the code spins. There the front raises the SIGINT itself, when the
        interpreter has its keyboard-interrupt handler installed (it does only while running
        code; at the REPL SIGINT would kill it) and takes the byte out of the stream, as a board's
        UART interrupt does. A Ctrl-C that arrives before the previous one took effect is dropped:
        a board ignores it, but the unix port exits on a second pending SIGINT."""
        try:
            isig = bool(termios.tcgetattr(fd)[3] & termios.ISIG)
        except termios.error:
            return data
        child = self._child
        raw_run = not isig and child is not None and _catches_sigint(child.pid)
        if not isig and not raw_run:
            self._intr_pending = False
            return data
        out = bytearray()
        for b in data:
            if b == 3:
                if self._intr_pending:
                    continue
                self._intr_pending = True
                if raw_run:
                    os.kill(child.pid, signal.SIGINT)
                    continue
            out.append(b)
        return bytes(out)

    def _write_inner(self, fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view and not self._stop.is_set():
            try:
                n = os.write(fd, view)
                view = view[n:]
            except BlockingIOError:
                select.select([], [fd], [], 0.1)
            except OSError:
                return  # the interpreter is gone; a rebooting board loses its input too

    def _release(self) -> None:
        with self._wlock:
            with self._lock:
                self._hold = False
                data = bytes(self._held)
                self._held.clear()
                fd = self._inner
            if data and fd >= 0:
                self._write_inner(fd, data)

    # --- device -> host ---
    def _emit(self, data: bytes) -> None:
        """Send bytes to the host at the wire rate; drop what nobody reads for a while."""
        view = memoryview(data)
        while view and not self._stop.is_set():
            chunk = view[:64]
            self._out_pacer.wait(len(chunk))
            deadline = time.monotonic() + (0 if self._unread else _UNREAD_DROP_S)
            while chunk:
                try:
                    n = os.write(self._master, chunk)
                    chunk = chunk[n:]
                    self._unread = False
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        self._unread = True
                        return  # nobody is listening: the data is lost, as on USB CDC
                    time.sleep(0.01)
                except OSError:
                    return
            view = view[64:]

    # --- the interpreter ---
    def _spawn(self, mode: str, cause: str) -> subprocess.Popen:
        inner_master, inner_slave = os.openpty()
        _inner_line_settings(inner_slave)
        os.set_blocking(inner_master, False)
        cmd = [
            str(micropython_exe()),
            "-X",
            f"heapsize={self.heapsize}",
            "-i",
            _DEVBOOT,
            str(self.fs),
            str(self.board),
            mode,
            repr(float(self.speed)),
            self.uid,
            cause,
            ",".join(self.absent),
        ]

        def _controlling_tty() -> None:
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        env = dict(os.environ)
        env.pop("MICROPYPATH", None)
        child = subprocess.Popen(
            cmd,
            stdin=inner_slave,
            stdout=inner_slave,
            stderr=inner_slave,
            preexec_fn=_controlling_tty,
            env=env,
            cwd=str(REPO_ROOT),
            close_fds=True,
        )
        os.close(inner_slave)
        with self._lock:
            self._inner = inner_master
            self._hold = True
        return child

    def _run(self) -> None:
        os.set_blocking(self._master, False)
        mode, cause = "friendly", "power_on"
        while not self._stop.is_set():
            self._hard = False
            if cause == "power_on":
                self._power_lost()
            self.boots += 1
            self.log(f"boot {self.boots}: mode={mode} reset={cause}")
            self._child = child = self._spawn(mode, cause)
            self._pump(child, resume_raw=(mode == "raw"))
            child.wait()
            with self._lock:
                fd, self._inner = self._inner, -1
                self._hold = True
                self._held.clear()
            os.close(fd)
            if self._stop.is_set():
                return
            if self._hard:
                mode, cause = "friendly", "power_on"
                continue
            halt, self._halt_word = self._halt_word, ""
            if halt == "fail":
                self.failed = "the simulated board failed to start (see its output)"
                self.log(self.failed)
                self._emit(b"sim-device: the simulated board failed to start\r\n")
                self._stop.set()
                return
            if halt.startswith("reset:"):
                mode, cause = "friendly", halt.split(":", 1)[1]
                continue
            self._emit(b"MPY: soft reboot\r\n")
            mode, cause = ("raw" if self._raw_mode else "friendly"), "soft"

    def _pump(self, child: subprocess.Popen, resume_raw: bool) -> None:
        """Carry one interpreter's output to the host until it exits: markers acted on and
        stripped, the raw-REPL banner of a resumed raw REPL swallowed, line endings cooked."""
        fd = self._inner
        st = _PumpState(resume_raw)
        while True:
            data = self._read_inner(fd, child)
            if data is None:
                return
            if not data:
                continue
            self._intr_pending = False  # the interpreter is alive and talking again
            items, st.pending = split_markers(st.pending + data)
            out = bytearray()
            for kind, value in items:
                if kind == "mark":
                    self._on_marker(value, child, fd, st)
                elif st.swallow:
                    st.tail += value
                else:
                    out += value
            out += self._resume_done(st)
            if out:
                cooked, st.prev = _cook(bytes(out), st.prev)
                self._track_mode(cooked)
                self._emit(cooked)
                if self._release_after:
                    self._release_after = False
                    self._release()

    def _read_inner(self, fd: int, child: subprocess.Popen) -> bytes | None:
        """The interpreter's next output: bytes, b'' when there is none yet, None once it has
        exited (after what it left was read). Kills an interpreter hung in a futex wait, as a
        board's watchdog would reset it."""
        try:
            r, _, _ = select.select([fd], [], [], 0.1)
        except (OSError, ValueError):
            return None
        if not r:
            if self._hung(child):
                self.log("interpreter hung (futex wait): the board's watchdog resets it")
                self._halt_word = "reset:watchdog"
                child.kill()
            if child.poll() is None:
                return b""
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return b"" if r else None  # exited with nothing left to read: done
        except OSError as exc:
            if exc.errno == errno.EIO:
                return None  # slave closed: the interpreter has exited
            raise
        return data or None

    def _on_marker(self, word: bytes, child: subprocess.Popen, fd: int, st: _PumpState) -> None:
        """Act on a marker from sim/devboot.py."""
        if word == b"fail" or word.startswith(b"reset:"):
            with self._lock:
                self._hold = True  # nothing reaches this interpreter any more
            self._halt_word = word.decode()
            child.kill()
        elif word == b"up" and not st.resume_raw:
            self._release()
        elif word == b"repl" and st.resume_raw:
            st.swallow = True
            st.tail = b""
            os.write(fd, b"\x01")  # the board stays in the raw REPL across the reset

    def _resume_done(self, st: _PumpState) -> bytes:
        """While resuming the raw REPL, output is swallowed up to the raw REPL's banner; from the
        banner on it goes to the host again (returned), and held host input is released."""
        if not st.swallow:
            return b""
        k = st.tail.find(_RAW_BANNER)
        if k < 0:
            return b""
        rest = st.tail[k:]
        st.swallow = False
        st.tail = b""
        st.resume_raw = False
        self._raw_mode = True
        self._release_after = True
        return rest

    def _hung(self, child: subprocess.Popen) -> bool:
        """True when the interpreter has waited on a futex for over a second. MicroPython's unix
        port raises KeyboardInterrupt asynchronously (longjmp from the SIGINT handler); when that
        lands inside a C library call holding a lock, the interpreter deadlocks on its next use.
        A board in that state would be reset by its watchdog, and so is this one."""
        try:
            with open(f"/proc/{child.pid}/wchan") as f:
                waiting = f.read().startswith("futex")
        except OSError:
            return False
        now = time.monotonic()
        if not waiting:
            self._futex_since = None
            return False
        if self._futex_since is None:
            self._futex_since = now
        return now - self._futex_since > 1.0

    def _track_mode(self, data: bytes) -> None:
        self._mode_tail = self._mode_tail[-64:] + data
        raw_at = self._mode_tail.rfind(b"raw REPL; CTRL-B to exit")
        friendly_at = self._mode_tail.rfind(_FRIENDLY_BANNER)
        if raw_at > friendly_at:
            self._raw_mode = True
        elif friendly_at > raw_at:
            self._raw_mode = False


def _catches_sigint(pid: int) -> bool:
    """True when the process has a SIGINT handler installed (/proc: SigCgt bit 1)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    except (OSError, ValueError):
        pass
    return False


def _cook(data: bytes, prev: bytes) -> tuple[bytes, bytes]:
    """`\\n` not preceded by `\\r` becomes `\\r\\n` (a board's print); returns (bytes, last byte)."""
    if not data:
        return data, prev
    head = b""
    if prev == b"\r" and data[:1] == b"\n":
        head, data = b"\n", data[1:]
    cooked = head + data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return cooked, cooked[-1:] if cooked else prev


def serve(args) -> int:
    """Command-line entry: print `port: PATH`, run until SIGTERM/SIGINT."""
    dev = SimDevice(
        fs=Path(args.fs),
        board=Path(args.board),
        baud=args.baud,
        speed=args.speed,
        uid=args.uid,
        link=Path(args.link) if args.link else None,
        heapsize=args.heapsize,
        absent=tuple(a for a in args.absent),
    )
    port = dev.start()
    print(f"port: {port}", flush=True)  # always the first line
    if args.verbose:
        dev.log = lambda m: print(f"sim-device: {m}", file=sys.stderr, flush=True)

    def _bye(signum, frame):
        dev.stop()

    signal.signal(signal.SIGTERM, _bye)
    signal.signal(signal.SIGINT, _bye)
    signal.signal(signal.SIGUSR1, lambda s, f: dev.hard_reset())
    dev.wait()
    dev.stop()
    if dev.failed:
        print(f"sim-device: {dev.failed}", file=sys.stderr)
        return 1
    return 0
