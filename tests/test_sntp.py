"""SNTP for Wi-Fi stations (firmware/sntp.py) against a real NTP server on loopback: chronyd
with `local stratum 8` on a free port (it does not touch the host's clock: -x). A small
fault-injecting peer plays a server that lies or answers someone else's request."""

from __future__ import annotations

import os
import re
import shutil
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest
from hostkit.micropython import run_mp

CHRONYD = shutil.which("chronyd") or (
    "/usr/sbin/chronyd" if Path("/usr/sbin/chronyd").exists() else None
)
NTP_TO_UNIX = 2208988800


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ask(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.3)
        req = bytearray(48)
        req[0] = 0x23
        s.sendto(req, ("127.0.0.1", port))
        try:
            return len(s.recv(64)) >= 48
        except OSError:
            return False


@pytest.fixture(scope="module")
def chronyd(tmp_path_factory):
    if CHRONYD is None:
        pytest.skip("chronyd is not installed (Debian: apt-get install chrony)")
    d = tmp_path_factory.mktemp("chrony")
    port = _free_udp_port()
    conf = d / "chrony.conf"
    conf.write_text(
        f"port {port}\nbindaddress 127.0.0.1\nallow 127.0.0.1\nlocal stratum 8\ncmdport 0\n"
        f"pidfile {d}/chronyd.pid\ndriftfile {d}/drift\n"
    )
    cmd = [CHRONYD, "-x", "-d", "-f", str(conf)]
    if os.geteuid() == 0:
        cmd += ["-u", "root"]  # stay root: the test's folder is not the chrony user's
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 10
        while not _ask(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("chronyd did not serve time: " + (proc.stdout.read() or ""))
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(5)


# Inside MicroPython: the simulated board's clock (virtual time) set to `start` (unix s),
# synced or not; one Sntp.sync() against 127.0.0.1:port; prints the outcome.
_SYNC = """
from sim import vtime
vtime.install()
import sys, time
from sim.board import SimBoard
from sim.env import Environment
import config, diag, sntp
from hal import Hal
start, synced, port = {start!r}, {synced!r}, {port!r}
BOARD = {{"board": "unix-sim-wifi", "family": "unix"}}
vtime.reset(epoch_s=start)
SimBoard(BOARD, Environment("synthetic"), fs_root="{fs}", time_synced=synced).activate()
hal = Hal(BOARD)
cfg = config.defaults()
cfg["ntp"]["host"] = "127.0.0.1"
cfg["ntp"]["port"] = port
lines = []
diag.configure(level=diag.INFO, sink=lines.append)
s = sntp.Sntp(cfg, hal)
ok = s.sync()
for ln in lines:
    print("LINE", ln)
print("RESULT", ok, time.time(), vtime._real.time(), hal.time_synced())
"""


def _sync(tmp_path, port, start, synced):
    code = _SYNC.format(start=start, synced=synced, port=port, fs=tmp_path / "fs")
    out = run_mp(code, timeout=60).stdout
    result = [ln for ln in out.splitlines() if ln.startswith("RESULT")][-1].split()
    lines = [ln[5:] for ln in out.splitlines() if ln.startswith("LINE ")]
    return result[1] == "True", float(result[2]), float(result[3]), result[4] == "True", lines


def test_an_unset_clock_is_set_from_a_real_ntp_server(chronyd, tmp_path):
    ok, station_s, host_s, synced, lines = _sync(tmp_path, chronyd, 1532044806, False)
    assert ok and synced, lines
    assert abs(station_s - host_s) <= 2, (station_s, host_s)
    assert any(" NTP.SYNC 127.0.0.1 " in ln and "confirmed=False" in ln for ln in lines), lines
    assert any(" CLOCK.SET " in ln and "source=sntp" in ln for ln in lines), lines


def test_a_far_reply_is_confirmed_by_a_second_one(chronyd, tmp_path):
    """A synced clock an hour off: the first reply is far, a second agrees, then the step."""
    ok, station_s, host_s, _, lines = _sync(tmp_path, chronyd, int(time.time()) + 3600, True)
    assert ok, lines
    assert abs(station_s - host_s) <= 2, (station_s, host_s)
    sync = [ln for ln in lines if " NTP.SYNC " in ln]
    assert sync and "confirmed=True" in sync[0], lines
    step = int(re.search(r"step_s=(-?\d+)", sync[0])[1])
    assert -3602 <= step <= -3598, sync[0]


_DRIFT = """
from sim import vtime
vtime.install()
import time
from sim.board import SimBoard
from sim.env import Environment
import config, diag, sntp
from hal import Hal
BOARD = {{"board": "unix-sim-wifi", "family": "unix"}}
vtime.reset(epoch_s={start!r})
SimBoard(BOARD, Environment("synthetic"), fs_root="{fs}", time_synced=False).activate()
hal = Hal(BOARD)
cfg = config.defaults()
cfg["ntp"]["host"] = "127.0.0.1"
cfg["ntp"]["port"] = {port!r}
lines = []
diag.configure(level=diag.INFO, sink=lines.append)
s = sntp.Sntp(cfg, hal)
print("FIRST", s.sync())
vtime.set_drift_ppm(1000)  # the RTC gains 3.6 s an hour
vtime.advance_us(3600 * 1000000)
print("SECOND", s.sync(), s.drift_ppm)
for ln in lines:
    print("LINE", ln)
"""


def test_the_rtc_drift_is_measured_between_syncs(tmp_path):
    """A server whose second answer is exactly an hour after its first; the station's RTC runs
    1000 ppm fast meanwhile: NTP.SYNC reports about +1000 ppm (1 s resolution: 833..1111)."""
    base = int(time.time())
    peer = _Peer(lambda n, req: _reply(req, base + 3600 * n + 0.5))
    try:
        code = _DRIFT.format(start=base - 86400, port=peer.port, fs=tmp_path / "fs")
        out = run_mp(code, timeout=60).stdout
    finally:
        peer.close()
    second = [ln for ln in out.splitlines() if ln.startswith("SECOND")][0].split()
    assert second[1] == "True", out
    assert 800 <= float(second[2]) <= 1200, out


class _Peer:
    """An SNTP server that lies: `answers(n, request)` makes the n-th reply (fault injection)."""

    def __init__(self, answers):
        self.answers = answers
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.n = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                req, addr = self.sock.recvfrom(64)
            except OSError:
                return
            self.sock.sendto(self.answers(self.n, req), addr)
            self.n += 1

    def close(self):
        self.sock.close()


def _reply(req: bytes, unix_s: float, origin: bytes | None = None, stratum: int = 2) -> bytes:
    out = bytearray(48)
    out[0] = 0x24  # version 4, mode 4 (server)
    out[1] = stratum
    out[24:32] = req[40:48] if origin is None else origin
    secs = int(unix_s) + NTP_TO_UNIX
    struct.pack_into("!II", out, 40, secs, int((unix_s % 1) * 2**32))
    return bytes(out)


def test_replies_that_disagree_do_not_move_a_synced_clock(tmp_path):
    # the first reply says a year later, the second the truth: the clock keeps its time
    peer = _Peer(lambda n, req: _reply(req, time.time() + (365 * 86400 if n == 0 else 0)))
    try:
        start = int(time.time()) + 3600
        ok, station_s, _, _, lines = _sync(tmp_path, peer.port, start, True)
    finally:
        peer.close()
    assert not ok
    assert abs(station_s - start) < 60, station_s
    assert any(" NTP.REJECTED " in ln and "replies_disagree" in ln for ln in lines), lines
    assert peer.n == 2


@pytest.mark.parametrize(
    "reply, reason",
    [
        # an answer to someone else's request is ignored: nothing else comes within the timeout
        (lambda n, req: _reply(req, time.time(), origin=b"\x00" * 8), "no_reply"),
        (lambda n, req: _reply(req, time.time(), stratum=0), "server_unsynchronised"),
        (lambda n, req: b"\x24" * 20, "short"),
    ],
)
def test_a_reply_that_is_not_an_answer_is_refused(tmp_path, reply, reason):
    peer = _Peer(reply)
    try:
        ok, station_s, _, synced, lines = _sync(tmp_path, peer.port, 1532044806, False)
    finally:
        peer.close()
    assert not ok and not synced
    assert any(" NTP.FAIL " in ln and f"reason={reason}" in ln for ln in lines), lines
