"""A misbehaving MQTT broker on loopback: faults a real broker cannot be made to produce.

Real Mosquitto stays the normal broker in the tests; this peer plays the hostile or broken one.
It speaks just enough MQTT 3.1.1 (CONNECT, SUBSCRIBE, PUBLISH QoS 0/1, PINGREQ, DISCONNECT)
and misbehaves as its `mode` says:

    "ok"              a correct (minimal) broker
    "silent"          accepts the TCP connection, never answers
    "trickle"         answers CONNACK one byte every `trickle_s` seconds
    "garbage"         answers CONNECT with bytes that are no CONNACK
    "refuse:N"        CONNACK with return code N (5 = not authorised)
    "huge"            after SUBACK, a PUBLISH on the cmd topic whose length field claims 256 MB,
                      then a few bytes and silence
    "big:N"           after SUBACK, a well-formed QoS 1 PUBLISH of N bytes on the cmd topic
    "no_puback"       never acknowledges the station's PUBLISH packets
    "pingflood"       answers the station's first PUBLISH with a flood of PINGRESPs (for at
                      most `flood_s` seconds) instead of its PUBACK
    "flood:N"         after SUBACK, N QoS 1 commands at once on the cmd topic (from `commands`)

Everything received is kept: `packets` (first byte, whole packet) per connection, `pubacks`
(packet ids the station acknowledged), `closed_after_s` (how long each connection lived).
"""

from __future__ import annotations

import socket
import struct
import threading
import time


def _remaining(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish_packet(topic: bytes, payload: bytes, pid: int = 1, qos: int = 1, retain=False) -> bytes:
    body = (
        struct.pack("!H", len(topic)) + topic + (struct.pack("!H", pid) if qos else b"") + payload
    )
    return bytes([0x30 | qos << 1 | int(retain)]) + _remaining(len(body)) + body


class RogueBroker:
    def __init__(self, mode: str = "ok", cmd_topic: bytes = b"climate/station-0000/cmd"):
        self.mode = mode
        self.cmd_topic = cmd_topic
        self.trickle_s = 0.4
        self.flood_s = 20.0
        self.commands: list[bytes] = []
        self.packets: list[tuple[int, bytes]] = []
        self.pubacks: list[int] = []
        self.published: list[tuple[bytes, bytes]] = []
        self.closed_after_s: list[float] = []
        self.connections = 0
        self._lsock = socket.socket()
        self._lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._lsock.bind(("127.0.0.1", 0))
        self._lsock.listen(8)
        self.port = self._lsock.getsockname()[1]
        self._stop = False
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._stop = True
        self._lsock.close()
        for c in self._open:
            try:
                c.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while not self._stop:
            try:
                c, _ = self._lsock.accept()
            except OSError:
                return
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.connections += 1
            self._open.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    @staticmethod
    def _read_packet(c: socket.socket):
        first = c.recv(1)
        if not first:
            return None
        n, shift = 0, 0
        while True:
            b = c.recv(1)
            if not b:
                return None
            n |= (b[0] & 0x7F) << shift
            shift += 7
            if not b[0] & 0x80:
                break
        body = b""
        while len(body) < n:
            chunk = c.recv(n - len(body))
            if not chunk:
                return None
            body += chunk
        return first[0], body

    def _serve(self, c: socket.socket) -> None:
        t0 = time.monotonic()
        mode, _, arg = self.mode.partition(":")
        try:
            while True:
                pkt = self._read_packet(c)
                if pkt is None:
                    break
                first, body = pkt
                self.packets.append((first, body))
                kind = first >> 4
                if kind == 1:  # CONNECT
                    if mode == "silent":
                        continue
                    if mode == "trickle":
                        for b in b"\x20\x02\x00\x00":
                            time.sleep(self.trickle_s)
                            c.sendall(bytes([b]))
                    elif mode == "garbage":
                        c.sendall(b"\x55\xaa\x13\x37")
                    elif mode == "refuse":
                        c.sendall(bytes([0x20, 2, 0, int(arg)]))
                    else:
                        c.sendall(b"\x20\x02\x00\x00")
                elif kind == 8:  # SUBSCRIBE
                    pid = body[:2]
                    c.sendall(b"\x90\x03" + pid + b"\x01")
                    self._after_subscribe(c, mode, arg)
                elif kind == 3:  # PUBLISH from the station
                    qos = (first >> 1) & 3
                    tlen = struct.unpack("!H", body[:2])[0]
                    topic = body[2 : 2 + tlen]
                    rest = body[2 + tlen :]
                    if qos:
                        pid, rest = rest[:2], rest[2:]
                    self.published.append((topic, rest))
                    if mode == "pingflood":
                        end = time.monotonic() + self.flood_s
                        while time.monotonic() < end:
                            c.sendall(b"\xd0\x00" * 512)
                        break
                    if qos and mode != "no_puback":
                        c.sendall(b"\x40\x02" + pid)
                elif kind == 4:  # PUBACK from the station
                    self.pubacks.append(struct.unpack("!H", body[:2])[0])
                elif kind == 12:  # PINGREQ
                    c.sendall(b"\xd0\x00")
                elif kind == 14:  # DISCONNECT
                    break
        except OSError:
            pass
        self.closed_after_s.append(time.monotonic() - t0)
        try:
            c.close()
        except OSError:
            pass

    def _after_subscribe(self, c: socket.socket, mode: str, arg: str) -> None:
        if mode == "huge":
            # 0xFF 0xFF 0xFF 0x7F: 268,435,455 bytes claimed; a topic and 100 bytes follow
            c.sendall(b"\x32\xff\xff\xff\x7f" + struct.pack("!H", len(self.cmd_topic)))
            c.sendall(self.cmd_topic + b"\x00\x09" + b"\x00" * 100)
        elif mode == "big":
            c.sendall(publish_packet(self.cmd_topic, b"\x25" * int(arg), pid=9))
        elif mode == "flood":
            for i in range(int(arg)):
                c.sendall(publish_packet(self.cmd_topic, self.commands[i], pid=100 + i))
