"""Network time for Wi-Fi stations: a small SNTP client (RFC 4330) run after association.

Why not the ports' `ntptime`: it has no sanity checks, blocks on its own timeout and sets the
RTC itself; the station must check a reply before believing it and go through clock.py. A reply
is taken only when it answers our request (the originate timestamp echoes our random transmit
timestamp), comes from a synchronised server (stratum 1..15, leap indicator not 3) and carries a
plausible time. A reply far from the station's estimate (a synced clock that disagrees by more
than _FAR_S) needs a second reply that agrees with it before the clock is stepped. After each
sync the next is due `ntp.resync_h` later; the correction found then over the time elapsed is the
RTC's measured drift (NTP.SYNC drift_ppm).
"""

import random
import socket
import struct
import time

from micropython import const

import clock
import diag

_NTP_TO_UNIX_S = const(2208988800)  # 1900-01-01 to 1970-01-01
_FAR_S = const(60)  # farther from a synced clock's estimate: confirm with a second reply
_AGREE_MS = const(2000)  # two replies confirm each other within this
_RETRY_MS = const(300000)  # after a failed attempt, try again at a connect after this
_EAGAIN = const(11)  # a socket timeout on the unix port
_ETIMEDOUT = const(110)  # and on the bare-metal ports (lwIP: MP_ETIMEDOUT)


class SntpError(ValueError):
    """A reply that is not a usable answer to our request: `reason` says why."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def parse_reply(data, nonce):
    """(unix seconds, fraction 0..1) from a server reply to the request carrying `nonce`."""
    if len(data) < 48:
        raise SntpError("short")
    li = data[0] >> 6
    mode = data[0] & 7
    stratum = data[1]
    if mode != 4:
        raise SntpError("not_a_server_reply")
    if data[24:32] != nonce:
        raise SntpError("not_our_request")  # late, duplicated or forged
    if li == 3 or not 1 <= stratum <= 15:
        raise SntpError("server_unsynchronised")  # stratum 0: a kiss-o'-death
    secs = struct.unpack_from("!I", data, 40)[0]
    frac = struct.unpack_from("!I", data, 44)[0]
    if secs == 0:
        raise SntpError("no_transmit_time")
    return secs - _NTP_TO_UNIX_S, frac / 4294967296


class Sntp:
    def __init__(self, cfg, hal):
        n = cfg["ntp"]
        self.host = n["host"]
        self.port = n["port"]
        self.timeout_ms = n["timeout_s"] * 1000
        self.resync_ms = n["resync_h"] * 3600000
        self.hal = hal
        self.last_sync = None  # ticks_ms of the last accepted reply
        self.next_try = None
        self.drift_ppm = None
        self.syncs = 0

    def due(self):
        if not self.host:
            return False
        now = time.ticks_ms()
        if self.next_try is not None and time.ticks_diff(self.next_try, now) > 0:
            return False
        return self.last_sync is None or time.ticks_diff(now, self.last_sync) >= self.resync_ms

    def maybe_sync(self):
        """Sync when due (the link is up): True when the clock was set now."""
        if not self.due():
            return False
        return self.sync()

    def query(self):
        """One request/reply: (unix_s int, fraction, rtt_ms, ticks_ms at the reply)."""
        addr = socket.getaddrinfo(self.host, self.port)[0][-1]
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.settimeout(self.timeout_ms / 1000)
            req = bytearray(48)
            req[0] = 0x23  # LI 0, version 4, mode 3 (client)
            nonce = bytes(random.getrandbits(8) for _ in range(8))
            req[40:48] = nonce  # the server echoes it as the originate timestamp
            t0 = time.ticks_ms()
            s.sendto(req, addr)
            while True:
                data = s.recv(64)
                t1 = time.ticks_ms()
                try:
                    unix_s, frac = parse_reply(data, nonce)
                    break
                except SntpError as exc:
                    if (
                        exc.reason != "not_our_request"
                        or time.ticks_diff(t1, t0) >= self.timeout_ms
                    ):
                        raise
                    # a stray datagram: keep waiting for ours within the timeout
        finally:
            s.close()
        rtt_ms = time.ticks_diff(t1, t0)
        # the server's transmit time plus half the round trip: the time at t1
        ms = int(frac * 1000) + rtt_ms // 2
        return unix_s + ms // 1000, ms % 1000, rtt_ms, t1

    def sync(self):
        try:
            unix_s, ms, rtt_ms, t1 = self.query()
            confirmed = False
            if self.hal.time_synced():
                far_s = unix_s - time.time()
                if far_s > _FAR_S or far_s < -_FAR_S:
                    # one server (or one forged packet) must not move a synced clock far: ask again
                    unix2, ms2, rtt_ms, t2 = self.query()
                    expect_ms = (unix_s * 1000 + ms) + time.ticks_diff(t2, t1)
                    gap_ms = (unix2 * 1000 + ms2) - expect_ms
                    if gap_ms > _AGREE_MS or gap_ms < -_AGREE_MS:
                        diag.warn("NTP.REJECTED", self.host, reason="replies_disagree", far_s=far_s)
                        self.next_try = time.ticks_add(time.ticks_ms(), _RETRY_MS)
                        return False
                    unix_s, ms, t1 = unix2, ms2, t2
                    confirmed = True
            # whole seconds to clock.py (a single-precision float cannot hold them); the rest of
            # the second is waited out so that the RTC's second starts on time
            late = time.ticks_diff(time.ticks_ms(), t1)
            wait = 1000 - (ms + late) % 1000
            time.sleep_ms(wait)
            now_s = unix_s + (ms + late + wait) // 1000
            step = clock.set_wall_time(self.hal, now_s, "sntp")
        except (OSError, SntpError, ValueError) as exc:
            reason = exc.reason if isinstance(exc, SntpError) else None
            code = exc.args[0] if exc.args and type(exc.args[0]) is int else None
            if code in (_EAGAIN, _ETIMEDOUT):
                reason = "no_reply"  # nothing (or only replies to other requests) in timeout_s
            diag.warn("NTP.FAIL", self.host, reason=reason, exc=type(exc).__name__, errno=code)
            self.next_try = time.ticks_add(time.ticks_ms(), _RETRY_MS)
            return False
        now = time.ticks_ms()
        if step is not None and self.last_sync is not None:
            elapsed_s = time.ticks_diff(now, self.last_sync) / 1000
            if elapsed_s > 0:
                # the RTC gained `-step` seconds in `elapsed_s`: positive = it runs fast
                self.drift_ppm = round(-step * 1000000 / elapsed_s, 1)
        self.last_sync = now
        self.next_try = None
        self.syncs += 1
        diag.info(
            "NTP.SYNC", self.host, rtt_ms=rtt_ms, step_s=step, drift_ppm=self.drift_ppm,
            confirmed=confirmed,
        )  # fmt: skip
        return True
