"""`stationctl verify`: one report proving a station is set up right (exit codes: see
stationctl.exitcodes: 1 a check failed, 3 the station could not be reached)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from stationctl import exitcodes
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
    p.add_argument(
        "--no-reset",
        action="store_true",
        help="do not restart the firmware after (and so do not check that its cycle runs)",
    )
    p.set_defaults(func=run)


def verify(args, out=print):
    """Returns (exit code, report or None)."""
    from stationctl.station import stationconfig as sc
    from stationctl.station.session import connect
    from stationctl.station.transport import TransportError
    from stationctl.station.verify import cycle_check, run_checks

    expected = None
    if args.config:
        try:
            text = sc.read_file(args.config, "config")
        except sc.ConfigFileError as exc:
            print(f"stationctl verify: {sc.shorten(str(exc))}", file=sys.stderr)
            return exitcodes.USAGE, None
        checked = sc.validate(text, None)
        if not checked.ok:
            print(
                "stationctl verify: the expected config is itself invalid:\n  "
                + "\n  ".join(checked.problems),
                file=sys.stderr,
            )
            return exitcodes.USAGE, None
        expected = checked.digest
    try:
        with connect(args.port, args.baud) as dev:
            rep = run_checks(dev, dev.t.port, expected, args.uplink)
            if args.no_reset:
                rep.add("cycle", True, "not checked (--no-reset: the firmware stays stopped)")
            else:
                cycle_check(rep, dev.t)
    except TransportError as exc:
        code = exitcodes.for_transport_error(exc)
        print(f"stationctl verify: {exc}", file=sys.stderr)
        if args.json:  # a script reading the JSON must not get an empty answer
            what = "unreachable" if code == exitcodes.UNREACHABLE else "failed"
            out(json.dumps({"port": args.port, "ok": False, what: str(exc)}, indent=1))
        return code, None
    if args.json:
        out(json.dumps(rep.to_json(), indent=1))
    else:
        out(rep.text())
    if args.save:
        try:
            dest = save_report(rep, Path(args.save))
        except OSError as exc:
            print(
                f"stationctl verify: the report could not be saved in {args.save}: "
                f"{exc.strerror or exc}",
                file=sys.stderr,
            )
            return exitcodes.FAILED, rep
        print(f"report saved: {dest}", file=sys.stderr)
    return (exitcodes.OK if rep.ok else exitcodes.FAILED), rep


def save_report(rep, folder: Path) -> Path:
    """Write the JSON report to folder/<station>-<time>.json (atomically); OSError if it cannot."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = rep.time_utc.replace(":", "").replace("-", "")
    dest = folder / f"{rep.station_id or 'unknown'}-{stamp}.json"
    tmp = dest.with_suffix(".part")
    tmp.write_text(json.dumps(rep.to_json(), indent=1) + "\n")
    tmp.replace(dest)
    return dest


def run(args) -> int:
    return verify(args)[0]
