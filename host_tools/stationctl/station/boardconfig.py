"""Board configs on the laptop: find one by its short name, read it safely and check it with the
firmware's own schema (firmware/boardcfg.py, run inside MicroPython), so deploy, verify, flash,
provision and the station's HAL agree on what a valid board config is."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from stationctl.mpenv import REPO_ROOT, micropython_env, micropython_exe

BOARD_DIR = REPO_ROOT / "board_configs"
TOOL = Path(__file__).resolve().parent / "mp" / "board_tool.py"
MAX_BYTES = 16384  # firmware/boardcfg.py MAX_BYTES: the station parses it in RAM at every boot


class BoardError(ValueError):
    """A board config that cannot be used; the message names the file and every problem."""


@dataclass
class Board:
    path: Path
    cfg: dict
    text: str  # as it goes to the station: sorted, indented
    platform: str  # sys.platform of the MicroPython port on this board's family

    @property
    def name(self) -> str:
        return self.cfg["board"]


def resolve(name: str | Path) -> Path:
    """A board config path: the file itself, or a short name from board_configs/
    (`esp32-devkitc`, as the fleet CSV uses)."""
    path = Path(name)
    if path.is_file():
        return path
    short = BOARD_DIR / (path.name if path.suffix == ".json" else f"{path.name}.json")
    if str(name) == path.name and short.is_file():
        return short
    known = ", ".join(sorted(p.stem for p in BOARD_DIR.glob("*.json")))
    raise BoardError(f"board config {name} not found (a file, or one of: {known})")


def load(name: str | Path) -> Board:
    """Read and check a board config; BoardError with every problem."""
    path = resolve(name)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise BoardError(
                f"board config {path} is {size} bytes; a board config is at most {MAX_BYTES}"
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise BoardError(f"cannot read board config {path}: {exc.strerror or exc}") from None
    return parse(raw, str(path), path)


def parse(raw: bytes, what: str, path: Path | None = None) -> Board:
    try:
        cfg = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BoardError(f"board config {what} is not UTF-8 text (offset {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise BoardError(
            f"board config {what} is not valid JSON: {exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}"
        ) from None
    except RecursionError:
        raise BoardError(f"board config {what} is nested far too deep") from None
    found = check(cfg)
    if found["problems"]:
        raise BoardError(f"board config {what} is not usable:\n  " + "\n  ".join(found["problems"]))
    text = json.dumps(cfg, indent=1, sort_keys=True) + "\n"
    return Board(path or Path(what), cfg, text, found["platform"])


def check(cfg) -> dict:
    """{"problems": [...], "platform": ...} from firmware/boardcfg.py inside MicroPython."""
    proc = subprocess.run(
        [str(micropython_exe()), str(TOOL)],
        input=json.dumps(cfg),
        capture_output=True,
        text=True,
        timeout=60,
        env=micropython_env(),
        cwd=str(REPO_ROOT),
    )
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        raise BoardError(f"the board config check did not run: {tail[0][:200]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
