"""One exit-code scheme for every stationctl command (stationctl.exitcodes), documented in
docs/exit-codes.md and `--help`; every sub-command's --help has a description and examples."""

from __future__ import annotations

import json
import re

from hostkit.cli import stationctl
from stationctl import __version__, exitcodes
from stationctl.cli import COMMANDS, build_parser
from stationctl.mpenv import REPO_ROOT as REPO


def test_the_scheme_is_documented_where_a_technician_looks():
    doc = (REPO / "docs" / "exit-codes.md").read_text()
    rows = {int(c): n for c, n in re.findall(r"^\| (\d+) \| (\w+) \|", doc, re.M)}
    assert rows == {code: name for code, name, _ in exitcodes.TABLE}
    assert "docs/exit-codes.md" in (REPO / "README.md").read_text()
    top = stationctl("--help")
    assert top.returncode == 0
    for code, name, _ in exitcodes.TABLE:
        assert re.search(rf"^\s+{code}\s+{name}\s", top.stdout, re.M), top.stdout


def test_version():
    proc = stationctl("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"stationctl {__version__}"


def test_every_subcommand_help_describes_and_shows_examples():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name in COMMANDS:
        text = sub.choices[name].format_help()
        usage_end = text.index("\n\n")
        description = text[usage_end:].strip().split("\n\n")[0]
        assert description and not description.startswith(("options:", "positional")), name
        examples = text.split("examples:\n", 1)
        assert len(examples) == 2, f"{name} --help has no examples"
        assert examples[1].lstrip().startswith(f"stationctl {name}"), (name, examples[1][:80])
        assert "exit codes:" in text, name


def test_verify_unreachable_is_3_and_json_still_answers(tmp_path):
    port = tmp_path / "ttyNOPE"
    proc = stationctl("verify", "--port", port)
    assert proc.returncode == exitcodes.UNREACHABLE, proc.stderr
    assert "does not exist" in proc.stderr
    proc = stationctl("verify", "--port", port, "--json")
    assert proc.returncode == exitcodes.UNREACHABLE
    rep = json.loads(proc.stdout)
    assert rep["ok"] is False and "does not exist" in rep["unreachable"]


def test_unreachable_station_is_3_for_every_station_command(tmp_path):
    port = str(tmp_path / "ttyNOPE")
    cfg = tmp_path / "c.json"
    cfg.write_text('{"station_id": "st-1"}')
    board = REPO / "board_configs" / "unix-sim.json"
    for argv in (
        ["deploy", "--port", port, "--board", board, "--quiet"],
        ["configure", "--port", port, "--config", cfg],
        ["monitor", "--port", port, "--no-wait"],
    ):
        proc = stationctl(*argv)
        assert proc.returncode == exitcodes.UNREACHABLE, (argv, proc.stderr)


def test_monitor_duration_without_a_station_is_3(tmp_path):
    proc = stationctl("monitor", "--port", tmp_path / "ttyNOPE", "--duration", "0.5")
    assert proc.returncode == exitcodes.UNREACHABLE, proc.stderr
    assert "no station was found" in proc.stderr


def test_zero_or_negative_durations_are_usage_errors(tmp_path):
    fleet = tmp_path / "fleet.csv"
    fleet.write_text("station_id,board,uplink\n")
    for argv in (
        ["monitor", "--duration", "0"],
        ["monitor", "--duration", "-3"],
        ["provision", fleet, "--report", tmp_path / "r.csv", "--wait-timeout", "0"],
        ["provision", fleet, "--report", tmp_path / "r.csv", "--wait-timeout", "-1"],
    ):
        proc = stationctl(*argv)
        assert proc.returncode == exitcodes.USAGE, (argv, proc.stderr)
        assert "must be more than 0" in proc.stderr, proc.stderr
