"""`stationctl flash`: write a MicroPython image at the right place for the board's chip."""

from __future__ import annotations

import sys
from pathlib import Path

from stationctl import exitcodes
from stationctl.station.ports import add_port_args


def register(sub) -> None:
    p = sub.add_parser("flash", help="write a MicroPython firmware image (esptool / UF2)")
    add_port_args(p, baud=460800)
    p.add_argument("image", help="MicroPython image: .bin (ESP32 family) or .uf2 (Pico W)")
    p.add_argument("--board", required=True, help="board config (names the chip and offset)")
    p.add_argument("--erase", action="store_true", help="erase the whole flash first")
    p.add_argument("--drive", help="Pico W: the RPI-RP2 drive (default: find it)")
    p.add_argument("--dry-run", action="store_true", help="show what would be done")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from stationctl.station import flash as fl
    from stationctl.station.ports import resolve_port
    from stationctl.station.progress import Progress
    from stationctl.station.transport import TransportError

    try:
        plan = fl.plan(fl.load_board(Path(args.board)), Path(args.image))
        if not plan.image.is_file():
            raise fl.FlashError(f"image {plan.image} not found")
        fl.check_image(plan)
    except fl.FlashError as exc:
        print(f"stationctl flash: {exc}; nothing was written", file=sys.stderr)
        return exitcodes.USAGE
    try:
        if plan.method == "uf2":
            if args.dry_run:
                print(f"would copy {plan.image} to the RPI-RP2 drive")
                return exitcodes.OK
            dest = fl.flash_uf2(plan, Path(args.drive) if args.drive else None)
            print(f"flashed: {plan.image.name} copied to {dest.parent}; the Pico W restarts")
            return exitcodes.OK
        if args.dry_run:
            # a plan needs no board attached: show the port that would be used, if known
            try:
                port = resolve_port(args.port)
            except TransportError:
                port = args.port
        else:
            port = resolve_port(args.port)
        argv = fl.esptool_argv(plan, port, args.baud, args.erase)
        print(f"{plan.board}: {plan.chip} image at {plan.offset:#x} (esptool {' '.join(argv)})")
        if args.dry_run:
            return exitcodes.OK
        fl.flash_esptool(
            plan,
            port,
            args.baud,
            args.erase,
            progress=None if args.quiet else Progress(),
            say=lambda m: print(f"  {m}", file=sys.stderr),
        )
    except fl.FlashError as exc:
        print(f"stationctl flash: {exc}", file=sys.stderr)
        return exitcodes.FAILED
    except TransportError as exc:
        print(f"stationctl flash: {exc}", file=sys.stderr)
        return exitcodes.for_transport_error(exc)
    print("flashed and verified; the board restarts into MicroPython. Next: stationctl deploy")
    return 0
