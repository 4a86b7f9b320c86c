"""A real MQTT broker on a free loopback port, and a subscriber that decodes what arrives.

`Broker("amqtt")` runs the pure-Python amqtt broker from the venv (always available);
`Broker("mosquitto")` runs the Mosquitto binary when it is installed. Both can be stopped,
killed and restarted on the same port (the fault tests do that). `Subscriber` is a paho-mqtt
client on `<prefix>/#` that keeps every message it receives.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


class BrokerError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mosquitto_exe() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    for cand in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        if os.access(cand, os.X_OK):
            return cand
    return None


def kinds_available() -> list[str]:
    return ["amqtt"] + (["mosquitto"] if mosquitto_exe() else [])


def _amqtt_exe() -> str:
    cand = Path(sys.executable).parent / "amqtt"
    if cand.exists():
        return str(cand)
    found = shutil.which("amqtt")
    if not found:
        raise BrokerError("amqtt is not installed (pip install -r requirements.txt)")
    return found


def _self_signed(cert: Path, key: Path) -> None:
    exe = shutil.which("openssl")
    if exe is None:
        raise BrokerError("openssl is not installed (needed for a TLS test certificate)")
    subprocess.run(
        [exe, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
         str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    os.chmod(key, 0o644)
    os.chmod(cert, 0o644)


class Broker:
    def __init__(
        self,
        kind: str = "amqtt",
        port: int | None = None,
        tls_port: int | None = None,
        users: dict[str, str] | None = None,
        tls_cert: tuple[Path, Path] | None = None,
    ):
        """tls_port (Mosquitto only): a second listener with TLS and a self-signed certificate
        (made with the openssl command) for 127.0.0.1/localhost, in `self.cert_path`, or the
        (certificate, key) files `tls_cert` (a test CA's server certificate).
        users (Mosquitto only): user -> password; anonymous clients are then refused."""
        if kind not in ("amqtt", "mosquitto"):
            raise BrokerError(f"unknown broker kind {kind!r} (amqtt or mosquitto)")
        if (tls_port or users) and kind != "mosquitto":
            raise BrokerError("TLS listeners and users are only set up for mosquitto")
        self.users = users
        self.kind = kind
        self.port = port or free_port()
        self.tls_port = tls_port
        self.proc: subprocess.Popen | None = None
        self._dir = tempfile.TemporaryDirectory(prefix=f"broker-{kind}-")
        os.chmod(self._dir.name, 0o755)  # mosquitto started as root reads its files as `mosquitto`
        self.cert_path = Path(self._dir.name) / "cert.pem"
        self._key_path = Path(self._dir.name) / "key.pem"
        if tls_cert is not None:
            # copied beside the config: mosquitto started as root reads its files as `mosquitto`
            for src, dst in zip(tls_cert, (self.cert_path, self._key_path), strict=True):
                shutil.copyfile(src, dst)
                os.chmod(dst, 0o644)
        self.log_path = Path(self._dir.name) / "broker.log"

    def _command(self) -> list[str]:
        d = Path(self._dir.name)
        if self.kind == "mosquitto":
            exe = mosquitto_exe()
            if exe is None:
                raise BrokerError("mosquitto is not installed (Debian: apt-get install mosquitto)")
            conf = d / "mosquitto.conf"
            text = f"listener {self.port} 127.0.0.1\npersistence false\n"
            if self.users:
                pwfile = d / "passwords"
                pwfile.write_text("".join(f"{u}:{p}\n" for u, p in self.users.items()))
                tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
                subprocess.run([tool, "-U", str(pwfile)], check=True, capture_output=True)
                os.chmod(pwfile, 0o644)
                text += f"allow_anonymous false\npassword_file {pwfile}\n"
            else:
                text += "allow_anonymous true\n"
            if self.tls_port:
                key = self._key_path
                if not self.cert_path.exists():
                    _self_signed(self.cert_path, key)
                text += (
                    f"listener {self.tls_port} 127.0.0.1\n"
                    f"certfile {self.cert_path}\nkeyfile {key}\n"
                )
            conf.write_text(text)
            return [exe, "-c", str(conf)]
        conf = d / "amqtt.yaml"
        conf.write_text(
            "listeners:\n"
            "  default:\n"
            "    type: tcp\n"
            f"    bind: 127.0.0.1:{self.port}\n"
            "plugins:\n"
            "  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
            "    allow_anonymous: true\n"
        )
        return [_amqtt_exe(), "-c", str(conf)]

    def start(self, timeout: float = 20.0) -> Broker:
        if self.running():
            return self
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self._command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BrokerError(
                    f"{self.kind} exited at start:\n{self.log_path.read_text()[-2000:]}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    pass
                if self.tls_port:
                    with socket.create_connection(("127.0.0.1", self.tls_port), timeout=0.2):
                        pass
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise BrokerError(f"{self.kind} did not listen on port {self.port} within {timeout} s")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, kill: bool = False) -> None:
        """Stop the broker (SIGTERM, or SIGKILL with kill=True: no goodbye to clients)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self, kill: bool = False) -> None:
        self.stop(kill=kill)
        self.start()

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()

    def __enter__(self) -> Broker:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


class Subscriber:
    """paho-mqtt client subscribed to `topic`; `messages` holds (topic, payload, retain)."""

    def __init__(self, port: int, topic: str = "#", host: str = "127.0.0.1"):
        import paho.mqtt.client as mqtt

        self.topic = topic
        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"sub-{os.getpid()}-{port}",
            clean_session=True,
        )
        self.subscribed = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a, **k: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.on_disconnect = lambda *a, **k: self.connected.clear()
        self.client.reconnect_delay_set(min_delay=0.05, max_delay=0.5)
        self.host = host
        self.port = port

    def _on_connect(self, client, userdata, flags, reason_code, properties=None):
        self.subscribed.clear()
        client.subscribe(self.topic, qos=1)
        self.connected.set()

    def _on_message(self, client, userdata, msg):
        with self.lock:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def start(self, timeout: float = 10.0) -> Subscriber:
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        self.wait_subscribed(timeout)
        return self

    def wait_subscribed(self, timeout: float = 10.0) -> None:
        if not self.subscribed.wait(timeout):
            raise BrokerError(f"subscriber could not subscribe on port {self.port}")

    def stop(self) -> None:
        self.client.loop_stop()
        try:
            self.client.disconnect()
        except Exception:  # noqa: BLE001 - already gone with the broker
            pass

    def snapshot(self) -> list[tuple[str, bytes, bool]]:
        with self.lock:
            return list(self.messages)
