"""The collector: a paho-mqtt client on the stations' and network servers' uplink topics that
decodes each frame with the project's Python decoder and stores its readings once.

A message is acknowledged (PUBACK) only after its readings are in the database: a collector that
dies in between leaves the message with the broker, which delivers it again (to this collector's
persistent session, or to another member of the shared-subscription group).

Delivery receipts: after a station's frame is stored, the collector publishes on
`<prefix>/<station>/receipt` the run of that station's seqs it knows are stored, ending with the
frame's last seq: 3 bytes `0x01 seq n` (seqs seq-n+1 .. seq modulo 256). A station with
`mqtt.receipts` on releases journal records only when such a run reaches back to its oldest
pending record (docs/collector.md).

LoRaWAN stations (The Things Stack, ChirpStack) get the same 3 bytes as a downlink on port 5,
queued through the network server's MQTT integration: for a confirmed uplink (the station's link
check, planned within its downlink budget) only, and at most one per device per
`lorawan_receipt_min_s` (a station stuck on confirmed uplinks must not spend the network's
fair-use downlinks). The network server sends it in the RX window of a later uplink.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from itertools import count

from stationctl.collector import sources
from stationctl.collector.store import Store, reading_of
from stationctl.payload import decoder

_instances = count()
RECEIPT_VERSION = 1
RUN_MAX = 255  # a receipt's run length is one byte
SEQ_MOD = decoder.SEQ_MOD
FPORT_RECEIPT = 5  # firmware codec.FPORT_RECEIPT
LORAWAN_RECEIPT_MIN_S = 3600  # the station checks every 12 h by default (docs/uplinks.md)


def receipt(seq: int, run: int) -> bytes:
    return bytes((RECEIPT_VERSION, seq % SEQ_MOD, run))


@dataclass
class Tally:
    stored: int = 0
    duplicates: int = 0  # readings the database already had (re-sent, or stored by a peer)
    rejected: int = 0  # messages on uplink topics that did not decode
    other_frames: int = 0  # status and ack frames, LPP: not readings
    receipts: int = 0
    lorawan_receipts: int = 0  # receipt downlinks queued through TTS / ChirpStack
    lorawan_receipts_held: int = 0  # confirmed uplinks not answered: one came too recently
    per_station: Counter = field(default_factory=Counter)

    def line(self) -> str:
        return (
            f"stored={self.stored} duplicates={self.duplicates} rejected={self.rejected}"
            f" other_frames={self.other_frames} stations={len(self.per_station)}"
        )


class Collector:
    def __init__(
        self,
        store: Store,
        host: str = "127.0.0.1",
        port: int = 1883,
        prefix: str = "climate",
        share: str | None = None,
        tts: bool = False,
        chirpstack: bool = False,
        client_id: str | None = None,
        user: str | None = None,
        password: str | None = None,
        log=print,
        receipts: bool = True,
        on_stored=None,
        lorawan_receipt_min_s: int = LORAWAN_RECEIPT_MIN_S,
    ):
        """on_stored(uplink, samples): called after a frame's readings are in the database (the
        soak and `stationctl run` count deliveries there)."""
        import paho.mqtt.client as mqtt

        self.store = store
        self.prefix = prefix
        self.tally = Tally()
        self.log = log
        self.lock = threading.Lock()
        self.receipts = receipts
        self.on_stored = on_stored
        # station -> (last seq, run length): seqs last-run+1 .. last (mod 256) known stored
        self.runs: dict[str, tuple[int, int]] = {}
        self.lorawan_receipt_min_s = lorawan_receipt_min_s
        self._last_downlink_s: dict[tuple[str, str], float] = {}  # (source, device) -> monotonic
        topics = sources.topics(prefix, tts, chirpstack)
        # $share/<group>/<filter>: the broker hands each message to one member of the group
        self.topics = [f"$share/{share}/{t}" if share else t for t in topics]
        self.subscribed = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"stationctl-collect-{os.getpid()}-{next(_instances)}",
            clean_session=False,  # the broker keeps QoS 1 messages for us while we are away
            manual_ack=True,  # PUBACK only once the readings are stored
        )
        if user:
            self.client.username_pw_set(user, password)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a, **k: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(min_delay=0.05, max_delay=2)
        self.host, self.port = host, port

    def _on_connect(self, client, userdata, flags, reason_code, properties=None):
        client.subscribe([(t, 1) for t in self.topics])

    def _on_message(self, client, userdata, msg):
        try:
            self.take(msg.topic, bytes(msg.payload), int(time.time()))
        except Exception as exc:  # noqa: BLE001 - the database failed: no PUBACK, redelivered
            self.log(f"collect: not stored, the broker keeps it: {exc}")
            client.disconnect()
            return
        client.ack(msg.mid, msg.qos)

    def take(self, topic: str, payload: bytes, now_s: int) -> int:
        """Store the readings one message carries; returns how many were new. Bad messages are
        counted and logged (topic and reason, never the payload) and change nothing."""
        try:
            up = sources.parse(topic, payload, self.prefix, now_s)
        except sources.MessageError as exc:
            self._reject(topic, str(exc))
            return 0
        if up is None:
            return 0
        if up.fport == decoder.FPORT_LPP or (
            up.frame and (up.frame[0] >> 3) & 3 in (decoder.FRAME_STATUS, decoder.FRAME_ACK)
        ):
            with self.lock:
                self.tally.other_frames += 1
            return 0
        try:
            samples = decoder.decode(up.frame, up.fport, up.received_at)
        except decoder.FrameError as exc:
            self._reject(topic, f"frame does not decode: {exc}")
            return 0
        new = 0
        for s in samples:
            if self.store.add(reading_of(up.station, s, up.received_at, up.source)):
                new += 1
        with self.lock:
            self.tally.stored += new
            self.tally.duplicates += len(samples) - new
            self.tally.per_station[up.station] += new
            last, run = self._extend_run(up.station, samples[0]["seq"], len(samples))
        if self.on_stored is not None:
            self.on_stored(up, samples)
        if self.receipts and up.source == "mqtt" and samples:
            self.client.publish(f"{self.prefix}/{up.station}/receipt", receipt(last, run), qos=1)
            with self.lock:
                self.tally.receipts += 1
        elif self.receipts and up.source in ("tts", "chirpstack") and up.confirmed and samples:
            self._queue_receipt(up, receipt(last, run))
        return new

    def _queue_receipt(self, up: sources.Uplink, payload: bytes) -> None:
        key = (up.source, up.device)
        now = time.monotonic()
        with self.lock:
            prev = self._last_downlink_s.get(key)
            if prev is not None and now - prev < self.lorawan_receipt_min_s:
                self.tally.lorawan_receipts_held += 1
                return
            self._last_downlink_s[key] = now
            self.tally.lorawan_receipts += 1
        topic, msg = sources.downlink(up, FPORT_RECEIPT, payload)
        # QoS 0: The Things Stack's MQTT server takes QoS 0 only
        self.client.publish(topic, msg, qos=0)

    def _extend_run(self, station: str, first: int, n: int) -> tuple[int, int]:
        """The run of stored seqs that ends with this frame's (first .. first+n-1, mod 256).
        It grows when the frame follows the run, and stays when the frame lies inside it (a
        re-send); otherwise the frame starts a new run (a gap, or the collector restarted)."""
        last = (first + n - 1) % SEQ_MOD
        prev = self.runs.get(station)
        if prev is not None:
            p_last, p_run = prev
            if (first - 1) % SEQ_MOD == p_last:
                run = min(p_run + n, RUN_MAX)
                self.runs[station] = (last, run)
                return last, run
            back = (p_last - last) % SEQ_MOD  # how far the frame's end lies behind the run's
            if back + n <= p_run:
                return last, p_run - back
        run = min(n, RUN_MAX)
        self.runs[station] = (last, run)
        return last, run

    def _reject(self, topic: str, why: str) -> None:
        with self.lock:
            self.tally.rejected += 1
        self.log(f"collect: {topic}: {why}")

    def start(self, timeout: float = 10.0) -> Collector:
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        if not self.subscribed.wait(timeout):
            self.stop()
            raise ConnectionError(f"collector could not subscribe at {self.host}:{self.port}")
        return self

    def stop(self) -> None:
        self.client.loop_stop()
        try:
            self.client.disconnect()
        except Exception:  # noqa: BLE001 - the broker is already gone
            pass
