"""`stationctl setup`: an unboxed board to a registered, labelled, documented station (see
stationctl.station.setup for the steps; exit codes: stationctl.exitcodes)."""

from __future__ import annotations

from pathlib import Path

from stationctl.station.ports import add_port_args


def register(sub) -> None:
    p = sub.add_parser(
        "setup",
        help="one station from unboxed board to verified, with report, label and registration",
    )
    p.add_argument("--board", required=True, help="board config (board_configs/*.json)")
    p.add_argument("--config", required=True, help="the station's config JSON")
    p.add_argument(
        "--secrets",
        help="the station's secrets JSON (created or completed: DevEUI/JoinEUI from the modem, "
        "a generated AppKey); default <out>/<station>/secrets.json",
    )
    add_port_args(p)
    p.add_argument("--serial", help="choose the board by its USB serial number (several attached)")
    p.add_argument(
        "--firmware", type=Path, help="MicroPython image for a board without (or with another)"
    )
    p.add_argument("--out", default="stations", help="folder for state, reports, labels, exports")
    p.add_argument("--join-eui", help="JoinEUI when neither the secrets nor the modem have one")
    p.add_argument(
        "--profile-id", default="00000000", help="TR005 ProfileID on the label (8 hex digits)"
    )
    p.add_argument("--operator", default="", help="who sets the station up (default: login name)")
    p.add_argument(
        "--application-id",
        default="climate-stations",
        help="The Things Stack application id in the export",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from stationctl.station.setup import Inputs, Setup

    inp = Inputs(
        board=Path(args.board),
        config=Path(args.config),
        out=Path(args.out),
        secrets=Path(args.secrets) if args.secrets else None,
        port=args.port,
        serial=args.serial,
        baud=args.baud,
        firmware=args.firmware,
        join_eui=args.join_eui,
        profile_id=args.profile_id.upper(),
        operator=args.operator,
        application_id=args.application_id,
    )
    return Setup(inp, say=lambda m: print(m, flush=True)).run()
