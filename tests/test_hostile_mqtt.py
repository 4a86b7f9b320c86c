"""The MQTT uplink against hostile peers (issue 10): retained and oversized messages on a real
Mosquitto, and a rogue broker (tests/hostkit/mqtt_rogue.py) for what no real broker does: trickled,
garbage or refused CONNACKs, PUBLISH lengths that lie, floods of commands.

The real firmware runs on the virtual station (unix MicroPython, real sockets, heap of a board).
"""

from __future__ import annotations

import pytest
from hostkit.mqtt_rogue import RogueBroker
from hostkit.station_run import StationRun, decode_seqs, wait_for
from stationctl.payload import decoder as codec
from stationctl.virtual.broker import Broker, Subscriber, kinds_available

PREFIX = "climate/station-0000"

needs_mosquitto = pytest.mark.skipif(
    "mosquitto" not in kinds_available(), reason="needs mosquitto (apt-get install mosquitto)"
)


def _args(port, cycles, timeout_s=1, extra=()):
    return [
        "--cycles", str(cycles), "--uplink", "mqtt", "--trace", "synthetic",
        "--set", f"mqtt.port={port}", "--set", f"mqtt.timeout_s={timeout_s}", *extra,
    ]  # fmt: skip


def _retain(port, payload):
    import paho.mqtt.publish as publish

    publish.single(PREFIX + "/cmd", payload, qos=1, retain=True, hostname="127.0.0.1", port=port)


@needs_mosquitto
def test_megabyte_retained_message_is_discarded_not_allocated(tmp_path):
    # item 3: a stock Mosquitto delivers a 1 MB retained message on the cmd topic at every
    # connect; the station (device-sized heap) reads it away in chunks and delivers its samples
    broker = Broker("mosquitto").start()
    try:
        _retain(broker.port, b"\x25" * (1024 * 1024))
        sub = Subscriber(broker.port, PREFIX + "/up").start()
        args = _args(broker.port, 2, timeout_s=5, extra=("--set", "mqtt.keepalive_s=3600"))
        run = StationRun(args, tmp_path / "fs").wait()
        assert wait_for(lambda: len(sub.snapshot()) >= 2, 5)
        seqs = decode_seqs([(p, None) for _, p, _ in sub.snapshot()])
        assert set(run.produced) <= set(seqs)
        discarded = run.find("MQTT.MSG_DISCARDED")
        assert discarded and "bytes=1048576" in discarded[0], run.lines[-20:]
        assert not run.find("CRASH")
        sub.stop()
    finally:
        broker.close()


@needs_mosquitto
def test_retained_reboot_command_is_not_run_at_every_connect(tmp_path):
    # item 2: a retained command would run at every connect (reboot loop, then safe mode)
    broker = Broker("mosquitto").start()
    try:
        _retain(broker.port, codec.encode_command("reboot", cmd_id=5))
        run = StationRun(
            _args(broker.port, 6, extra=("--set", "mqtt.keepalive_s=60")), tmp_path / "fs"
        ).wait()
        assert run.find("MQTT.CMD_RETAINED"), run.lines[-20:]
        assert not run.find("REBOOT")
        assert len(run.find("BOOT")) == 1
        assert len(run.produced) == 6
    finally:
        broker.close()


def test_publish_claiming_256_megabytes_costs_one_timeout(tmp_path):
    # item 3: a hostile broker's length field; the station never allocates it, gives up at the
    # operation's deadline and keeps every sample in its journal
    rogue = RogueBroker("huge")
    try:
        run = StationRun(_args(rogue.port, 4), tmp_path / "fs").wait()
        downs = run.find("MQTT.DOWN")
        assert downs and all("op=connect" in d for d in downs), run.lines[-20:]
        assert run.journal["pending"] == "4"
        assert not run.find("CRASH")
        assert max(rogue.closed_after_s) < 3.0
    finally:
        rogue.close()


def test_trickled_connack_is_bounded_by_one_deadline(tmp_path):
    # item 6: one byte every 0.6 s; each byte alone is inside timeout_s=1, the CONNACK (4 bytes,
    # 2.4 s) is not: the station gives up after 1 s (real waits are charged to its clock)
    rogue = RogueBroker("trickle")
    rogue.trickle_s = 0.6
    try:
        run = StationRun(_args(rogue.port, 2), tmp_path / "fs").wait()
        assert not run.find("MQTT.CONNECTED"), run.lines[-20:]
        downs = run.find("MQTT.DOWN")
        assert downs and "errno=110" in downs[0], downs
        assert float(downs[0].split()[0]) <= 1.3, downs[0]  # simulated seconds since boot
    finally:
        rogue.close()


def test_pingresp_flood_is_bounded_by_the_deadline(tmp_path):
    # item 6: every packet of a flood arrives at once, so no socket wait is long: the time is
    # CPU time, which the simulated clock must see too, or the deadline never passes
    import time

    rogue = RogueBroker("pingflood")
    try:
        t0 = time.monotonic()
        run = StationRun(_args(rogue.port, 1), tmp_path / "fs").wait()
        took = time.monotonic() - t0
        downs = run.find("MQTT.DOWN")
        assert downs and "errno=110" in downs[0], run.lines[-10:]
        assert float(downs[0].split()[0]) <= 1.5, downs[0]
        assert took < 10, f"a 1 s deadline took {took:.1f} s of real time"
    finally:
        rogue.close()


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("refuse:5", "reason=not_authorised"),
        ("refuse:4", "reason=bad_login"),
        ("garbage", "reason=protocol"),
    ],
)
def test_refused_or_garbage_connack_is_named(tmp_path, mode, reason):
    # item 9: a CONNACK code is MQTT's, not an errno (5 used to read as EIO)
    rogue = RogueBroker(mode)
    try:
        run = StationRun(_args(rogue.port, 2), tmp_path / "fs").wait()
        down = run.find("MQTT.DOWN")[0]
        assert reason in down and "errno=-" in down, down
    finally:
        rogue.close()


def test_unresolvable_host_is_named(tmp_path):
    run = StationRun(
        _args(1883, 1, extra=("--set", 'mqtt.host="no-such-host.invalid"')), tmp_path / "fs"
    ).wait()
    down = run.find("MQTT.DOWN")[0]
    assert "reason=dns" in down, down


def test_commands_beyond_the_inbox_are_not_acknowledged(tmp_path):
    # item 7: what the station cannot take, it must not PUBACK (the broker keeps it)
    rogue = RogueBroker("flood:6")
    rogue.commands = [codec.encode_command("request_status", cmd_id=i) for i in range(6)]
    try:
        run = StationRun(
            _args(rogue.port, 2, extra=("--set", "mqtt.keepalive_s=3600")), tmp_path / "fs"
        ).wait()
        taken = len([ln for ln in run.find("DOWNLINK") if " DOWNLINK " in ln])
        assert taken >= 1
        # every PUBACK the rogue received is a command the station handled, and no more
        acks = [p for t, p in rogue.published if t.endswith(b"/ack")]
        assert len(rogue.pubacks) == taken == len(acks), (rogue.pubacks, taken, run.lines[-30:])
        assert len(run.find("MQTT.CMD_DEFERRED")) == 6 - taken
    finally:
        rogue.close()
