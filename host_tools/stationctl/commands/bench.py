"""`stationctl bench [SECTION ...]`: the benchmarks (`make bench`); not timed tests.

Each section is a module with `run() -> str` returning a Markdown report; the report is printed
and written to build/bench/<section>.md. Add a section by adding it to SECTIONS.
"""

from __future__ import annotations

import importlib
import sys

from stationctl.mpenv import REPO_ROOT

# section name -> module providing run() -> str
SECTIONS = {
    "payload": "stationctl.bench.payload",
    "deploy": "stationctl.bench.deploy",
    "heap32": "stationctl.bench.heap32",
    "setup": "stationctl.bench.setup",
}
OUT_DIR = REPO_ROOT / "build" / "bench"


def register(sub) -> None:
    p = sub.add_parser("bench", help="run the benchmarks and write build/bench/*.md")
    p.add_argument("sections", nargs="*", metavar="SECTION",
                   help=f"sections to run (default all: {', '.join(SECTIONS)})")  # fmt: skip
    p.set_defaults(func=run)


def run(args) -> int:
    names = args.sections or list(SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        print(f"stationctl bench: unknown section {', '.join(unknown)} "
              f"(one of {', '.join(SECTIONS)})", file=sys.stderr)  # fmt: skip
        return 2
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name in names:
        report = importlib.import_module(SECTIONS[name]).run()
        path = OUT_DIR / f"{name}.md"
        path.write_text(report)
        print(report)
        print(f"(written to {path.relative_to(REPO_ROOT)})\n")
    return 0
