"""The exit codes every `stationctl` command uses, so a script (or a technician) can tell a
station that failed a check from one that could not be reached, or from a mistyped command.

    0  OK           the command did what was asked; every check passed
    1  FAILED       a check failed, or the station / run did not do what was asked
    2  USAGE        bad options or input files (config, board, firmware); nothing was changed
    3  UNREACHABLE  no station to talk to: port missing, busy, or no answer from MicroPython
    130 INTERRUPTED stopped with Ctrl-C

docs/exit-codes.md and `stationctl --help` list the same table (a test keeps them in step).
"""

from __future__ import annotations

from stationctl.station.transport import TransportError, TransportExecError

OK = 0
FAILED = 1
USAGE = 2
UNREACHABLE = 3
INTERRUPTED = 130

TABLE = (
    (OK, "OK", "the command did what was asked; every check passed"),
    (FAILED, "FAILED", "a check failed, or the station / run did not do what was asked"),
    (USAGE, "USAGE", "bad options or input files (config, board, firmware); nothing was changed"),
    (UNREACHABLE, "UNREACHABLE", "no station to talk to: port missing, busy, or no answer"),
    (INTERRUPTED, "INTERRUPTED", "stopped with Ctrl-C"),
)


def for_transport_error(exc: TransportError) -> int:
    """A station that answered but whose code raised has failed; any other transport error means
    the station could not be reached."""
    return FAILED if isinstance(exc, TransportExecError) else UNREACHABLE


def help_epilog() -> str:
    return "exit codes:\n" + "\n".join(
        f"  {code:<4} {name:<12} {what}" for code, name, what in TABLE
    )
