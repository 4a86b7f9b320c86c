"""`stationctl monitor`: the station's diagnostics with host timestamps, colour, JSON, a log file
and a live status line; waits through unplug/replug and station restarts."""

from __future__ import annotations

import argparse
import os
import sys
import time

from stationctl import exitcodes
from stationctl.station.ports import add_port_args


def positive_seconds(text: str) -> float:
    """argparse type: a duration that must be above zero (0 would silently mean "forever")."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text}")
    return value


def register(sub) -> None:
    p = sub.add_parser(
        "monitor", help="show a station's diagnostics live (parsed, coloured, logged)"
    )
    p.add_argument(
        "--level",
        choices=["debug", "info", "warning", "error"],
        default="debug",
        help="show diagnostics of this level and above (other text only at debug)",
    )
    p.add_argument(
        "--code",
        action="append",
        default=[],
        metavar="PREFIX",
        help="show only diagnostics whose code starts with PREFIX, e.g. SENSOR (repeatable)",
    )
    add_port_args(p)
    p.add_argument("--json", action="store_true", help="one JSON object per line (for machines)")
    p.add_argument("--log", metavar="FILE", help="append every line with a UTC timestamp to FILE")
    p.add_argument(
        "--color",
        choices=["auto", "always", "never"],
        default="auto",
        help="colour by level (auto: on a terminal unless NO_COLOR is set)",
    )
    p.add_argument("--no-status", action="store_true", help="no live status line")
    p.add_argument(
        "--duration",
        type=positive_seconds,
        help="stop after this many seconds (exit 3 if no station was found meanwhile)",
    )
    p.add_argument(
        "--no-wait",
        action="store_true",
        help="exit when the station disappears instead of waiting for it",
    )
    p.set_defaults(func=run)


def _use_colour(choice: str, stream) -> bool:
    if choice == "always":
        return True
    if choice == "never" or "NO_COLOR" in os.environ:
        return False
    return hasattr(stream, "isatty") and stream.isatty()


def run(args) -> int:
    from stationctl.station.monitor import Monitor

    out = sys.stdout
    live = not args.no_status and not args.json and out.isatty()
    try:
        log = open(args.log, "a", encoding="utf-8") if args.log else None  # noqa: SIM115
    except OSError as exc:
        print(
            f"stationctl monitor: cannot open the log {args.log}: {exc.strerror}", file=sys.stderr
        )
        return exitcodes.USAGE
    level = {"debug": "D", "info": "I", "warning": "W", "error": "E"}[args.level]
    mon = Monitor(
        out,
        json_mode=args.json,
        colour=_use_colour(args.color, out),
        log=log,
        live_status=live,
        min_level=level,
        codes=tuple(c.upper() for c in args.code),
    )
    try:
        return _watch(args, mon, log)
    except BrokenPipeError:
        # `stationctl monitor | head`: the reader has gone; nothing left to say to it, and the
        # interpreter's last flush at exit must not fail either (Python's documented remedy)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return exitcodes.OK


def _watch(args, mon, log) -> int:
    from stationctl.station.ports import PortNotFoundError, resolve_port
    from stationctl.station.transport import PortBusyError, SerialTransport, TransportError

    deadline = time.monotonic() + args.duration if args.duration else None
    t = None
    seen = False
    waiting_said = False
    rc = 0
    try:
        while deadline is None or time.monotonic() < deadline:
            if t is None:
                try:
                    port = resolve_port(args.port)
                    t = SerialTransport(port, args.baud)
                except PortBusyError as exc:
                    print(f"stationctl monitor: {exc}", file=sys.stderr)
                    rc = exitcodes.UNREACHABLE
                    break
                except (PortNotFoundError, TransportError) as exc:
                    if args.no_wait:
                        print(f"stationctl monitor: {exc}", file=sys.stderr)
                        rc = exitcodes.UNREACHABLE
                        break
                    if not waiting_said:
                        mon.event("waiting", f"for the station ({exc})")
                        waiting_said = True
                    time.sleep(0.3)
                    continue
                mon.event("reconnected" if seen else "connected", port)
                seen = True
                waiting_said = False
            try:
                data = t.read_some()
            except TransportError as exc:
                t.close()
                t = None
                mon.lost_link()
                mon.event("disconnected", str(exc))
                if args.no_wait:
                    rc = exitcodes.UNREACHABLE
                    break
                continue
            if data:
                mon.feed(data)
    except KeyboardInterrupt:
        pass
    finally:
        if t is not None:
            t.close()
        if log:
            log.close()
    mon.finish()
    if not seen and rc == exitcodes.OK:
        print("stationctl monitor: no station was found on the port", file=sys.stderr)
        rc = exitcodes.UNREACHABLE
    return rc
