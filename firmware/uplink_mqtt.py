"""MQTT uplink over micropython-lib `umqtt.simple` (installed at set-up, never copied here).

Topics (`<prefix>/<station_id>/...`):
    up      sample frames, QoS 1; a frame counts as delivered only on its PUBACK
    status  retained `online` after connect, last will `offline` (retained), plus a status frame
            after the first connect of a boot and on request
    cmd     downlink commands (subscribed QoS 1, persistent session so commands wait for us)
    ack     answers to commands
    receipt delivery receipts from a collector (subscribed QoS 1 when `mqtt.receipts` is on):
            3 bytes `0x01 seq n`, readings seq-n+1 .. seq (modulo 256) are stored
            (docs/collector.md); the journal then keeps records until a receipt covers them

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
from umqtt import simple  # missing on a station: ImportError, reported as UPLINK.UNAVAILABLE
from uplink import Uplink

_BACKOFF_MIN_MS = const(2000)
_BACKOFF_MAX_MS = const(300000)
_IPPROTO_TCP = const(6)
_TCP_NODELAY = const(1)

# Inbound messages longer than this are read and thrown away in chunks, never held whole:
# a command is at most 99 bytes (firmware/commands.py)
_MAX_INBOUND = const(256)
_MAX_TOPIC = const(128)
_RECEIPT_VERSION = const(1)
_RECEIPTS_MAX = const(8)  # receipts held between two drains; the newest matter most
# CONNACK return codes (MQTT 3.1.1, 3.2.2.3)
_CONNACK = (
    None,
    "bad_protocol",
    "client_id_rejected",
    "server_unavailable",
    "bad_login",
    "not_authorised",
)


class ProtocolError(ValueError):
    """The broker sent bytes that are not the MQTT it promised."""


_ERRORS = (OSError, simple.MQTTException, AssertionError, IndexError, TypeError, ValueError)


class _Client(simple.MQTTClient):
    """umqtt.simple with the inbound side bounded: a PUBLISH is read in pieces of known size,
    one above _MAX_INBOUND is discarded in chunks (it could claim 256 MB), a retained command is
    not run, and a command is acknowledged (PUBACK) only once it is in the inbox."""

    def __init__(self, owner, *args, **kw):
        super().__init__(*args, **kw)
        self.owner = owner

    def _recv_len(self):
        n = 0
        for sh in (0, 7, 14, 21):
            b = self.sock.read(1)[0]
            n |= (b & 0x7F) << sh
            if not b & 0x80:
                return n
        raise ProtocolError("remaining length longer than 4 bytes")

    def _discard(self, n):
        buf = bytearray(512)  # only while discarding; a message is never held whole
        mv = memoryview(buf)
        while n > 0:
            k = n if n < 512 else 512
            got = self.sock.readinto(mv[:k])
            if not got:
                raise OSError(errno.ECONNRESET)
            n -= got

    def wait_msg(self):
        res = self.sock.read(1)
        self.sock.setblocking(True)
        if res is None:
            return None
        if res == b"":
            raise OSError(-1)
        op = res[0]
        if op == 0xD0:  # PINGRESP
            if self.sock.read(1)[0] != 0:
                raise ProtocolError("PINGRESP with a body")
            return None
        if op & 0xF0 != 0x30:
            return op
        sz = self._recv_len()
        qos = (op >> 1) & 3
        head = 2 + (2 if qos else 0)
        if sz < head:
            raise ProtocolError("PUBLISH shorter than its header")
        b = self.sock.read(2)
        topic_len = b[0] << 8 | b[1]
        if topic_len > _MAX_TOPIC or topic_len + head > sz:
            # a topic we never subscribed to, or a length that lies: drop the rest, say so
            self._discard(sz - 2)
            diag.warn("MQTT.MSG_DISCARDED", None, reason="bad topic length", bytes=sz)
            return None
        topic = self.sock.read(topic_len)
        pid = 0
        if qos:
            b = self.sock.read(2)
            pid = b[0] << 8 | b[1]
        n = sz - head - topic_len
        keep = True
        if n > _MAX_INBOUND:
            self._discard(n)
            diag.warn("MQTT.MSG_DISCARDED", None, reason="too big", bytes=n, max=_MAX_INBOUND)
        else:
            keep = self.owner._on_message(topic, self.sock.read(n) if n else b"", op & 1)
        if qos == 1 and keep:
            # not acknowledged when it was not kept: the broker delivers it again later
            pkt = bytearray(b"\x40\x02\0\0")
            pkt[2] = pid >> 8
            pkt[3] = pid & 0xFF
            self.sock.write(pkt)
        elif qos == 2:
            raise ProtocolError("QoS 2 PUBLISH (we subscribe with QoS 1)")
        return None


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
        owner = self.owner
        clock = (
            owner.clock
        )  # simulation: real time, waits and work alike, passes on the virtual clock
        if clock:
            owner.mark = clock.charge(owner.mark)  # the work since the operation's last socket call
            clock.begin()  # fails when the simulated network is down
        self._arm()
        try:
            return fn(*args)
        except OSError as exc:
            if self.blocking and exc.args and exc.args[0] == errno.EAGAIN:
                # the unix port's socket timeout: the deadline passed
                raise OSError(errno.ETIMEDOUT) from None
            raise
        finally:
            if clock:
                owner.mark = clock.charge(owner.mark)

    def connect(self, addr):
        return self._call(self.sock.connect, addr)

    def read(self, n):
        """n bytes, or None when not blocking and nothing waits. The operation's deadline bounds
        the whole read: a peer trickling one byte at a time cannot stretch it chunk by chunk."""
        if not self.blocking:
            return self._call(self.sock.read, n)  # None when nothing waits (check_msg)
        got = b""
        while len(got) < n:
            chunk = self._call(self.sock.recv, n - len(got))
            if not chunk:
                raise OSError(errno.ECONNRESET)  # closed by the peer in the middle of a packet
            got = chunk if not got else got + chunk
        return got

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
        try:
            return socket.getaddrinfo(host, port, *args)
        except OSError as exc:
            raise DnsError(exc.args[0] if exc.args else None) from None


class DnsError(OSError):
    """The broker's host name did not resolve (its own error: no errno says that)."""


simple.socket = _SocketModule()


class _TlsModule:
    """What umqtt.simple imports as `ussl` for TLS (MicroPython 1.21+ only has `ssl`): a client
    context that requires the server's certificate to chain to the station's CA and to name the
    broker's host (mbedtls checks both during the handshake; a failure raises ValueError with
    mbedtls's verify text)."""

    def wrap_socket(self, sock, server_hostname=None, cadata=None):
        import ssl

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=cadata)
        return ctx.wrap_socket(sock, server_hostname=server_hostname)


class CaFileError(ValueError):
    """The CA certificate file named by mqtt.ca_file cannot be used: `reason` says why."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def load_ca(path):
    """The DER bytes of the CA certificate at `path` (CaFileError when missing or not DER)."""
    try:
        with open(path, "rb") as f:
            der = f.read(4096)
    except OSError:
        raise CaFileError("ca_file_missing") from None
    if der[:5] == b"-----":
        raise CaFileError("ca_file_pem")  # the port's ssl takes DER: configure converts it
    if len(der) < 64 or der[0] != 0x30:
        raise CaFileError("ca_file_invalid")  # not an ASN.1 SEQUENCE: damaged or another file
    return der


# mbedtls's verify text (the port's ValueError) -> the reason MQTT.DOWN names
_TLS_REASONS = (
    ("expired", "tls_cert_expired"),
    ("future", "tls_cert_not_yet_valid"),
    ("Common Name", "tls_name_mismatch"),
    ("CN", "tls_name_mismatch"),
    ("not correctly signed", "tls_unknown_ca"),
)


def _tls_reason(exc):
    text = exc.args[0] if exc.args and type(exc.args[0]) is str else ""
    for words, reason in _TLS_REASONS:
        if words in text:
            return reason
    return "tls_failed"


def _path(root, name):
    if name.startswith("/") or not root:
        return name
    return root.rstrip("/") + "/" + name


class MqttUplink(Uplink):
    name = "mqtt"

    def __init__(self, cfg, secrets, hal):
        m = cfg["mqtt"]
        self.host = m["host"]
        self.port = m["port"]
        self.tls = m["tls"]
        self.ca_file = m["ca_file"]
        self._ca = None  # the CA's DER bytes, read at the first TLS connect
        self.keepalive_s = m["keepalive_s"]
        self.timeout_ms = m["timeout_s"] * 1000
        self._max = m["max_payload"]
        self.client_id = cfg["station_id"]
        base = m["prefix"] + "/" + cfg["station_id"]
        self.t_up = (base + "/up").encode()
        self.t_status = (base + "/status").encode()
        self.t_cmd = (base + "/cmd").encode()
        self.t_ack = (base + "/ack").encode()
        self.t_receipt = (base + "/receipt").encode() if m["receipts"] else None
        self.user = m["user"] or None
        self._password = (secrets or {}).get("mqtt_password") or ""
        self.hal = hal
        self.clock = hal.net_clock()
        self.wifi = None  # a Wi-Fi board: the link the uplink brings up before each connect
        iface = hal.wlan()
        if iface is not None:
            import wifi

            self.wifi = wifi.WifiLink(cfg, secrets, hal, iface)
        self.sntp = None  # a Wi-Fi station learns the time once its link is up
        if self.wifi is not None and cfg["ntp"]["host"]:
            import sntp

            self.sntp = sntp.Sntp(cfg, hal)
        self.client = None
        self.deadline = time.ticks_ms()
        self.mark = 0  # simulation: real time already charged to the virtual clock
        self.next_try = time.ticks_ms()
        self.last_io = time.ticks_ms()
        self.failures = 0
        self.connects = 0
        self.drops = 0
        self.inbox = []
        self.receipts = []  # (seq, n) as they arrived, at most _RECEIPTS_MAX
        self.messages = 0  # PUBLISHes taken from the broker (commands and receipts)

    def max_payload(self):
        return self._max

    def _begin(self):
        _SocketModule.owner = self
        self.deadline = time.ticks_add(time.ticks_ms(), self.timeout_ms)
        if self.clock:
            self.mark = self.clock.now()

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
        if self.wifi is not None and not self.wifi.ensure():
            return False  # WIFI.* said why; the samples wait in the journal
        if self.sntp is not None:
            self.sntp.maybe_sync()  # before TLS too: certificate dates need the time
        params = {}
        if self.tls:
            try:
                if self._ca is None:
                    self._ca = load_ca(_path(self.hal.fs_root, self.ca_file))
            except CaFileError as exc:
                self._fail(exc, "connect")
                return False
            params = {"server_hostname": self.host, "cadata": self._ca}
        self._begin()
        c = _Client(
            self,
            self.client_id,
            self.host,
            self.port,
            user=self.user,
            password=self._password if self.user else None,
            keepalive=self.keepalive_s,
            ssl=self.tls,
            ssl_params=params,
        )
        if self.tls:
            import sys

            if "ussl" not in sys.modules:
                sys.modules["ussl"] = _TlsModule()
        c.set_callback(self._on_message)  # umqtt's subscribe() insists on one; wait_msg calls us
        c.set_last_will(self.t_status, b"offline", retain=True, qos=1)
        try:
            c.connect(clean_session=False)
            self.client = c
            c.subscribe(self.t_cmd, qos=1)
            if self.t_receipt:
                c.subscribe(self.t_receipt, qos=1)
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

    def wifi_status(self):
        return self.wifi.status() if self.wifi is not None else None

    def _publish_status(self):
        frame = self.status()
        if frame:
            self.send_status(frame)

    def _on_message(self, topic, msg, retained=0):
        """True when the message is taken (and may be acknowledged)."""
        self.messages += 1
        if topic == self.t_receipt:
            self._on_receipt(msg)
            return True
        if topic != self.t_cmd:
            return True  # not ours to act on
        if retained:
            # a command left on the broker would run at every connect (a reboot loop): commands
            # must be sent without the retain flag
            diag.warn("MQTT.CMD_RETAINED", None, bytes=len(msg), action="ignored")
            return True
        if len(self.inbox) >= 4:
            diag.warn("MQTT.CMD_DEFERRED", None, reason="inbox full")
            return False
        self.inbox.append(bytes(msg))
        return True

    def _on_receipt(self, msg):
        if len(msg) != 3 or msg[0] != _RECEIPT_VERSION or msg[2] == 0:
            diag.warn("MQTT.RECEIPT_BAD", None, bytes=len(msg))
            return
        if len(self.receipts) >= _RECEIPTS_MAX:
            self.receipts.pop(0)  # a newer receipt reaches at least as far
        self.receipts.append((msg[1], msg[2]))

    def receipt(self):
        """The oldest receipt not yet handed out (reads what is waiting, never blocks)."""
        if not self.receipts and self.client is not None and self.t_receipt:
            self._begin()
            try:
                for _ in range(_RECEIPTS_MAX):
                    before = self.messages
                    self.client.check_msg()
                    if self.messages == before:
                        break
            except _ERRORS as exc:
                self._fail(exc, "poll")
        if self.receipts:
            return self.receipts.pop(0)
        return None

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
        code = exc.args[0] if exc.args and type(exc.args[0]) is int else None
        reason = None
        if isinstance(exc, simple.MQTTException) and code is not None:
            # a CONNACK refusal: its code is MQTT's, not an errno
            reason = _CONNACK[code] if 0 < code < len(_CONNACK) else "connack_%d" % code
            code = None
        elif isinstance(exc, DnsError):
            reason = "dns"
        elif isinstance(exc, CaFileError):
            reason = exc.reason
        elif self.tls and type(exc) is ValueError and op == "connect":
            reason = _tls_reason(exc)  # the broker's certificate failed verification
        elif isinstance(exc, AssertionError):
            reason = "protocol"  # umqtt asserts on a malformed CONNACK/SUBACK
        diag.warn(
            "MQTT.DOWN",
            self.host,
            op=op,
            exc=type(exc).__name__,
            errno=code,
            reason=reason,
            retry_s=wait // 1000,
        )
        if op == "connect" and self.wifi is not None and reason is None and self.wifi.is_up():
            self.wifi.no_route(self.host, self.port)

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
        if self.wifi is not None and self.client is None:
            self.wifi.sleep(interval_ms)  # a session still open needs the radio: kept up

    def close(self):
        if self.client is None:
            return
        self._begin()
        try:
            self.client.disconnect()
        except _ERRORS:
            pass
        self._close_socket()
