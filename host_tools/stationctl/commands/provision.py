"""`stationctl provision`: a fleet CSV drives deploy / configure / verify, station after station
(flash too with --firmware), with a resumable report CSV."""

from __future__ import annotations

import sys
from pathlib import Path

from stationctl import exitcodes
from stationctl.commands.monitor import positive_seconds
from stationctl.station.ports import add_port_args


def register(sub) -> None:
    p = sub.add_parser("provision", help="provision stations from a fleet CSV (resumable)")
    p.add_argument("fleet", help="fleet CSV: station_id,board,uplink,... (see docs/field-guide.md)")
    p.add_argument("--report", required=True, help="report CSV (read to resume, rewritten per row)")
    add_port_args(p)
    p.add_argument(
        "--firmware",
        action="append",
        default=[],
        help="MicroPython image to flash first; repeat for a mixed fleet (one image per board "
        "type: each row's board config picks the .bin for its chip or the .uf2 for the Pico W)",
    )
    p.add_argument(
        "--records",
        metavar="DIR",
        help="run every row through `stationctl setup`'s steps with DIR as its --out: LoRaWAN "
        "DevEUI from the modem and a generated AppKey when the CSV has none, and per station a "
        "report, label and the fleet's registration exports",
    )
    p.add_argument(
        "--wait-timeout",
        type=positive_seconds,
        help="give up waiting for the next board after this many seconds",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from stationctl.station import provision as pv

    try:
        rows = pv.read_fleet(Path(args.fleet))
    except pv.FleetError as exc:
        print(f"stationctl provision: {exc}", file=sys.stderr)
        return 2
    firmware = [Path(f) for f in args.firmware]
    for image in firmware:
        if not image.is_file():
            print(f"stationctl provision: firmware image {image} not found", file=sys.stderr)
            return 2
    pv.check_rows(rows, ids_from_modem=bool(args.records))
    bad = [r for r in rows if r.problems]
    print(f"fleet: {len(rows)} row(s), {len(bad)} with problems (they will be skipped)")
    prov = pv.Provisioner(
        Path(args.report),
        args.port,
        args.baud,
        firmware=firmware,
        wait_timeout=args.wait_timeout,
        say=lambda m: print(m, flush=True),
        records=Path(args.records) if args.records else None,
    )
    try:
        counts = prov.run(rows)
    except TimeoutError as exc:
        print(f"stationctl provision: {exc}; run the same command again to resume", file=sys.stderr)
        return exitcodes.UNREACHABLE
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return exitcodes.INTERRUPTED
    print(
        f"done: {counts['ok']} ok, {counts['failed']} failed, {counts['skipped']} skipped, "
        f"{counts['already']} already provisioned; report: {args.report}"
    )
    ok = counts["failed"] == 0 and counts["skipped"] == 0
    return exitcodes.OK if ok else exitcodes.FAILED
