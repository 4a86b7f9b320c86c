"""`stationctl export`: the collector's readings as CSV (one station, one period), FIWARE NGSI-LD
entities (WeatherObserved, AirQualityObserved) or OGC SensorThings JSON (docs/collector.md).

    stationctl export --db readings.sqlite --station st-0042 --from 2026-01-01 --to 2026-02-01
    stationctl export --db readings.sqlite --format ngsi-ld > entities.json
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

from stationctl import exitcodes
from stationctl.collector import export
from stationctl.collector.store import StoreError, open_store


def register(sub) -> None:
    p = sub.add_parser("export", help="readings as CSV, FIWARE NGSI-LD or OGC SensorThings")
    p.add_argument("--db", default="readings.sqlite", help="SQLite file or postgresql:// URL")
    p.add_argument(
        "--format", choices=["csv", "ngsi-ld", "sensorthings"], default="csv", help="(default csv)"
    )
    p.add_argument("--station", help="one station (CSV: required)")
    p.add_argument("--from", dest="start", metavar="DATE", help="ISO 8601 date or time, UTC")
    p.add_argument("--to", dest="end", metavar="DATE", help="ISO 8601, UTC (not included)")
    p.set_defaults(func=run)


def _unix(text: str | None, what: str) -> int | None:
    if text is None:
        return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{what} {text!r} is not an ISO 8601 date or time") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


def run(args) -> int:
    try:
        start, end = _unix(args.start, "--from"), _unix(args.end, "--to")
    except ValueError as exc:
        print(f"stationctl export: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    if args.format == "csv" and not args.station:
        print("stationctl export: CSV is per station: give --station", file=sys.stderr)
        return exitcodes.USAGE
    try:
        store = open_store(args.db)
    except StoreError as exc:
        print(f"stationctl export: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    try:
        readings, skipped = export.rows(store.readings(args.station), start, end)
    finally:
        store.close()
    if args.format == "csv":
        sys.stdout.write(export.to_csv(readings))
    elif args.format == "ngsi-ld":
        entities = [
            e
            for r in readings
            for model in ("WeatherObserved", "AirQualityObserved")
            if (e := export.ngsi_ld(r, model)) is not None
        ]
        print(json.dumps(entities, indent=1, ensure_ascii=False))
    else:
        print(json.dumps(export.sensorthings(readings), indent=1, ensure_ascii=False))
    if skipped:
        print(f"export: {skipped} reading(s) without a synced clock left out", file=sys.stderr)
    return exitcodes.OK
