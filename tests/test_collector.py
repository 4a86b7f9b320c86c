"""`stationctl collect`: topics of stations, The Things Stack and ChirpStack; readings stored once
(UNIQUE in the database, whoever writes); two collectors sharing a fleet through MQTT shared
subscriptions on a real Mosquitto; SQLite and a real PostgreSQL server holding the same readings.

Frames are made by the firmware encoder (inside MicroPython) and decoded by the Python decoder.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
import time

import pytest
from hostkit.postgres import Postgres, unavailable
from stationctl.collector import sources
from stationctl.collector.collector import Collector
from stationctl.collector.store import SqliteStore, open_store
from stationctl.payload.firmware_codec import FirmwareCodec
from stationctl.virtual.broker import Broker, kinds_available

T0 = 1767225600  # 2026-01-01T00:00:00Z
NEED_MOSQUITTO = pytest.mark.skipif(
    "mosquitto" not in kinds_available(),
    reason="mosquitto not installed (Debian: apt-get install mosquitto)",
)


def _samples(n: int, seq0: int = 0, t0: int = T0) -> list[dict]:
    return [
        {
            "seq": (seq0 + i) % 256,
            "time": t0 + 600 * i,
            "temperature_c": 12.0 + 0.1 * i,
            "humidity_pct": 60.0 + (i % 7),
            "pressure_hpa": 1001.5,
            "co2_ppm": 420 + i,
            "pm2_5_ugm3": 4.2,
            "health": {"clock_synced": True},
        }
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def fleet_frames():
    """station id -> its frames (one sample each, unix time), 6 stations x 20 samples: the
    20 samples of station k start at seq 250 + k, so the seq wraps inside the run."""
    with FirmwareCodec() as fw:
        return {
            f"st-{k:04d}": [f for f, _ in fw.encode(_samples(20, seq0=250 + k), batch=1)]
            for k in range(6)
        }


def _collector(store, port=1883, **kw):
    lines = []
    c = Collector(store, port=port, log=lines.append, **kw)
    c.lines = lines
    return c


# --- what a message carries ---------------------------------------------------------------


def test_topics_of_station_tts_and_chirpstack(fleet_frames):
    frame = fleet_frames["st-0000"][0]
    b64 = base64.b64encode(frame).decode()
    up = sources.parse("climate/st-0042/up", frame, "climate", 1000)
    assert (up.station, up.frame, up.fport, up.received_at, up.source) == (
        "st-0042",
        frame,
        None,
        1000,
        "mqtt",
    )
    tts = json.dumps(
        {
            "end_device_ids": {"device_id": "st-0007"},
            "received_at": "2026-01-01T00:10:00.123456789Z",
            "uplink_message": {"f_port": 1, "frm_payload": b64},
        }
    ).encode()
    up = sources.parse("v3/city@ttn/devices/st-0007/up", tts, "climate", 0)
    assert (up.station, up.frame, up.fport, up.received_at, up.source) == (
        "st-0007",
        frame,
        1,
        T0 + 600,
        "tts",
    )
    cs = json.dumps({"time": "2026-01-01T00:10:00+00:00", "fPort": 1, "data": b64}).encode()
    up = sources.parse("application/7f3c/device/70B3D57ED0000001/event/up", cs, "climate", 0)
    assert (up.station, up.fport, up.received_at, up.source) == (
        "70b3d57ed0000001",
        1,
        T0 + 600,
        "chirpstack",
    )
    # topics that carry no uplink are not ours to read
    assert sources.parse("climate/st-0042/status", b"online", "climate", 0) is None
    assert sources.parse("application/1/device/ab/event/join", b"{}", "climate", 0) is None


@pytest.mark.parametrize(
    "topic,payload,why",
    [
        ("v3/a/devices/d/up", b"not json", "not JSON"),
        ("v3/a/devices/d/up", b'{"received_at": "2026-01-01T00:00:00Z"}', "uplink_message"),
        (
            "v3/a/devices/d/up",
            b'{"received_at":"2026-01-01T00:00:00Z","uplink_message":{"f_port":1,"frm_payload":"%%"}}',
            "base64",
        ),
        (
            "v3/a/devices/d/up",
            b'{"received_at":"yesterday","uplink_message":{"f_port":1,"frm_payload":"RAE="}}',
            "RFC 3339",
        ),
        (
            "application/1/device/ab/event/up",
            b'{"time":"2026-01-01T00:00:00Z","data":"RAE="}',
            "fPort",
        ),
        ("climate/st-1/up", b"", "empty"),
    ],
)
def test_unreadable_messages_are_rejected_with_a_reason(tmp_path, topic, payload, why):
    store = SqliteStore(str(tmp_path / "r.sqlite"))
    c = _collector(store)
    assert c.take(topic, payload, T0) == 0
    assert c.tally.rejected == 1 and c.tally.stored == 0
    assert why in c.lines[0] and topic in c.lines[0]
    assert store.readings() == []


def test_bad_frame_rejected_and_station_status_is_not_a_reading(tmp_path, fleet_frames):
    store = SqliteStore(str(tmp_path / "r.sqlite"))
    c = _collector(store)
    assert c.take("climate/st-1/up", b"\x44\x01", T0) == 0
    assert c.tally.rejected == 1 and "does not decode" in c.lines[0]
    with FirmwareCodec() as fw:
        status = fw.status(uptime_s=5)
    assert c.take("climate/st-1/up", status, T0) == 0
    assert c.tally.other_frames == 1
    assert store.readings() == []


def test_a_reading_is_stored_once_even_by_two_writers(tmp_path, fleet_frames):
    """Duplicates by station + seq + time: a re-sent frame, the same frame through a second
    collector with its own connection to the same database, and the same frame from a network
    server all store one row; the same seq at another time is another reading."""
    db = str(tmp_path / "r.sqlite")
    a, b = _collector(SqliteStore(db)), _collector(SqliteStore(db))
    frames = fleet_frames["st-0001"]
    assert a.take("climate/st-0001/up", frames[0], T0) == 1
    assert a.take("climate/st-0001/up", frames[0], T0 + 60) == 0
    assert b.take("climate/st-0001/up", frames[0], T0 + 120) == 0
    assert a.tally.duplicates == 1 and b.tally.duplicates == 1
    assert a.take("climate/st-0002/up", frames[0], T0) == 1  # another station
    with FirmwareCodec() as fw:
        later = fw.encode(_samples(1, seq0=251, t0=T0 + 86400), batch=1)[0][0]
    assert later[1] == frames[0][1]  # same seq byte
    assert a.take("climate/st-0001/up", later, T0) == 1
    rows = a.store.readings()
    assert [(r[0], r[1], r[3]) for r in rows] == [
        ("st-0001", 251, T0),
        ("st-0001", 251, T0 + 86400),
        ("st-0002", 251, T0),
    ]


def test_a_resent_age_frame_is_the_same_reading(tmp_path):
    """Frames sent live carry the sample's age; its time is the receive time minus the age. A
    re-send a minute later carries a larger age, and the two clocks disagree by a second: still
    one reading. The same seq a day later is another one."""
    c = _collector(SqliteStore(str(tmp_path / "r.sqlite")))
    with FirmwareCodec() as fw:
        first = fw.encode(_samples(1), now=T0 + 30)[0][0]
        again = fw.encode(_samples(1), now=T0 + 90)[0][0]
        later = fw.encode(_samples(1, t0=T0 + 86400), now=T0 + 86400 + 30)[0][0]
    assert first != again  # different ages
    assert c.take("climate/st-1/up", first, T0 + 30) == 1
    assert c.take("climate/st-1/up", again, T0 + 91) == 0
    assert c.take("climate/st-1/up", later, T0 + 86400 + 30) == 1
    assert [r[3] for r in c.store.readings()] == [T0, T0 + 86400]
    assert c.tally.duplicates == 1


def _uptime_frames(boot_id: int) -> list[bytes]:
    """Two journal records of one boot that never learnt the time: seq 5 and 6, uptimes."""
    samples = [
        {"seq": 5 + i, "time": 600 + 600 * i, "boot_id": boot_id, "temperature_c": 12.5 + i}
        | {"health": {"clock_synced": False}}
        for i in range(2)
    ]
    with FirmwareCodec() as fw:
        return [f for f, _ in fw.encode(samples, batch=1)]


def test_two_boots_same_seq_and_uptime_are_two_readings_left_out_of_exports(tmp_path):
    """Uptimes restart at every boot: boot 7's and boot 8's seq 5 at uptime 600 s are two
    readings (the boot id tells them apart), a re-send of one is not; neither has a date."""
    from stationctl.collector import export

    c = _collector(SqliteStore(str(tmp_path / "r.sqlite")))
    boot7, boot8 = _uptime_frames(7), _uptime_frames(8)
    assert boot7 != boot8
    for f in boot7 + boot8:
        assert c.take("climate/st-1/up", f, T0) == 1
    assert c.take("climate/st-1/up", boot7[0], T0 + 60) == 0  # a re-send: the same reading
    rows = c.store.readings()
    assert [(r[1], r[2], r[3], r[-1]) for r in rows] == [
        (5, "uptime", 600, 7),
        (6, "uptime", 1200, 7),
        (5, "uptime", 600, 8),
        (6, "uptime", 1200, 8),
    ]
    assert c.tally.duplicates == 1
    placed, skipped = export.rows(rows)
    assert (placed, skipped) == ([], 4)  # not placed in time: never exported with a date


def test_a_database_from_before_boot_ids_is_migrated_and_keeps_its_readings(tmp_path):
    import sqlite3

    path = str(tmp_path / "old.sqlite")
    c = _collector(SqliteStore(path))
    assert c.take("climate/st-1/up", _uptime_frames(0)[0], T0) == 1  # no boot id sent
    c.store.close()
    db = sqlite3.connect(path)  # the table as it was: no boot_id, the old UNIQUE rule
    cols = [r[1] for r in db.execute("PRAGMA table_info(readings)") if r[1] != "boot_id"]
    ddl = db.execute("SELECT sql FROM sqlite_master WHERE name = 'readings'").fetchone()[0]
    old_ddl = ddl.replace(",\n    boot_id INTEGER NOT NULL DEFAULT 0", "")
    old_ddl = old_ddl.replace("time_s, boot_id)", "time_s)")
    assert "boot_id" not in old_ddl
    with db:
        db.execute("ALTER TABLE readings RENAME TO r0")
        db.execute(old_ddl)
        db.execute(f"INSERT INTO readings SELECT {', '.join(cols)} FROM r0")
        db.execute("DROP TABLE r0")
    db.close()
    c = _collector(SqliteStore(path))
    assert c.take("climate/st-1/up", _uptime_frames(8)[0], T0) == 1  # boot 8's seq 5: new
    assert c.take("climate/st-1/up", _uptime_frames(0)[0], T0) == 0  # the old one: kept once
    assert [(r[1], r[3], r[-1]) for r in c.store.readings()] == [(5, 600, 0), (5, 600, 8)]


@pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))
def test_a_postgresql_database_from_before_boot_ids_is_migrated(tmp_path):
    """The table as the collector made it before boot ids (its UNIQUE rule without boot_id, the
    constraint named as PostgreSQL names it): opening it adds the column and widens the rule."""
    import psycopg
    from stationctl.payload.decoder import KEYS

    pg = Postgres().start()
    try:
        with psycopg.connect(pg.url, autocommit=True) as db:
            values = ", ".join(f"{k} DOUBLE PRECISION" for k in KEYS)
            db.execute(
                "CREATE TABLE readings (station TEXT NOT NULL, seq INTEGER NOT NULL,"
                " time_kind TEXT NOT NULL, time_s BIGINT NOT NULL, received_at BIGINT NOT NULL,"
                f" source TEXT NOT NULL, {values}, detail TEXT NOT NULL,"
                " UNIQUE (station, seq, time_kind, time_s))"
            )
            db.execute(
                "INSERT INTO readings (station, seq, time_kind, time_s, received_at, source,"
                " detail) VALUES ('st-1', 5, 'uptime', 600, %s, 'mqtt', '{}')",
                (T0,),
            )
        c = _collector(open_store(pg.url))
        assert c.take("climate/st-1/up", _uptime_frames(8)[0], T0) == 1  # boot 8's seq 5
        assert c.take("climate/st-1/up", _uptime_frames(8)[0], T0) == 0  # once
        rows = c.store.readings()
        c.store.close()
    finally:
        pg.stop()
    assert [(r[1], r[3], r[-1]) for r in rows] == [(5, 600, 0), (5, 600, 8)]


# --- real broker ----------------------------------------------------------------------------


def _publish_fleet(port: int, fleet: dict, repeat: int = 1) -> int:
    """Publish every station's frames QoS 1 on its topic (`repeat` times: re-sends)."""
    import paho.mqtt.client as mqtt

    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fleet-pub")
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    n = 0
    infos = []
    for _ in range(repeat):
        for station, frames in fleet.items():
            for f in frames:
                infos.append(pub.publish(f"climate/{station}/up", f, qos=1))
                n += 1
    for info in infos:
        info.wait_for_publish(10)
    pub.loop_stop()
    pub.disconnect()
    return n


def _wait_total(collectors, total: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(c.tally.stored + c.tally.duplicates for c in collectors) >= total:
            return
        time.sleep(0.05)


@NEED_MOSQUITTO
def test_two_collectors_share_a_fleet_through_shared_subscriptions(tmp_path, fleet_frames):
    """Mosquitto hands each message of `$share/fleet/...` to one of the two collectors; every
    frame is published twice (a station re-sending after a lost PUBACK), so the two collectors
    also race on the same readings: the database keeps each once."""
    db = str(tmp_path / "fleet.sqlite")
    with Broker("mosquitto") as broker:
        cs = [
            _collector(SqliteStore(db), port=broker.port, share="fleet", client_id=f"coll-{i}")
            for i in range(2)
        ]
        for c in cs:
            c.start()
        try:
            sent = _publish_fleet(broker.port, fleet_frames, repeat=2)
            _wait_total(cs, sent)
        finally:
            for c in cs:
                c.stop()
    unique = sum(len(f) for f in fleet_frames.values())
    assert sent == 2 * unique
    got = [c.tally.stored + c.tally.duplicates for c in cs]
    assert sum(got) == sent, got  # each message went to exactly one collector
    assert all(g > 0 for g in got), got  # and both took a share
    assert sum(c.tally.stored for c in cs) == unique
    rows = SqliteStore(db).readings()
    assert len(rows) == unique
    assert len({(r[0], r[1], r[2], r[3]) for r in rows}) == unique
    for station, frames in fleet_frames.items():
        assert sum(r[0] == station for r in rows) == len(frames)


@NEED_MOSQUITTO
@pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))
def test_sqlite_and_postgresql_hold_identical_readings(tmp_path, fleet_frames):
    """One run, two collectors (not shared: each gets every message), one on SQLite, one on a
    real PostgreSQL server: the same rows, values compared exactly."""
    pg = Postgres().start()
    try:
        with Broker("mosquitto") as broker:
            lite = _collector(open_store(str(tmp_path / "r.sqlite")), port=broker.port)
            post = _collector(open_store(pg.url), port=broker.port)
            for c in (lite, post):
                c.start()
            try:
                sent = _publish_fleet(broker.port, fleet_frames)
                _wait_total([lite], sent)
                _wait_total([post], sent)
            finally:
                for c in (lite, post):
                    c.stop()
        a, b = lite.store.readings(), post.store.readings()
        post.store.close()
    finally:
        pg.stop()
    assert len(a) == sent
    # received_at is each collector's own clock: compare everything else
    strip = [r[:4] + r[5:] for r in a]
    assert strip == [r[:4] + r[5:] for r in b]
    assert {r[2] for r in a} == {"unix"}


def test_collect_command_reports_a_bad_database(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "stationctl.cli",
            "collect",
            "--db",
            str(tmp_path / "no/such/dir/r.db"),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert "cannot open SQLite database" in out.stderr


# --- receipts to LoRaWAN stations through the network server --------------------------------


def _subscribe(port: int, topic: str) -> tuple[object, list]:
    import paho.mqtt.client as mqtt

    got = []
    ready = threading.Event()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="ns-down")
    sub.on_connect = lambda c, *a: c.subscribe(topic, 0)
    sub.on_subscribe = lambda *a: ready.set()
    sub.on_message = lambda c, u, m: got.append((m.topic, json.loads(m.payload)))
    sub.connect("127.0.0.1", port)
    sub.loop_start()
    assert ready.wait(10)
    return sub, got


def _wait_for(cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.02)


@NEED_MOSQUITTO
def test_lorawan_checks_get_a_receipt_downlink_through_tts_and_chirpstack(tmp_path, fleet_frames):
    """A confirmed uplink (the station's link check) through The Things Stack or ChirpStack: the
    collector stores it and queues `0x01 seq n` on port 5 through the same integration; a second
    check within the rate limit and an unconfirmed uplink get none."""
    import paho.mqtt.client as mqtt

    frames = fleet_frames["st-0003"]  # seqs 253, 254, 255, 0, ...
    b64 = [base64.b64encode(f).decode() for f in frames]

    def tts(i, confirmed):
        up = {"f_port": 1, "frm_payload": b64[i], "confirmed": confirmed}
        doc = {"received_at": "2026-01-01T00:10:00Z", "uplink_message": up}
        return "v3/city@ttn/devices/st-0003/up", json.dumps(doc)

    def cs(i, confirmed):
        doc = {"time": "2026-01-01T00:10:00Z", "fPort": 1, "data": b64[i], "confirmed": confirmed}
        return "application/7f3c/device/70B3D57ED0000001/event/up", json.dumps(doc)

    with Broker("mosquitto") as broker:
        sub, got = _subscribe(broker.port, "#")
        c = _collector(
            SqliteStore(str(tmp_path / "r.sqlite")), port=broker.port, tts=True, chirpstack=True
        )
        c.start()
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="ns-up")
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        try:
            for msg in (tts(0, False), tts(1, True), cs(0, False), cs(1, True)):
                pub.publish(*msg, qos=1).wait_for_publish(10)
            _wait_for(lambda: c.tally.stored == 4 and len(c.lines) == 0)
            _wait_for(lambda: sum("/down/" in t or "/command/" in t for t, _ in got) >= 2)
            # within the rate limit: a second check of each device gets no receipt
            for msg in (tts(2, True), cs(2, True)):
                pub.publish(*msg, qos=1).wait_for_publish(10)
            _wait_for(lambda: c.tally.stored == 6)
            time.sleep(0.3)  # a wrongly queued downlink would have arrived by now
        finally:
            pub.loop_stop()
            pub.disconnect()
            c.stop()
            sub.loop_stop()
            sub.disconnect()
    downs = [(t, m) for t, m in got if "/down/" in t or "/command/" in t]
    assert c.tally.stored == 6 and c.lines == []
    assert (c.tally.lorawan_receipts, c.tally.lorawan_receipts_held) == (2, 2)
    assert len(downs) == 2, downs
    by_topic = dict(downs)
    t = by_topic["v3/city@ttn/devices/st-0003/down/replace"]
    assert list(t) == ["downlinks"] and len(t["downlinks"]) == 1
    d = t["downlinks"][0]
    assert (d["f_port"], d["priority"]) == (5, "NORMAL")
    # seqs 253 and 254 stored: the run ends at 254, two long
    assert base64.b64decode(d["frm_payload"]) == bytes((1, 254, 2))
    d = by_topic["application/7f3c/device/70B3D57ED0000001/command/down"]
    assert d == {
        "devEui": "70b3d57ed0000001",
        "confirmed": False,
        "fPort": 5,
        "data": base64.b64encode(bytes((1, 254, 2))).decode(),
    }
    # no receipt on the stations' own MQTT receipt topic for LoRaWAN devices
    assert not [t for t, _ in got if t.endswith("/receipt")]


def test_downlink_messages_follow_the_uplink_topic_form():
    """Open-source TTS has no tenant in the application id: the downlink topic is as it came."""
    up = sources.parse(
        "v3/city/devices/st-1/up",
        b'{"received_at":"2026-01-01T00:00:00Z","uplink_message":{"f_port":1,"frm_payload":"RAE="}}',
        "climate",
        0,
    )
    assert up.confirmed is False
    topic, msg = sources.downlink(up, 5, b"\x01\x02\x03")
    assert topic == "v3/city/devices/st-1/down/replace"
    assert json.loads(msg)["downlinks"][0]["frm_payload"] == "AQID"
