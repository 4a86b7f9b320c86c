"""`stationctl configure`: check config and secrets on the host, write them atomically, read the
digest back from the station.

Without --config, the station's own current config is the one `--set` edits and `--secrets`
leaves as it is: configure never resets what the technician did not name."""

from __future__ import annotations

import sys

from stationctl import exitcodes
from stationctl.station.ports import add_port_args


def register(sub) -> None:
    p = sub.add_parser("configure", help="validate and install a station config (and secrets)")
    add_port_args(p)
    p.add_argument(
        "--config",
        help="station config JSON to install (default: keep the station's current config)",
    )
    p.add_argument("--secrets", help="secrets JSON (MQTT password, LoRaWAN keys); never printed")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change one config key of --config, or of the station's current config without "
        "--config, e.g. --set interval_s=300 (repeatable)",
    )
    p.add_argument(
        "--ca-file",
        metavar="PEM_OR_DER",
        help="the CA certificate the MQTT broker's certificate chains to: installed on the "
        "station (as DER) and named by mqtt.ca_file, for mqtt.tls=true",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="only validate; write nothing (reads the station only for --set without --config)",
    )
    p.add_argument("--no-reset", action="store_true", help="do not restart the firmware after")
    p.set_defaults(func=run)


def _fail(message: str, secrets: list[str] | None = None) -> None:
    from stationctl.station import stationconfig as sc

    print(sc.mask(f"stationctl configure: {message}", secrets or []), file=sys.stderr)


def configure(args, out=print) -> int:
    from stationctl.station import stationconfig as sc

    ca_file = args.ca_file
    if args.config is None and not args.set and args.secrets is None and ca_file is None:
        _fail("nothing to configure: give --config FILE, --set KEY=VALUE or --secrets FILE")
        return exitcodes.USAGE
    args.ca_der = None
    if ca_file is not None:
        try:
            args.ca_der = sc.ca_der(ca_file)
        except sc.CaFileError as exc:
            _fail(f"--ca-file rejected: {exc}; nothing was written")
            return exitcodes.USAGE
        # first, so that a later --set mqtt.tls=true is checked with the CA in place
        args.set = [f"mqtt.ca_file={sc.CA_FILE}", *args.set]
    try:
        cfg_text = sc.read_file(args.config, "config") if args.config else None
        sec_text = sc.read_file(args.secrets, "secrets") if args.secrets else None
    except sc.ConfigFileError as exc:
        _fail(f"rejected: {sc.shorten(str(exc))}; nothing was written")
        return exitcodes.USAGE
    secrets = sc.secret_values(sec_text)
    if cfg_text is not None:
        checked = _checked(cfg_text, args.set, sec_text, secrets)
        if isinstance(checked, int):
            return checked
        if args.check:
            out(f"config OK: {_summary(checked, sec_text)}")
            return exitcodes.OK
        return _on_station(args, secrets, lambda dev: _install(args, checked, sec_text, out, dev))
    return _on_station(args, secrets, lambda dev: _edit(dev, args, sec_text, secrets, out))


def _checked(cfg_text, sets, sec_text, secrets):
    """The validated config (a Checked), or the exit code after saying what is wrong."""
    from stationctl.station import stationconfig as sc

    try:
        cfg_text = sc.apply_sets(cfg_text, sets)
    except ValueError as exc:
        _fail(str(exc))
        return exitcodes.USAGE
    checked = sc.validate(cfg_text, sec_text)
    if not checked.ok:
        n = len(checked.problems) + len(checked.secret_problems)
        lines = [f"rejected, {n} problem(s); nothing was written:"]
        lines += [f"  config  {p}" for p in checked.problems]
        lines += [f"  secrets {p}" for p in checked.secret_problems]
        _fail("\n".join(lines), secrets)
        return exitcodes.USAGE
    return checked


def _summary(checked, sec_text) -> str:
    summary = f"station {checked.station_id}: uplink {checked.uplink}, digest {checked.digest}"
    if sec_text is not None:
        summary += f", secrets set: {', '.join(checked.secrets_set) or 'none'} (values hidden)"
    return summary


def _on_station(args, secrets, work) -> int:
    """Run work(session) on the station; exit codes for the station's own failures."""
    from stationctl.station import stationconfig as sc
    from stationctl.station.session import connect
    from stationctl.station.transport import TransportError

    try:
        with connect(args.port, args.baud) as dev:
            try:
                rc = work(dev)
            except sc.NoFirmware:
                _fail(
                    "the station has no firmware yet: run `stationctl deploy --board ...` "
                    "first; nothing was written"
                )
                return exitcodes.FAILED
            if rc == exitcodes.OK and not args.no_reset and not args.check:
                dev.t.soft_reset(run_main=True)
            return rc
    except TransportError as exc:
        _fail(str(exc), secrets)
        return exitcodes.for_transport_error(exc)


def _edit(dev, args, sec_text, secrets, out) -> int:
    """--set (and/or --secrets) without --config: start from the station's current config."""
    from stationctl.station import stationconfig as sc

    current = sc.current_config(dev)
    if current is None:
        out("the station has no config.json yet: --set starts from the defaults")
        current = "{}"
    elif not sc.validate(current, None).ok:
        _fail(
            "the station's own config.json is invalid, so --set has nothing sound to edit: "
            "give a whole config with --config FILE; nothing was written"
        )
        return exitcodes.FAILED
    checked = _checked(current, args.set, sec_text, secrets)
    if isinstance(checked, int):
        return checked
    if args.check:
        out(f"config OK: {_summary(checked, sec_text)}")
        return exitcodes.OK
    return _install(args, checked, sec_text, out, dev)


def _install(args, checked, sec_text, out, dev=None) -> int:
    from stationctl.station import stationconfig as sc

    if args.ca_der is not None:
        sc.put_ca(dev, args.ca_der)  # before the config that names it: a reset finds it there
    got = sc.apply(dev, checked)
    if got.get("digest") != checked.digest or got.get("source") != "file":
        _fail(
            f"the station reads back digest {got.get('digest')} ({got.get('source')}), "
            f"expected {checked.digest}"
        )
        return exitcodes.FAILED
    out(
        f"configured {_summary(checked, sec_text)}; read back from the station: "
        f"digest {got['digest']}"
    )
    return exitcodes.OK


def run(args) -> int:
    return configure(args)
