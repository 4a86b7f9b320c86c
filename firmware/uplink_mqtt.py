"""MQTT uplink over micropython-lib `umqtt.simple` (installed at set-up, never copied here).

Topics (`<prefix>/<station_id>/...`):
    up      sample frames, QoS 1; a frame counts as delivered only on its PUBACK
    status  retained `online` after connect, last will `offline` (retained), plus a status frame
            after the first connect of a boot and on request
    cmd     downlink commands (subscribed QoS 1, persistent session so commands wait for us)
    ack     answers to commands

Every socket call has a deadline: umqtt's socket is wrapped so each read/write gets the time left
of the operation's budget (`mqtt.timeout_s`) as its timeout, so a dead broker or a half-open
connection costs at most that budget per connect or publish. Failed connects back off
exponentially (2 s .. 5 min, +-25 % jitter) on the station clock. Between cycles the uplink
disconnects cleanly when the sampling interval is longer than the keep-alive, so the broker never
sees a silent client (and publishes the will only when the station really vanished).
"""

import errno
import io
import random
import socket
import time

from micropython import const

import diag
from uplink import Uplink
from umqtt import simple  # missing on a station: ImportError, reported as UPLINK.UNAVAILABLE

_BACKOFF_MIN_MS = const(2000)
_BACKOFF_MAX_MS = const(300000)
_IPPROTO_TCP = const(6)
_TCP_NODELAY = const(1)

_ERRORS = (OSError, simple.MQTTException, AssertionError, IndexError, TypeError, ValueError)


class _Sock(io.IOBase):
    """A socket whose every blocking call is bounded by the owner's current deadline.

    An io.IOBase stream, so that `ssl` can wrap it for TLS: the TLS layer's reads and writes come
    through readinto/write here and keep the deadline.
    """

    def __init__(self, owner):
        self.owner = owner
        self.sock = socket.socket()
        self.blocking = True
        try:
            # umqtt writes a packet in pieces: without this, Nagle + delayed ACK add ~40 ms a packet
            self.sock.setsockopt(_IPPROTO_TCP, _TCP_NODELAY, 1)
        except (OSError, AttributeError):
            pass

    def _arm(self):
        if not self.blocking:
            self.sock.settimeout(0)
            return
        left = time.ticks_diff(self.owner.deadline, time.ticks_ms())
        if left <= 0:
            raise OSError(errno.ETIMEDOUT)
        self.sock.settimeout(left / 1000)

    def _call(self, fn, *args):
        self._arm()
        clock = self.owner.clock  # simulation: real waits also pass on the virtual clock
        t0 = clock.begin() if clock else 0
        try:
            return fn(*args)
        finally:
            if clock:
                clock.end(t0)

    def connect(self, addr):
        return self._call(self.sock.connect, addr)

    def read(self, n):
        data = self._call(self.sock.read, n)
        if self.blocking and data is not None and len(data) < n:
            raise OSError(errno.ECONNRESET)  # closed by the peer in the middle of a packet
        return data

    def readinto(self, buf):
        return self._call(self.sock.readinto, buf)

    def ioctl(self, req, arg):
        return 0

    def write(self, buf, n=None):
        if n is not None:
            buf = memoryview(buf)[:n]
        return self._call(self.sock.write, buf)

    def setblocking(self, flag):
        self.blocking = flag

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class _SocketModule:
    """Stands in for `socket` inside umqtt.simple so its sockets are `_Sock`s of the active uplink."""

    owner = None

    def socket(self, *args):
        return _Sock(_SocketModule.owner)

    def getaddrinfo(self, host, port, *args):
        return socket.getaddrinfo(host, port, *args)


simple.socket = _SocketModule()


class _TlsModule:
    """What umqtt.simple imports as `ussl` for TLS (MicroPython 1.21+ only has `ssl`)."""

    def wrap_socket(self, sock, **params):
        import ssl

        return ssl.wrap_socket(sock, **params)


class MqttUplink(Uplink):
    name = "mqtt"

    def __init__(self, cfg, secrets, hal):
        m = cfg["mqtt"]
        self.host = m["host"]
        self.port = m["port"]
        self.tls = m["tls"]
        self.keepalive_s = m["keepalive_s"]
        self.timeout_ms = m["timeout_s"] * 1000
        self._max = m["max_payload"]
        self.client_id = cfg["station_id"]
        base = m["prefix"] + "/" + cfg["station_id"]
        self.t_up = (base + "/up").encode()
        self.t_status = (base + "/status").encode()
        self.t_cmd = (base + "/cmd").encode()
        self.t_ack = (base + "/ack").encode()
        self.user = m["user"] or None
        self._password = (secrets or {}).get("mqtt_password") or ""
        self.hal = hal
        self.clock = hal.net_clock()
        self.client = None
        self.deadline = time.ticks_ms()
        self.next_try = time.ticks_ms()
        self.last_io = time.ticks_ms()
        self.failures = 0
        self.connects = 0
        self.drops = 0
        self.inbox = []

    def max_payload(self):
        return self._max

    def _begin(self):
        _SocketModule.owner = self
        self.deadline = time.ticks_add(time.ticks_ms(), self.timeout_ms)

    def connect(self):
        """Bring the session up: bounded by mqtt.timeout_s; False while backing off or down."""
        now = time.ticks_ms()
        if self.client is not None:
            if self.keepalive_s and time.ticks_diff(now, self.last_io) > self.keepalive_s * 1000:
                self._drop_silently()  # the broker has dropped us by now; start over
            else:
                return True
        wait = time.ticks_diff(self.next_try, now)
        if 0 < wait <= 2 * _BACKOFF_MAX_MS:  # longer: an old deadline seen across the wrap
            return False
        self._begin()
        c = simple.MQTTClient(
            self.client_id,
            self.host,
            self.port,
            user=self.user,
            password=self._password if self.user else None,
            keepalive=self.keepalive_s,
            ssl=self.tls,
            ssl_params={"server_hostname": self.host} if self.tls else {},
        )
        if self.tls:
            import sys

            if "ussl" not in sys.modules:
                sys.modules["ussl"] = _TlsModule()
        c.set_callback(self._on_message)
        c.set_last_will(self.t_status, b"offline", retain=True, qos=1)
        try:
            c.connect(clean_session=False)
            self.client = c
            c.subscribe(self.t_cmd, qos=1)
            c.publish(self.t_status, b"online", retain=True, qos=1)
        except _ERRORS as exc:
            self.client = c  # so that _fail closes its socket
            self._fail(exc, "connect")
            return False
        self.failures = 0
        self.connects += 1
        self.last_io = time.ticks_ms()
        diag.info("MQTT.CONNECTED", self.host, port=self.port, session=self.connects)
        if self.connects == 1:
            self._publish_status()  # once per boot (and on request): it costs RAM and airtime
        return True

    def _publish_status(self):
        frame = self.status()
        if frame:
            self.send_status(frame)

    def _on_message(self, topic, msg):
        if topic == self.t_cmd:
            if len(self.inbox) < 4:
                self.inbox.append(bytes(msg))
            else:
                diag.warn("MQTT.CMD_DROPPED", None, reason="inbox full")

    def _backoff_ms(self):
        b = _BACKOFF_MIN_MS << min(self.failures - 1, 10)
        if b > _BACKOFF_MAX_MS:
            b = _BACKOFF_MAX_MS
        # +-25 % jitter so a fleet that lost its broker does not come back in lockstep
        return b - b // 4 + (random.getrandbits(16) * (b // 2)) // 65536

    def _fail(self, exc, op):
        self.failures += 1
        wait = self._backoff_ms()
        self.next_try = time.ticks_add(time.ticks_ms(), wait)
        if self.client is not None:
            self.drops += 1
            self._close_socket()
        diag.warn(
            "MQTT.DOWN",
            self.host,
            op=op,
            exc=type(exc).__name__,
            errno=exc.args[0] if exc.args and type(exc.args[0]) is int else None,
            retry_s=wait // 1000,
        )

    def _close_socket(self):
        c = self.client
        self.client = None
        if c is not None and c.sock is not None:
            c.sock.close()

    def _drop_silently(self):
        self._close_socket()

    def send(self, frame, port=1):
        """Publish one frame QoS 1 on /up; True only when its PUBACK arrived in time."""
        if not self.connect():
            return False
        self._begin()
        try:
            self.client.publish(self.t_up, frame, qos=1)
        except _ERRORS as exc:
            self._fail(exc, "publish")
            return False
        self.last_io = time.ticks_ms()
        return True

    def send_ack(self, frame):
        if self.client is None:
            return False
        self._begin()
        try:
            self.client.publish(self.t_ack, frame, qos=1)
        except _ERRORS as exc:
            self._fail(exc, "ack")
            return False
        return True

    def send_status(self, frame):
        """A status frame on /status (not retained: the retained message stays `online`)."""
        if self.client is None:
            return False
        self._begin()
        try:
            self.client.publish(self.t_status, frame, qos=1)
        except _ERRORS as exc:
            self._fail(exc, "status")
            return False
        return True

    def poll(self):
        """A command that arrived on /cmd, if any (reads what is waiting, never blocks)."""
        if not self.inbox and self.client is not None:
            self._begin()
            try:
                for _ in range(4):
                    if self.client.check_msg() is None and not self.inbox:
                        break
            except _ERRORS as exc:
                self._fail(exc, "poll")
        if self.inbox:
            return self.inbox.pop(0)
        return None

    def sleep(self, interval_ms):
        """Called after each cycle's delivery: leave cleanly if the broker would time us out."""
        if self.client is not None and self.keepalive_s and interval_ms > self.keepalive_s * 1000:
            self.close()

    def close(self):
        if self.client is None:
            return
        self._begin()
        try:
            self.client.disconnect()
        except _ERRORS:
            pass
        self._close_socket()
