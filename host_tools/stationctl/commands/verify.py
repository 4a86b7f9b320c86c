"""`stationctl verify`: one report proving a station is set up right (exit 1 on any failure)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from stationctl.station.ports import add_port_args


def register(sub) -> None:
    p = sub.add_parser("verify", help="check a station: files, config, sensors, modem, uplink")
    add_port_args(p)
    p.add_argument("--config", help="expected station config JSON: its digest must match")
    p.add_argument("--uplink", action="store_true", help="also check the uplink is reachable")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--save", metavar="DIR", help="also save the JSON report to DIR/<station>-<time>.json"
    )
    p.add_argument("--no-reset", action="store_true", help="do not restart the firmware after")
    p.set_defaults(func=run)


def verify(args, out=print):
    """Returns (exit code, report or None)."""
    from stationctl.station import stationconfig as sc
    from stationctl.station.session import connect
    from stationctl.station.transport import TransportError
    from stationctl.station.verify import run_checks

    expected = None
    if args.config:
        try:
            text = Path(args.config).read_text()
        except OSError as exc:
            print(f"stationctl verify: cannot read {args.config}: {exc.strerror}", file=sys.stderr)
            return 2, None
        checked = sc.validate(text, None)
        if not checked.ok:
            print(
                "stationctl verify: the expected config is itself invalid:\n  "
                + "\n  ".join(checked.problems),
                file=sys.stderr,
            )
            return 2, None
        expected = checked.digest
    try:
        with connect(args.port, args.baud) as dev:
            rep = run_checks(dev, dev.t.port, expected, args.uplink)
            if not args.no_reset:
                dev.t.soft_reset(run_main=True)
    except TransportError as exc:
        print(f"stationctl verify: {exc}", file=sys.stderr)
        return 1, None
    if args.json:
        out(json.dumps(rep.to_json(), indent=1))
    else:
        out(rep.text())
    if args.save:
        folder = Path(args.save)
        folder.mkdir(parents=True, exist_ok=True)
        stamp = rep.time_utc.replace(":", "").replace("-", "")
        dest = folder / f"{rep.station_id or 'unknown'}-{stamp}.json"
        tmp = dest.with_suffix(".part")
        tmp.write_text(json.dumps(rep.to_json(), indent=1) + "\n")
        tmp.replace(dest)
        print(f"report saved: {dest}", file=sys.stderr)
    return (0 if rep.ok else 1), rep


def run(args) -> int:
    return verify(args)[0]
