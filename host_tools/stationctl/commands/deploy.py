"""`stationctl deploy`: compile the firmware, send what changed, verify it on the station."""

from __future__ import annotations

import sys

from stationctl import exitcodes
from stationctl.station.ports import add_port_args


def register(sub) -> None:
    p = sub.add_parser(
        "deploy",
        help="compile and push firmware, drivers and libraries to a station (only what changed)",
    )
    add_port_args(p)
    p.add_argument(
        "--board",
        help="board config to install as /board.json: a file or a name from board_configs/ "
        "(esp32-devkitc); default: keep the station's own",
    )
    p.add_argument("--force", action="store_true", help="send every file even if unchanged")
    p.add_argument(
        "--no-reset",
        action="store_true",
        help="leave the station in the REPL instead of restarting the firmware",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from stationctl.mplib import MplibError
    from stationctl.station import boardconfig
    from stationctl.station import deploy as dp
    from stationctl.station.progress import Progress
    from stationctl.station.session import connect
    from stationctl.station.transport import TransportError

    board = None
    if args.board:
        try:
            board = boardconfig.load(args.board)
        except boardconfig.BoardError as exc:
            print(f"stationctl deploy: {exc}; nothing was sent", file=sys.stderr)
            return exitcodes.USAGE
    try:
        files = dp.build_files(board.path if board else None)
        cross = dp.mpy_cross_version()
    except (dp.DeployError, MplibError, OSError) as exc:
        print(f"stationctl deploy: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    try:
        with connect(args.port, args.baud) as dev:
            if board is None:
                text = dev.get_text("/board.json")
                if text is None:
                    print(
                        "stationctl deploy: the station has no /board.json yet: give --board "
                        "board_configs/<your board>.json",
                        file=sys.stderr,
                    )
                    return exitcodes.USAGE
                try:
                    board = boardconfig.parse(text.encode(), "/board.json on the station")
                except boardconfig.BoardError as exc:
                    print(
                        f"stationctl deploy: {exc}\n  give --board board_configs/<board>.json",
                        file=sys.stderr,
                    )
                    return exitcodes.USAGE
                files["/board.json"] = text.encode()
            rep = dp.deploy(
                dev,
                files,
                progress=None if args.quiet else Progress(),
                cross=cross,
                force=args.force,
                platform=board.platform,
            )
            if not args.no_reset:
                dev.t.soft_reset(run_main=True)
    except dp.DeployError as exc:
        print(f"stationctl deploy: {exc}", file=sys.stderr)
        return exitcodes.FAILED
    except KeyboardInterrupt:
        print(
            "stationctl deploy: interrupted; the station stopped receiving and keeps its "
            "previous files (the manifest is removed until a deploy completes): run the same "
            "deploy again to finish it",
            file=sys.stderr,
        )
        return exitcodes.INTERRUPTED
    except TransportError as exc:
        print(f"stationctl deploy: {exc}", file=sys.stderr)
        print(
            "  nothing is left half-written: run the same deploy again to finish it",
            file=sys.stderr,
        )
        return exitcodes.for_transport_error(exc)
    print(
        f"deploy: {len(rep.sent_files)} sent, {rep.unchanged} unchanged, "
        f"{rep.payload_bytes} B payload as {rep.wire_bytes} B on the wire, "
        f"verified on the station, {rep.seconds:.1f} s"
    )
    return exitcodes.OK
