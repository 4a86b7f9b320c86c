"""`stationctl`: one command line for technicians, field staff and CI.

Each sub-command lives in `stationctl/commands/<name>.py` with `register(subparsers)` that adds
its parser and sets `func`; the function returns the process exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from stationctl import __version__, exitcodes

# Sub-command modules, in the order `stationctl --help` lists them.
COMMANDS = [
    "run",
    "mplib",
    "sim-device",
    "flash",
    "deploy",
    "configure",
    "verify",
    "calibrate-co2",
    "monitor",
    "provision",
    "setup",
    "encode",
    "decode",
    "bench",
    "soak",
    "collect",
    "export",
]


# Shown under each sub-command's --help: the everyday ways to call it.
EXAMPLES = {
    "run": [
        "stationctl run --hours 6 --uplink console",
        "stationctl run --days 2 --fault bme280:nack@3600+1800",
        "stationctl run --uplink lorawan --cycles 12 --json",
    ],
    "mplib": ["stationctl mplib install", "stationctl mplib list"],
    "sim-device": [
        "stationctl sim-device --link /tmp/ttySTATION &",
        "mpremote connect /tmp/ttySTATION fs ls",
    ],
    "flash": [
        "stationctl flash --board board_configs/esp32-devkitc.json ESP32_GENERIC-v1.29.0.bin",
        "stationctl flash --board board_configs/pico-w.json RPI_PICO_W-v1.29.0.uf2 --dry-run",
    ],
    "deploy": [
        "stationctl deploy --board board_configs/esp32-devkitc.json",
        "stationctl deploy --port /dev/ttyUSB0 --force",
    ],
    "configure": [
        "stationctl configure --config st-0042.json --secrets st-0042.secrets.json",
        "stationctl configure --set interval_s=300   # edits the station's current config",
        "stationctl configure --config st-0042.json --check",
    ],
    "verify": [
        "stationctl verify",
        "stationctl verify --uplink --save reports/",
        "stationctl verify --json > report.json; echo $?",
    ],
    "calibrate-co2": [
        "stationctl calibrate-co2 --ppm 415 --station st-0042 --broker mqtt.example.org",
        "stationctl calibrate-co2 --ppm 415 --print   # the LoRaWAN downlink to schedule",
    ],
    "monitor": [
        "stationctl monitor",
        "stationctl monitor --level warning --code SENSOR --log field.log",
        "stationctl monitor --json --duration 600 > diag.jsonl",
    ],
    "provision": [
        "stationctl provision fleet.csv --report fleet-report.csv",
        "stationctl provision fleet.csv --report r.csv --firmware ESP32_GENERIC-v1.29.0.bin",
    ],
    "setup": [
        "stationctl setup --board board_configs/esp32-devkitc.json --config st-0042.json",
        "stationctl setup --board board_configs/pico-w.json --config st-0043.json "
        "--firmware RPI_PICO_W-v1.29.0.uf2 --serial E6614C311B7A",
    ],
    "encode": ["stationctl encode < samples.jsonl"],
    "decode": ["stationctl decode 0a1b2c...", "stationctl decode --fport 2 HEX"],
    "bench": ["stationctl bench payload", "stationctl bench deploy"],
    "collect": [
        "stationctl collect --db readings.sqlite --duration 3600",
        "stationctl collect --db postgresql://collector@db/climate --share fleet --tts",
    ],
    "export": [
        "stationctl export --db readings.sqlite --station st-0042 --from 2026-01-01 --to 2026-02-01",
        "stationctl export --db readings.sqlite --format ngsi-ld > entities.json",
    ],
    "soak": ["stationctl soak --days 7 --seed 1", "stationctl soak --days 2 --uplink lorawan"],
}


def _explain(parser: argparse.ArgumentParser, name: str) -> None:
    """Every sub-command's --help: a description (its one-line help unless it has its own),
    examples and the exit codes."""
    if parser.description is None:
        parser.description = _help_of(parser)
    parser.epilog = (
        "examples:\n"
        + "\n".join(f"  {line}" for line in EXAMPLES.get(name, ()))
        + "\n\n"
        + exitcodes.help_epilog()
    )
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def _help_of(parser: argparse.ArgumentParser) -> str | None:
    return parser.__dict__.get("_stationctl_help")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stationctl",
        description="Run, flash, deploy, configure, verify and monitor city climate stations.",
        epilog=exitcodes.help_epilog()
        + "\n\n`stationctl COMMAND --help` describes a command, with examples.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"stationctl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"stationctl.commands.{name.replace('-', '_')}").register(sub)
    for action in sub._choices_actions:  # the one-line help each command registered
        sub.choices[action.dest].__dict__["_stationctl_help"] = action.help
    for name, cmd_parser in sub.choices.items():
        _explain(cmd_parser, name)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return exitcodes.INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
