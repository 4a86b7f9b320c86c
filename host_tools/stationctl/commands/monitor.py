"""`stationctl monitor`: the station's diagnostics with host timestamps, colour, JSON, a log file
and a live status line; waits through unplug/replug and station restarts."""

from __future__ import annotations

import os
import sys
import time

from stationctl.station.ports import add_port_args


def register(sub) -> None:
    p = sub.add_parser(
        "monitor", help="show a station's diagnostics live (parsed, coloured, logged)"
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
    p.add_argument("--duration", type=float, help="stop after this many seconds")
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
    from stationctl.station.ports import PortNotFoundError, resolve_port
    from stationctl.station.transport import PortBusyError, SerialTransport, TransportError

    out = sys.stdout
    live = not args.no_status and not args.json and out.isatty()
    log = open(args.log, "a", encoding="utf-8") if args.log else None  # noqa: SIM115
    mon = Monitor(
        out, json_mode=args.json, colour=_use_colour(args.color, out), log=log, live_status=live
    )
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
                    rc = 1
                    break
                except (PortNotFoundError, TransportError) as exc:
                    if args.no_wait:
                        print(f"stationctl monitor: {exc}", file=sys.stderr)
                        rc = 1
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
                mon.event("disconnected", str(exc))
                if args.no_wait:
                    rc = 1
                    break
                continue
            if data:
                mon.feed(data)
    except KeyboardInterrupt:
        pass
    finally:
        if t is not None:
            t.close()
        mon.finish()
        if log:
            log.close()
    return rc
