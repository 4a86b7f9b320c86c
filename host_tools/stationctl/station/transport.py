"""The one way stationctl talks to a station: a Transport over its USB serial REPL.

`Transport` is the seam (exec code, evaluate an expression, soft reset, read the raw stream);
`SerialTransport` implements it with pyserial for a board on /dev/ttyUSB0 and for the simulated
station of `stationctl sim-device` alike, so both are one code path. Errors follow mpremote's
shape: `TransportError` for link/protocol trouble, `TransportExecError` when code on the station
raised (its traceback in `error_output`).

The raw REPL protocol (Ctrl-A raw REPL, `OK`, output, 0x04, error output, 0x04, `>`) and its
raw-paste extension (Ctrl-E `A` 0x01, answered `R` 0x01 + window size; the station sends 0x01
whenever another window may be sent; 0x04 ends) are MicroPython's documented REPL protocol.
"""

from __future__ import annotations

import ast
import errno
import os
import struct
import time
from collections.abc import Callable

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
SOFT_REBOOT = b"soft reboot\r\n"


class TransportError(Exception):
    """The station could not be reached or did not follow the REPL protocol."""


class TransportExecError(TransportError):
    """Code sent to the station raised; `error_output` holds the station's traceback."""

    def __init__(self, output: bytes, error_output: str):
        self.output = output
        self.error_output = error_output
        last = error_output.strip().splitlines()[-1] if error_output.strip() else "error"
        super().__init__(last)


class PortBusyError(TransportError):
    """Another program holds the serial port."""


class Transport:
    """Base: everything above the byte link. Subclasses provide _write/_read/in_waiting/close."""

    in_raw_repl = False
    use_raw_paste = True

    # --- byte link (subclasses provide _raw_write, _raw_read, _raw_in_waiting, close) ---
    _rx = b""

    def _raw_write(self, data: bytes) -> None:
        raise NotImplementedError

    def _raw_read(self, n: int) -> bytes:
        """Up to n bytes, waiting at most a short poll interval; b'' when none arrived."""
        raise NotImplementedError

    def _raw_in_waiting(self) -> int:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _write(self, data: bytes) -> None:
        self._raw_write(data)

    def _fill(self) -> bool:
        chunk = self._raw_read(max(1, self._raw_in_waiting()))
        if chunk:
            self._rx += chunk
            return True
        return False

    def _in_waiting(self) -> int:
        return len(self._rx) or self._raw_in_waiting()

    def _take(self, n: int) -> bytes:
        data, self._rx = self._rx[:n], self._rx[n:]
        return data

    def read_until(self, ending: bytes, timeout: float = 10.0, on_data=None) -> bytes:
        """Read until `ending` (returned data includes it); TransportError after `timeout` s
        without any byte arriving."""
        last = time.monotonic()
        scanned = 0
        while True:
            i = self._rx.find(ending, max(0, scanned - len(ending)))
            if i >= 0:
                data = self._take(i + len(ending))
                if on_data:
                    on_data(data[scanned:])
                return data
            if on_data and len(self._rx) > scanned:
                on_data(self._rx[scanned:])
            scanned = len(self._rx)
            if self._fill():
                last = time.monotonic()
            elif time.monotonic() - last > timeout:
                raise TransportError(
                    f"station did not answer within {timeout:g} s (waiting for {ending!r}, "
                    f"got {self._rx[-80:]!r})"
                )

    def read_exact(self, n: int, timeout: float = 10.0) -> bytes:
        last = time.monotonic()
        while len(self._rx) < n:
            if self._fill():
                last = time.monotonic()
            elif time.monotonic() - last > timeout:
                raise TransportError(f"station stopped answering (got {self._rx!r})")
        return self._take(n)

    def drain(self, quiet_s: float = 0.05) -> bytes:
        """Read and return whatever arrives until the line is quiet for `quiet_s`."""
        last = time.monotonic()
        while time.monotonic() - last < quiet_s:
            if self._fill():
                last = time.monotonic()
        return self._take(len(self._rx))

    # --- REPL ---
    def interrupt(self) -> None:
        """Ctrl-C: stop the running firmware (the station's main.py)."""
        self._write(b"\r\x03")

    def enter_raw_repl(self, soft_reset: bool = False, timeout: float = 10.0) -> None:
        """Stop the firmware and enter the raw REPL; with soft_reset the station restarts
        (boot.py runs, main.py does not) and stays in the raw REPL."""
        self.interrupt()
        self.drain(0.1)
        self._write(b"\r\x01")
        try:
            try:
                self.read_until(RAW_BANNER + b">", timeout=min(2.0, timeout))
            except TransportError:
                # firmware that swallowed the first Ctrl-C, or was deep in a blocking call
                self._write(b"\r\x03")
                self.drain(0.1)
                self._write(b"\r\x01")
                self.read_until(RAW_BANNER + b">", timeout=timeout)
            if soft_reset:
                self._write(b"\x04")
                self.read_until(SOFT_REBOOT, timeout=timeout)
                self.read_until(RAW_BANNER + b">", timeout=timeout)
        except TransportError as exc:
            raise TransportError(
                f"could not enter the raw REPL: {exc}. The station may be busy with "
                "interrupts disabled, running a very long boot.py, or not be MicroPython at all "
                "(flash it with `stationctl flash`)."
            ) from None
        self.in_raw_repl = True
        self._prompt_pending = False

    def exit_raw_repl(self) -> None:
        self._write(b"\r\x02")
        self.in_raw_repl = False

    def soft_reset(self, run_main: bool = True, timeout: float = 10.0) -> bytes:
        """Restart the station's interpreter. With run_main, from the friendly REPL so that
        main.py (the firmware) runs again, as after power-on. Returns what the reset printed."""
        if not run_main:
            self.enter_raw_repl(soft_reset=True, timeout=timeout)
            return b""
        if self.in_raw_repl:
            self.exit_raw_repl()
        else:
            self.interrupt()
        self.drain(0.2)
        self._write(b"\x04")
        out = self.read_until(SOFT_REBOOT, timeout=timeout)
        self.in_raw_repl = False
        return out

    def _exec_raw_paste(self, code: bytes, timeout: float) -> bool:
        """Send code in raw-paste mode; False when the station does not support it."""
        self._write(b"\x05A\x01")
        head = self.read_exact(2, timeout)
        if head == b"R\x00":
            return False
        if head != b"R\x01":
            # an old station answers with the raw REPL banner; resynchronise on its prompt
            self.read_until(b"w REPL; CTRL-B to exit\r\n>", timeout=timeout)
            return False
        window = struct.unpack("<H", self.read_exact(2, timeout))[0]
        remain = window
        i = 0
        n = len(code)
        while i < n:
            while remain == 0 or self._in_waiting():
                b = self.read_exact(1, timeout)
                if b == b"\x01":
                    remain += window
                elif b == b"\x04":
                    # the station ended the paste early (e.g. interrupted): acknowledge
                    self._write(b"\x04")
                    return True
                else:
                    raise TransportError(f"unexpected byte during raw paste: {b!r}")
            chunk = code[i : i + remain]
            self._write(chunk)
            i += len(chunk)
            remain -= len(chunk)
        self._write(b"\x04")
        self.read_until(b"\x04", timeout=timeout)
        return True

    def exec_start(self, code: str | bytes, timeout: float = 10.0) -> None:
        """Send code to the raw REPL and return once the station runs it, without reading its
        output: the caller may talk to the running code (write_raw / read_exact), then calls
        follow()."""
        if not self.in_raw_repl:
            self.enter_raw_repl()
        data = code.encode() if isinstance(code, str) else code
        if getattr(self, "_prompt_pending", True):
            self.read_until(b">", timeout=timeout)
        self._prompt_pending = True
        if self.use_raw_paste:
            if self._exec_raw_paste(data, timeout):
                return
            self.use_raw_paste = False
        for i in range(0, len(data), 256):
            self._write(data[i : i + 256])
            time.sleep(0.01)
        self._write(b"\x04")
        ok = self.read_exact(2, timeout)
        if ok != b"OK":
            raise TransportError(f"station refused the command (answer {ok!r})")

    def follow(self, timeout: float = 10.0, on_output: Callable | None = None):
        """(stdout, error output) of the command started last."""
        out = self.read_until(b"\x04", timeout=timeout, on_data=on_output)[:-1]
        err = self.read_until(b"\x04", timeout=timeout)[:-1]
        return out, err

    def write_raw(self, data: bytes) -> None:
        """Bytes to the running code's stdin."""
        self._write(data)

    def exec_raw(
        self, code: str | bytes, timeout: float = 10.0, on_output: Callable | None = None
    ) -> tuple[bytes, bytes]:
        """Run code in the raw REPL; returns (stdout, error output)."""
        self.exec_start(code, timeout)
        return self.follow(timeout, on_output)

    def exec(self, code: str | bytes, timeout: float = 10.0, on_output=None) -> bytes:
        out, err = self.exec_raw(code, timeout, on_output)
        if err:
            raise TransportExecError(out, err.decode(errors="replace"))
        return out

    def eval(self, expression: str, timeout: float = 10.0):
        """Evaluate an expression on the station and return it as a Python literal."""
        out = self.exec(f"print(repr({expression}))", timeout)
        return ast.literal_eval(out.decode().strip())

    # --- passive reading (monitor) ---
    def read_some(self, n: int = 4096) -> bytes:
        if not self._rx:
            self._fill()
        return self._take(n)


class SerialTransport(Transport):
    """A station on a serial port (USB CDC, USB-UART bridge or the simulated station's pty)."""

    def __init__(self, port: str, baud: int = 115200, exclusive: bool = True):
        import serial

        self.port = port
        try:
            self.serial = serial.Serial(
                port, baudrate=baud, timeout=0.02, write_timeout=10, exclusive=exclusive
            )
        except serial.SerialException as exc:
            raise _explain_open_error(port, exc) from None
        self._prompt_pending = True

    def _raw_write(self, data: bytes) -> None:
        import serial

        try:
            self.serial.write(data)
        except (serial.SerialException, OSError) as exc:
            raise TransportError(f"lost the station on {self.port}: {exc}") from None

    def _raw_read(self, n: int) -> bytes:
        import serial

        try:
            return self.serial.read(n)
        except (serial.SerialException, OSError) as exc:
            raise TransportError(f"lost the station on {self.port}: {exc}") from None

    def _raw_in_waiting(self) -> int:
        import serial

        try:
            return self.serial.in_waiting
        except (serial.SerialException, OSError) as exc:
            raise TransportError(f"lost the station on {self.port}: {exc}") from None

    def close(self) -> None:
        try:
            self.serial.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _comm(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def _lock_holders(target: str) -> list[str]:
    """Pids holding a flock (pyserial exclusive=True) on the device, from /proc/locks."""
    try:
        st = os.stat(target)
        with open("/proc/locks") as f:
            rows = f.read().splitlines()
    except OSError:
        return []
    want = f":{st.st_ino}"
    pids = []
    for row in rows:
        parts = row.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 00:19:3 0 EOF"
        if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5].endswith(want):
            dev = parts[5].rsplit(":", 1)[0]
            major, minor = (int(x, 16) for x in dev.split(":"))
            if os.major(st.st_rdev) in (major, 0) or os.makedev(major, minor) == st.st_dev:
                pids.append(parts[4])
    return pids


def port_holders(port: str) -> list[str]:
    """'name (pid N)' of the processes holding `port` (Linux /proc), except us: those with an
    exclusive lock on it when there are any, else those with it open."""
    try:
        target = os.path.realpath(port)
    except OSError:
        return []
    me = str(os.getpid())
    locked = [p for p in _lock_holders(target) if p != me]
    if locked:
        return [f"{_comm(p)} (pid {p})" for p in locked]
    holders = []
    for pid in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not pid.isdigit() or pid == me:
            continue
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"{fd_dir}/{fd}") == target:
                    holders.append(f"{_comm(pid)} (pid {pid})")
                    break
            except OSError:
                continue
    return holders


def _explain_open_error(port: str, exc: Exception) -> TransportError:
    text = str(exc)
    err = getattr(exc, "errno", None)
    if "exclusively lock" in text or err in (errno.EBUSY, errno.EAGAIN) or "busy" in text.lower():
        holders = port_holders(port)
        who = ", ".join(holders) if holders else "another program"
        return PortBusyError(
            f"port {port} is in use by {who}. Close that program (a serial terminal, mpremote, "
            "Thonny, another stationctl monitor) and try again."
        )
    if err == errno.ENOENT or "No such file" in text:
        return TransportError(f"port {port} does not exist: is the station plugged in?")
    if err == errno.EACCES or "Permission denied" in text:
        return TransportError(
            f"no permission to open {port}: add yourself to the 'dialout' group "
            "(sudo usermod -aG dialout $USER, then log in again)"
        )
    return TransportError(f"cannot open {port}: {text}")
