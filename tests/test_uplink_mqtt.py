"""MQTT uplink against real brokers (amqtt always, Mosquitto when installed) on loopback ports.

The real firmware runs on the virtual station in unix MicroPython with real sockets; a paho-mqtt
subscriber on the host decodes what arrives. Faults are real: the broker is absent at boot, killed
and restarted, and a proxy cuts the connection between a PUBLISH and its PUBACK.
"""

from __future__ import annotations

import time

import pytest
from hostkit.mqtt_proxy import Proxy
from hostkit.station_run import StationRun, decode_seqs, report, wait_for
from stationctl.virtual.broker import Broker, Subscriber, kinds_available

KINDS = [
    pytest.param(
        k,
        marks=[]
        if k in kinds_available()
        else [pytest.mark.skip(reason=f"{k} not installed (Debian: apt-get install {k})")],
    )
    for k in ("amqtt", "mosquitto")
]

PREFIX = "climate/station-0000"


@pytest.fixture(params=KINDS)
def broker(request):
    b = Broker(request.param).start()
    yield b
    b.close()


def _args(port, cycles, pace=0.0, extra=()):
    return [
        "--cycles", str(cycles), "--uplink", "mqtt", "--trace", "synthetic",
        "--set", f"mqtt.port={port}", "--set", "mqtt.timeout_s=1", "--pace", str(pace), *extra,
    ]  # fmt: skip


def _up_frames(sub):
    return [(p, None) for t, p, _ in sub.snapshot() if t == PREFIX + "/up"]


def _settle(sub, run):
    """Wait until the subscriber has every frame the station had confirmed."""
    wait_for(lambda: set(run.produced) <= set(decode_seqs(_up_frames(sub))), timeout=5)


def test_every_sample_arrives_with_status_online(broker, tmp_path):
    sub = Subscriber(broker.port, PREFIX + "/#").start()
    run = StationRun(_args(broker.port, 12), tmp_path / "fs").wait()
    _settle(sub, run)
    seqs = decode_seqs(_up_frames(sub))
    fig = report(f"mqtt-basic-{broker.kind}", run.produced, seqs, run)
    assert fig["produced"] == 12 and fig["lost"] == 0
    assert run.journal["pending"] == "0"
    status = [p for t, p, _ in sub.snapshot() if t == PREFIX + "/status"]
    assert b"online" in status
    sub.stop()
    # the retained status is there for a newcomer
    late = Subscriber(broker.port, PREFIX + "/status").start()
    assert wait_for(lambda: (PREFIX + "/status", b"online", True) in late.snapshot(), 5)
    late.stop()


def test_broker_down_at_boot(broker, tmp_path):
    broker.stop()
    proxy = Proxy(broker.port)  # passes through; with no broker behind it every connect fails
    state = {}

    def on_line(run, line):
        # the broker comes up only after the station has already failed a few cycles
        if "MQTT.DOWN" in line and len(run.produced) >= 4 and not state:
            state["at_seq"] = run.produced[-1]
            proxy.set_mode("refuse")  # until the test's subscriber listens again
            broker.start()
            state["sub"] = Subscriber(broker.port, PREFIX + "/#").start()
            proxy.set_mode("pass")

    run = StationRun(_args(proxy.port, 16, pace=0.0004), tmp_path / "fs", on_line).wait()
    sub = state["sub"]
    _settle(sub, run)
    seqs = decode_seqs(_up_frames(sub))
    fig = report(f"mqtt-down-at-boot-{broker.kind}", run.produced, seqs, run)
    assert state["at_seq"] >= 4
    assert run.find("MQTT.DOWN"), "the outage was not noticed"
    assert fig["lost"] == 0, sorted(set(run.produced) - set(seqs))
    assert fig["max_journal_depth"] >= 4  # the early samples waited in the journal
    sub.stop()
    proxy.close()


def test_broker_killed_mid_run_and_restarted(broker, tmp_path):
    proxy = Proxy(broker.port)
    sub = Subscriber(broker.port, PREFIX + "/#").start()
    killed = {}

    def on_line(run, line):
        if "I SAMPLE" in line and len(run.produced) == 6 and not killed:
            killed["at"] = run.produced[-1]
            broker.stop(kill=True)
            time.sleep(0.3)  # a few cycles pass with no broker
            proxy.set_mode("refuse")  # until the test's subscriber listens again
            broker.start()
            sub.subscribed.clear()
            sub.client.reconnect()
            sub.wait_subscribed()
            proxy.set_mode("pass")

    run = StationRun(_args(proxy.port, 20, pace=0.0002), tmp_path / "fs", on_line).wait()
    _settle(sub, run)
    seqs = decode_seqs(_up_frames(sub))
    fig = report(f"mqtt-killed-{broker.kind}", run.produced, seqs, run)
    assert killed, "the broker was never killed"
    assert run.find("MQTT.DOWN")
    assert fig["lost"] == 0, sorted(set(run.produced) - set(seqs))
    sub.stop()
    proxy.close()


def test_connection_cut_between_publish_and_puback(broker, tmp_path):
    proxy = Proxy(broker.port)
    proxy.cut_after_publish = 3
    sub = Subscriber(broker.port, PREFIX + "/#").start()
    run = StationRun(_args(proxy.port, 10), tmp_path / "fs").wait()
    _settle(sub, run)
    seqs = decode_seqs(_up_frames(sub))
    fig = report(f"mqtt-cut-before-puback-{broker.kind}", run.produced, seqs, run)
    assert proxy.cuts == 3
    assert fig["lost"] == 0
    # the broker had each cut frame, the station did not know: sent again = duplicates, by seq
    assert fig["duplicates"] >= 3
    assert len(run.find("MQTT.DOWN")) >= 3
    proxy.close()
    sub.stop()


def test_half_open_link_costs_at_most_the_timeout(broker, tmp_path):
    """A stalled connection (nothing comes back) never holds a cycle longer than mqtt.timeout_s."""
    proxy = Proxy(broker.port)

    def on_line(run, line):
        if "I SAMPLE" in line and len(run.produced) == 3:
            proxy.set_mode("stall")
        if "I SAMPLE" in line and len(run.produced) == 7:
            proxy.set_mode("pass")
            proxy.close_all()

    run = StationRun(_args(proxy.port, 10, pace=0.0002), tmp_path / "fs", on_line).wait()
    # simulated cycle length: from the SAMPLE line to the DELIVERY/MQTT.DOWN line that ends it
    starts = [float(ln.split()[0]) for ln in run.find("SAMPLE")]
    downs = [float(ln.split()[0]) for ln in run.find("MQTT.DOWN")]
    assert downs, "the stall was not noticed"
    for t in downs:
        start = max(s for s in starts if s <= t)
        # one connect or publish, each bounded by mqtt.timeout_s=1 (plus the sensor read)
        assert t - start <= 1.0 + 0.3, f"cycle at {start} blocked {t - start:.3f} s"
        assert t - start >= 0.9, "the timeout was not charged to simulated time"
    sub = Subscriber(broker.port, PREFIX + "/#").start()
    proxy.close()
    sub.stop()
    assert run.journal["pending"] == "0"


def test_commands_on_cmd_are_answered_on_ack(broker, tmp_path):
    import paho.mqtt.publish as publish
    from stationctl.payload import decoder as codec

    sub = Subscriber(broker.port, PREFIX + "/#").start()
    sent = {}

    def on_line(run, line):
        if "MQTT.CONNECTED" in line and not sent:
            sent["x"] = True
            for cmd in (
                codec.encode_command("request_status", cmd_id=7),
                codec.encode_command(
                    "set_interval", cmd_id=8, check=False, interval_s=5
                ),  # out of range: the station must refuse it
            ):
                publish.single(PREFIX + "/cmd", cmd, qos=1, hostname="127.0.0.1", port=broker.port)

    run = StationRun(_args(broker.port, 8, pace=0.0002), tmp_path / "fs", on_line).wait()
    wait_for(lambda: len([m for m in sub.snapshot() if m[0].endswith("/ack")]) >= 2, 5)
    acks = [codec.decode(p, 4)[0] for t, p, _ in sub.snapshot() if t == PREFIX + "/ack"]
    by_id = {a["cmd_id"]: a for a in acks}
    assert set(by_id) == {7, 8}, acks
    assert by_id[7]["result"] == "ok"
    assert by_id[8]["result"] == "out_of_range"
    assert run.find("COMMAND.REJECTED")
    # the status request was answered with a status frame on /status (beside the retained online)
    frames = [
        p
        for t, p, _ in sub.snapshot()
        if t == PREFIX + "/status" and p not in (b"online", b"offline")
    ]
    kinds = [codec.decode(p, 3)[0].get("frame") for p in frames]
    assert kinds and all(k == "status" for k in kinds), kinds
    assert run.find("STATUS.SENT")
    sub.stop()


def test_tls_to_mosquitto(tmp_path):
    import shutil

    from stationctl.virtual.broker import free_port

    if "mosquitto" not in kinds_available() or not shutil.which("openssl"):
        pytest.skip("needs mosquitto and openssl")
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    broker = Broker("mosquitto", tls_port=free_port()).start()
    try:
        sub = Subscriber(broker.port, PREFIX + "/#").start()
        # the self-signed certificate is its own CA: the station verifies against it (DER)
        cert = x509.load_pem_x509_certificate(broker.cert_path.read_bytes())
        ca = tmp_path / "ca.der"
        ca.write_bytes(cert.public_bytes(serialization.Encoding.DER))
        tls = (
            "--set",
            "mqtt.ca_file=ca.der",
            "--set",
            "mqtt.tls=true",
            "--install",
            f"{ca}=ca.der",
        )
        args = _args(broker.tls_port, 4, extra=(*tls, "--set", "mqtt.host=localhost"))
        run = StationRun(args, tmp_path / "fs").wait()
        _settle(sub, run)
        seqs = decode_seqs(_up_frames(sub))
        assert set(seqs) == set(run.produced) and len(run.produced) == 4
        assert run.find("MQTT.CONNECTED")
        sub.stop()
    finally:
        broker.close()


def test_username_and_password_from_the_secrets_file(tmp_path):
    import json

    if "mosquitto" not in kinds_available():
        pytest.skip("needs mosquitto (password file)")
    secret = "s3cret-Pa55word"
    broker = Broker("mosquitto", users={"station-0000": secret, "reader": "rpw"}).start()
    try:
        sub = Subscriber(broker.port, PREFIX + "/#")
        sub.client.username_pw_set("reader", "rpw")
        sub.start()
        good = tmp_path / "secrets.json"
        good.write_text(json.dumps({"mqtt_password": secret}))
        extra = ("--set", "mqtt.user=station-0000", "--secrets", str(good))
        run = StationRun(_args(broker.port, 3, extra=extra), tmp_path / "fs").wait()
        _settle(sub, run)
        assert set(decode_seqs(_up_frames(sub))) == set(run.produced)
        # a wrong password: refused by the broker, reported, samples kept, the password not shown
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({"mqtt_password": "wrong-" + secret}))
        extra = ("--set", "mqtt.user=station-0000", "--secrets", str(bad))
        run2 = StationRun(_args(broker.port, 3, extra=extra), tmp_path / "fs2").wait()
        downs = run2.find("MQTT.DOWN")
        assert downs and all("exc=MQTTException" in d for d in downs), downs
        assert run2.journal["pending"] == "3"
        for line in run.lines + run2.lines:
            assert secret not in line
        sub.stop()
    finally:
        broker.close()
