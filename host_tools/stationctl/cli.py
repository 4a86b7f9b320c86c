"""`stationctl`: one command line for technicians, field staff and CI.

Each sub-command lives in `stationctl/commands/<name>.py` with `register(subparsers)` that adds
its parser and sets `func`; the function returns the process exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Sub-command modules, in the order `stationctl --help` lists them.
COMMANDS = [
    "run",
    "mplib",
    "sim-device",
    "flash",
    "deploy",
    "configure",
    "verify",
    "monitor",
    "provision",
    "encode",
    "decode",
    "bench",
    "soak",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stationctl",
        description="Run, flash, deploy, configure, verify and monitor city climate stations.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"stationctl.commands.{name.replace('-', '_')}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
