"""Thin bus adapters that let third-party CPython drivers talk to our chip models.

The models run where they always run, inside unix MicroPython (sim/chipserver.py); this side
offers what the libraries expect of a bus:
- `I2C`: the busio.I2C surface that adafruit_bus_device.I2CDevice uses (try_lock, writeto,
  readfrom_into, writeto_then_readfrom, scan), raising OSError(errno) like a port does;
- `Serial`: the pyserial surface (read with a timeout, write, in_waiting, reset_input_buffer)
  used by adafruit_pm25's UART class and by sds011lib;
- `VirtualTime`: stands in for a library's `time` module, so its sleeps advance the models'
  virtual clock instead of the test's wall clock.
"""

from __future__ import annotations

import subprocess
import time as _time

from stationctl.mpenv import REPO_ROOT as REPO
from stationctl.mpenv import micropython_env, micropython_exe


class ChipServer:
    """A MicroPython process serving the named chip models (see sim/chipserver.py)."""

    def __init__(self, *models: str, profile: str = "generic"):
        self.proc = subprocess.Popen(
            [str(micropython_exe()), "-X", "heapsize=2M", "sim/chipserver.py", profile, *models],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=str(REPO),
            env=micropython_env(),
        )
        first = self.proc.stdout.readline().strip()
        if first != "ready":
            self.close()
            raise RuntimeError(f"chipserver did not start: {first!r} {self.proc.stderr.read()}")
        self.requests = 0

    def call(self, line: str) -> str:
        self.requests += 1
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline().strip()
        if reply.startswith("err "):
            raise OSError(int(reply[4:]), f"chip model: {line.split()[0]} failed")
        if not reply.startswith("ok"):
            raise RuntimeError(f"chipserver: {line!r} -> {reply!r}")
        return reply[3:]

    def now_s(self) -> float:
        return int(self.call("now")) / 1e6

    def env(self, **overrides: float) -> None:
        for name, value in overrides.items():
            self.call(f"env {name} {value!r}")

    def attr(self, model: str, name: str) -> str:
        return self.call(f"call {model} {name}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class VirtualTime:
    """A `time` module look-alike whose sleep advances the chip models' clock."""

    def __init__(self, server: ChipServer):
        self._server = server

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._server.call(f"sleep {round(seconds * 1e6)}")

    def monotonic(self) -> float:
        return self._server.now_s()

    def time(self) -> float:
        return 1700000000 + self._server.now_s()

    def __getattr__(self, name):
        return getattr(_time, name)


def _span(buf, start, end):
    return buf[start : len(buf) if end is None else end]


class I2C:
    """busio.I2C for adafruit_bus_device, on the simulated bus of a ChipServer."""

    def __init__(self, server: ChipServer):
        self._server = server
        self.transactions = []  # (op, address, bytes) as the library put them on the bus

    def try_lock(self) -> bool:
        return True

    def unlock(self) -> None:
        pass

    def scan(self) -> list[int]:
        out = self._server.call("scan")
        return [int(a, 16) for a in out.split(",")] if out else []

    def writeto(self, address: int, buffer, *, start: int = 0, end: int | None = None) -> None:
        data = bytes(_span(buffer, start, end))
        self.transactions.append(("w", address, data))
        self._server.call(f"w {address:x} {data.hex()}")

    def readfrom_into(self, address: int, buffer, *, start: int = 0, end: int | None = None):
        n = len(_span(buffer, start, end))
        data = bytes.fromhex(self._server.call(f"r {address:x} {n}"))
        buffer[start : start + n] = data
        self.transactions.append(("r", address, data))

    def writeto_then_readfrom(
        self, address, buffer_out, buffer_in, *, out_start=0, out_end=None, in_start=0, in_end=None
    ):
        self.writeto(address, buffer_out, start=out_start, end=out_end)
        self.readfrom_into(address, buffer_in, start=in_start, end=in_end)


class Serial:
    """The pyserial surface the particle-sensor libraries use, on the simulated UART."""

    def __init__(self, server: ChipServer, timeout: float = 2.0):
        self._server = server
        self.timeout = timeout
        self.rx_bytes = 0

    def read(self, size: int = 1) -> bytes:
        data = bytes.fromhex(self._server.call(f"rx {size} {round(self.timeout * 1000)}"))
        self.rx_bytes += len(data)
        return data

    def write(self, data) -> int:
        self._server.call(f"tx {bytes(data).hex()}")
        return len(data)

    @property
    def in_waiting(self) -> int:
        return int(self._server.call("any"))

    def reset_input_buffer(self) -> None:
        while self.in_waiting:
            self.read(self.in_waiting)

    def flush(self) -> None:
        pass

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass
