"""`stationctl configure`: check config and secrets on the host, write them atomically, read the
digest back from the station."""

from __future__ import annotations

import sys
from pathlib import Path

from stationctl import exitcodes
from stationctl.station.ports import add_port_args


def register(sub) -> None:
    p = sub.add_parser("configure", help="validate and install a station config (and secrets)")
    add_port_args(p)
    p.add_argument("--config", help="station config JSON (default: the station's defaults)")
    p.add_argument("--secrets", help="secrets JSON (MQTT password, LoRaWAN keys); never printed")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change one config key, e.g. --set interval_s=300 (repeatable)",
    )
    p.add_argument("--check", action="store_true", help="only validate; do not touch a station")
    p.add_argument("--no-reset", action="store_true", help="do not restart the firmware after")
    p.set_defaults(func=run)


def _read(path: str | None, what: str) -> str | None:
    if path is None:
        return None
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise SystemExit(
            f"stationctl configure: cannot read {what} {path}: {exc.strerror}"
        ) from None


def configure(args, out=print) -> int:
    from stationctl.station import stationconfig as sc

    cfg_text = _read(args.config, "config") if args.config else "{}"
    sec_text = _read(args.secrets, "secrets")
    secrets = sc.secret_values(sec_text)
    try:
        cfg_text = sc.apply_sets(cfg_text, args.set)
    except ValueError as exc:
        print(f"stationctl configure: {exc}", file=sys.stderr)
        return 2
    checked = sc.validate(cfg_text, sec_text)
    if not checked.ok:
        n = len(checked.problems) + len(checked.secret_problems)
        lines = [f"stationctl configure: rejected, {n} problem(s); nothing was written:"]
        lines += [f"  config  {p}" for p in checked.problems]
        lines += [f"  secrets {p}" for p in checked.secret_problems]
        print(sc.mask("\n".join(lines), secrets), file=sys.stderr)
        return 2
    summary = f"station {checked.station_id}: uplink {checked.uplink}, digest {checked.digest}"
    if sec_text is not None:
        summary += f", secrets set: {', '.join(checked.secrets_set) or 'none'} (values hidden)"
    if args.check:
        out(f"config OK: {summary}")
        return 0
    return _install(args, checked, secrets, summary, out)


def _install(args, checked, secrets, summary, out) -> int:
    from stationctl.station import stationconfig as sc
    from stationctl.station.session import connect
    from stationctl.station.transport import TransportError

    try:
        with connect(args.port, args.baud) as dev:
            try:
                got = sc.apply(dev, checked)
            except sc.NoFirmware:
                print(
                    "stationctl configure: the station has no firmware yet: run "
                    "`stationctl deploy --board ...` first; nothing was written",
                    file=sys.stderr,
                )
                return exitcodes.FAILED
            if not args.no_reset:
                dev.t.soft_reset(run_main=True)
    except TransportError as exc:
        print(sc.mask(f"stationctl configure: {exc}", secrets), file=sys.stderr)
        return exitcodes.for_transport_error(exc)
    if got.get("digest") != checked.digest or got.get("source") != "file":
        print(
            f"stationctl configure: the station reads back digest {got.get('digest')} "
            f"({got.get('source')}), expected {checked.digest}",
            file=sys.stderr,
        )
        return 1
    out(f"configured {summary}; read back from the station: digest {got['digest']}")
    return 0


def run(args) -> int:
    return configure(args)
