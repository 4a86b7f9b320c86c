"""`stationctl mplib install|list`: MicroPython libraries pinned in mplib.lock.json."""

from __future__ import annotations

import sys
from pathlib import Path

from stationctl import mplib


def register(sub) -> None:
    p = sub.add_parser("mplib", help="install the pinned MicroPython libraries (umqtt.simple, ...)")
    p.add_argument("action", choices=["install", "list"])
    p.add_argument(
        "--target",
        type=Path,
        default=mplib.DEFAULT_TARGET,
        help="library folder (default: .venv/mplib, on the unix port's path)",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    if args.action == "list":
        for pkg in mplib.load_lock():
            print(f"{pkg.name}=={pkg.version} sha256={pkg.sha256} files={','.join(pkg.files)}")
        return 0
    try:
        written = mplib.install(args.target)
    except mplib.MplibError as exc:
        print(f"stationctl mplib: {exc}", file=sys.stderr)
        return 2
    print(f"mplib: {len(written)} file(s) in {args.target}: {', '.join(written)}")
    return 0
