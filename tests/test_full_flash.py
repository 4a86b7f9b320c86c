"""Issue 10 "done when": a station whose flash is full and whose link is down for 5 simulated
days, then restored, delivers every sample it kept, counts and reports every one it dropped,
and its heap stays flat. The real firmware on the virtual station (virtual time), a real
Mosquitto, the simulated flash with a capacity (sim/powerfs.py), the network cut by the
simulator (net:down)."""

from __future__ import annotations

import re

import pytest
from hostkit.station_run import StationRun, wait_for
from stationctl.payload import decoder as codec
from stationctl.virtual.broker import Broker, Subscriber, kinds_available

PREFIX = "climate/station-0000"


@pytest.mark.skipif("mosquitto" not in kinds_available(), reason="needs mosquitto")
def test_full_flash_and_five_days_offline_then_everything_kept_is_delivered(tmp_path):
    broker = Broker("mosquitto").start()
    try:
        sub = Subscriber(broker.port, PREFIX + "/#").start()  # the data and the status frames
        args = [
            "--days", "6", "--uplink", "mqtt", "--trace", "synthetic",
            "--set", f"mqtt.port={broker.port}", "--set", "mqtt.timeout_s=1",
            "--fault", "net:down@0+432000", "--flash-bytes", "9000", "--heap-every", "24",
        ]  # fmt: skip
        run = StationRun(args, tmp_path / "fs").wait(timeout=600)
        produced = set(run.produced)
        assert len(produced) == 864
        j = run.journal
        dropped = int(j["dropped"])
        assert j["pending"] == "0", j
        kept = range(dropped + 1, 865)  # drop-oldest: the newest samples are the kept ones

        def residues():
            # frames carry seq modulo 256 (codec.SEQ_MOD): compared as such, in arrival order
            return [
                d["seq"]
                for t, p, _ in sub.snapshot()
                if t == PREFIX + "/up"
                for d in codec.decode(p)
                if "seq" in d
            ]

        assert wait_for(lambda: len(residues()) >= len(kept), 10)
        # every kept sample delivered exactly once and in order; every other one counted dropped
        assert residues() == [s % codec.SEQ_MOD for s in kept], (dropped, residues()[:20])
        assert dropped > 100  # the flash really was full
        reported = sum(
            int(re.search(r"records=(\d+)", ln).group(1)) for ln in run.find("JOURNAL.DROP")
        )
        assert reported == dropped
        assert run.find("JOURNAL.FLASH_FULL")
        # and in the status frame the station publishes when its link is back, decoded here
        statuses = [
            d
            for t, p, _ in sub.snapshot()
            if t == PREFIX + "/status" and p not in (b"online", b"offline")
            for d in codec.decode(p, 3)
        ]
        assert [s["dropped"] for s in statuses] == [dropped], statuses
        # heap flat: the live heap after collection (every 24 cycles) does not grow while the
        # flash is full and the link down, nor while the backlog drains and after (one step
        # between: the MQTT client and its modules come alive with the first connection)
        live = {
            int(m.group(1)): int(m.group(2))
            for ln in run.lines
            if (m := re.search(r"@@SIM live cycles=(\d+) live_heap=(\d+)", ln))
        }
        outage = [v for c, v in live.items() if 48 <= c <= 720]
        restored = [v for c, v in live.items() if c > 720]
        assert len(outage) >= 20 and len(restored) >= 5, live
        assert max(outage) - min(outage) <= 1024, outage
        assert max(restored) - min(restored) <= 1024, restored
        sub.stop()
    finally:
        broker.close()
