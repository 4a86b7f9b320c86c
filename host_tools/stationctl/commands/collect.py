"""`stationctl collect`: the receiving end. Subscribes to the stations' MQTT uplinks (and, when
asked, The Things Stack / ChirpStack integrations), decodes, stores each reading once
(docs/collector.md).

    stationctl collect --db readings.sqlite
    stationctl collect --db postgresql://collector@db/climate --share fleet --tts
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from stationctl import exitcodes
from stationctl.collector.collector import Collector
from stationctl.collector.store import StoreError, open_store


def register(sub) -> None:
    p = sub.add_parser("collect", help="store the stations' readings (MQTT, TTS, ChirpStack)")
    p.add_argument("--db", default="readings.sqlite", help="SQLite file or postgresql:// URL")
    p.add_argument("--host", default="127.0.0.1", help="MQTT broker host")
    p.add_argument("--port", type=int, default=1883, help="MQTT broker port")
    p.add_argument("--prefix", default="climate", help="the stations' mqtt.prefix")
    p.add_argument("--share", metavar="GROUP", help="join shared subscription $share/GROUP/...")
    p.add_argument("--tts", action="store_true", help="also v3/+/devices/+/up (The Things Stack)")
    p.add_argument("--chirpstack", action="store_true", help="also application/+/device/+/event/up")
    p.add_argument("--client-id", help="MQTT client id (stable: the broker keeps our session)")
    p.add_argument("--user", help="MQTT user (password from $STATIONCTL_MQTT_PASSWORD)")
    p.add_argument(
        "--no-receipts",
        action="store_true",
        help="do not publish delivery receipts to the stations (<prefix>/<id>/receipt)",
    )
    p.add_argument(
        "--lorawan-receipt-min-s",
        type=int,
        default=3600,
        metavar="S",
        help="at most one receipt downlink per LoRaWAN device per S seconds (default 3600)",
    )
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.set_defaults(func=run)


def run(args) -> int:
    try:
        store = open_store(args.db)
    except StoreError as exc:
        print(f"stationctl collect: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    collector = Collector(
        store,
        host=args.host,
        port=args.port,
        prefix=args.prefix,
        share=args.share,
        tts=args.tts,
        chirpstack=args.chirpstack,
        client_id=args.client_id,
        user=args.user,
        password=os.environ.get("STATIONCTL_MQTT_PASSWORD"),
        log=lambda line: print(line, file=sys.stderr, flush=True),
        receipts=not args.no_receipts,
        lorawan_receipt_min_s=args.lorawan_receipt_min_s,
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    try:
        collector.start()
    except ConnectionError as exc:
        print(f"stationctl collect: {exc}", file=sys.stderr)
        store.close()
        return exitcodes.UNREACHABLE
    print(f"collect: {', '.join(collector.topics)} -> {args.db.split('@')[-1]}", flush=True)
    try:
        done.wait(args.duration)
    finally:
        collector.stop()
        store.close()
        print(f"collect: {collector.tally.line()}", flush=True)
    return 0
