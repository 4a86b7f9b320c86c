"""A TCP proxy between the station and a real broker that can break the link on purpose.

Modes (set `proxy.mode` at any time):
    "pass"    forward both ways
    "refuse"  close every connection (new ones at once): the network is gone
    "stall"   keep connections open but forward nothing: a half-open link
With `cut_after_publish = N`, the next N QoS-1 PUBLISH packets on a topic ending in `/up` are
forwarded to the broker, and the connection is cut before the broker's PUBACK reaches the station.
"""

from __future__ import annotations

import socket
import threading
import time


def _packets(buf: bytearray):
    """Complete MQTT packets at the front of buf: yields (first_byte, whole_packet); consumes."""
    while len(buf) >= 2:
        mult, n, i = 1, 0, 1
        while True:
            if i >= len(buf):
                return
            b = buf[i]
            n += (b & 0x7F) * mult
            mult *= 128
            i += 1
            if not b & 0x80:
                break
        if len(buf) < i + n:
            return
        pkt = bytes(buf[: i + n])
        del buf[: i + n]
        yield pkt[0], pkt, i


class Proxy:
    def __init__(self, upstream_port: int, host: str = "127.0.0.1"):
        self.upstream = (host, upstream_port)
        self.mode = "pass"
        self.cut_after_publish = 0
        self.cuts = 0
        self.connections = 0
        self._lsock = socket.socket()
        self._lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._lsock.bind((host, 0))
        self._lsock.listen(16)
        self.port = self._lsock.getsockname()[1]
        self._open: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        if mode == "refuse":
            self.close_all()

    def close_all(self) -> None:
        with self._lock:
            pairs, self._open = self._open, []
        for a, b in pairs:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        self._stop = True
        self.close_all()
        self._lsock.close()

    def _accept(self) -> None:
        while not self._stop:
            try:
                c, _ = self._lsock.accept()
            except OSError:
                return
            if self.mode == "refuse":
                c.close()
                continue
            try:
                u = socket.create_connection(self.upstream, timeout=2)
                u.settimeout(None)
            except OSError:
                c.close()
                continue
            for s in (c, u):  # forwarding packet by packet: no Nagle delays on loopback
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.connections += 1
            with self._lock:
                self._open.append((c, u))
            state = {"cut": False}
            threading.Thread(target=self._up, args=(c, u, state), daemon=True).start()
            threading.Thread(target=self._down, args=(c, u, state), daemon=True).start()

    def _kill(self, c, u) -> None:
        with self._lock:
            if (c, u) in self._open:
                self._open.remove((c, u))
        for s in (c, u):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _up(self, c, u, state) -> None:
        buf = bytearray()
        try:
            while True:
                data = c.recv(4096)
                if not data:
                    break
                while self.mode == "stall":
                    time.sleep(0.01)
                buf += data
                for first, pkt, hlen in _packets(buf):
                    if first >> 4 == 3 and (first >> 1) & 3 == 1 and self.cut_after_publish > 0:
                        tlen = pkt[hlen] << 8 | pkt[hlen + 1]
                        topic = pkt[hlen + 2 : hlen + 2 + tlen]
                        if topic.endswith(b"/up"):
                            self.cut_after_publish -= 1
                            state["cut"] = True  # before forwarding: the PUBACK must not pass
                            u.sendall(pkt)
                            time.sleep(0.2)  # the broker takes it and routes it to subscribers
                            self.cuts += 1
                            self._kill(c, u)
                            return
                    u.sendall(pkt)
        except OSError:
            pass
        self._kill(c, u)

    def _down(self, c, u, state) -> None:
        try:
            while True:
                data = u.recv(4096)
                if not data:
                    break
                while self.mode == "stall":
                    time.sleep(0.01)
                if state["cut"]:
                    return
                c.sendall(data)
        except OSError:
            pass
        self._kill(c, u)
