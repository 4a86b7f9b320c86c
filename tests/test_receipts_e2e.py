"""Delivery receipts end to end: the virtual station (real firmware in unix MicroPython), a real
Mosquitto and `stationctl collect` (SQLite).

The loss the receipts exist for: the broker PUBACKs frames it holds for a collector that is
away, then dies (SIGKILL, no persistence) before handing them on. With PUBACK releasing journal
records (receipts off, the old behaviour) those samples are gone; with receipts on the station
keeps them until the collector says it stored them, and sends them again.
"""

from __future__ import annotations

import pytest
from hostkit.station_run import StationRun, report, wait_for
from stationctl.collector.collector import Collector
from stationctl.collector.store import SqliteStore
from stationctl.virtual.broker import Broker, kinds_available

pytestmark = pytest.mark.skipif(
    "mosquitto" not in kinds_available(),
    reason="mosquitto not installed (Debian: apt-get install mosquitto)",
)


def _args(port: int, cycles: int, receipts: bool):
    return [
        "--cycles", str(cycles), "--uplink", "mqtt", "--trace", "synthetic",
        "--set", f"mqtt.port={port}", "--set", "mqtt.timeout_s=1", "--pace", "0.0002",
        "--set", f"mqtt.receipts={'true' if receipts else 'false'}",
    ]  # fmt: skip


def _run(tmp_path, receipts: bool):
    store = SqliteStore(str(tmp_path / "readings.sqlite"))
    with Broker("mosquitto") as broker:
        live = {"c": Collector(store, port=broker.port, client_id="coll", log=lambda s: None)}
        live["c"].start()
        events = []

        def on_line(run, line):
            n = len(run.produced)
            if "I SAMPLE" not in line:
                return
            if n == 5 and not events:
                live["c"].stop()  # away; its persistent session queues on the broker
                events.append("collector away")
            elif n == 10 and len(events) == 1:
                broker.stop(kill=True)  # with the frames it PUBACKed and still held
                broker.start()
                live["c"] = Collector(store, port=broker.port, client_id="coll", log=lambda s: None)
                live["c"].start()
                events.append("broker killed")

        run = StationRun(_args(broker.port, 30, receipts), tmp_path / "fs", on_line).wait()
        produced = set(run.produced)
        stored = lambda: {r[1] for r in store.readings("station-0000")}  # noqa: E731
        wait_for(lambda: produced <= stored(), timeout=5)
        live["c"].stop()
    seqs = sorted(stored())
    fig = report(f"receipts-{'on' if receipts else 'off'}", run.produced, seqs, run)
    return fig, run, events, live["c"]


def test_receipts_keep_what_a_killed_broker_had_acknowledged(tmp_path):
    fig, run, events, coll = _run(tmp_path, receipts=True)
    assert events == ["collector away", "broker killed"]
    assert fig["produced"] == 30
    assert fig["lost"] == 0
    assert run.find("DELIVERY.RESEND"), "the unreceipted records were never sent again"
    assert coll.tally.receipts > 0
    # receipts released the journal: only the last cycles may still wait for theirs
    assert int(run.journal["pending"]) <= 3, run.journal


def test_without_receipts_the_killed_broker_loses_samples(tmp_path):
    """The same run with receipts off: today's behaviour, and the reason for receipts."""
    fig, run, events, coll = _run(tmp_path, receipts=False)
    assert events == ["collector away", "broker killed"]
    assert fig["lost"] > 0
    assert not run.find("DELIVERY.RESEND")
