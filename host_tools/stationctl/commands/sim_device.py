"""`stationctl sim-device`: a simulated station on a pseudo-terminal, like one on USB serial."""

from __future__ import annotations

from stationctl.mpenv import REPO_ROOT


def register(sub) -> None:
    p = sub.add_parser(
        "sim-device",
        help="a simulated station behind a pseudo-terminal (prints `port: PATH` first)",
        description="Unix MicroPython running the station firmware behind a pseudo-terminal that "
        "behaves like a station on USB serial: friendly and raw REPL (raw-paste too), Ctrl-C, "
        "Ctrl-D soft reset running boot.py/main.py from the station's flash folder, and a "
        "simulated wire rate. mpremote and every stationctl command work against it.",
    )
    p.add_argument(
        "--board",
        default=str(REPO_ROOT / "board_configs" / "unix-sim.json"),
        help="hardware fitted to the simulated board (default: unix-sim.json)",
    )
    p.add_argument(
        "--fs",
        default=str(REPO_ROOT / ".run" / "sim-device"),
        help="the station's flash filesystem folder (default .run/sim-device)",
    )
    p.add_argument("--baud", type=int, default=115200, help="simulated wire rate (default 115200)")
    p.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="simulated time runs this many times faster than real time (default 1)",
    )
    p.add_argument("--uid", default="5eed0001", help="the board's unique id (hex)")
    p.add_argument("--link", help="also make this symlink point at the port (stable name)")
    p.add_argument(
        "--absent",
        action="append",
        default=[],
        metavar="SENSOR",
        help="a fitted sensor that does not answer (repeatable)",
    )
    p.add_argument("--heapsize", default="512K", help="MicroPython heap (default 512K)")
    p.add_argument("--verbose", action="store_true", help="log boots to stderr")
    p.set_defaults(func=run)


def run(args) -> int:
    from stationctl.virtual.simdevice import serve

    if args.baud <= 0 or args.speed <= 0:
        print("stationctl sim-device: --baud and --speed must be positive")
        return 2
    return serve(args)
