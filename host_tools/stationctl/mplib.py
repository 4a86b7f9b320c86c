"""MicroPython-side libraries: fetch pinned sdists from the package registry, check, unpack.

The lock file (`mplib.lock.json` at the repository root) pins each library by version and sha256
and lists the module files to take from its sdist. Nothing third-party is copied into the
repository: `install` fetches at set-up time into a local folder (the unix port's library path),
and `stationctl deploy` pushes the same files to a board.

The registry's address is never written here: it comes from pip's own configuration
(PIP_INDEX_URL, `pip config`, or pip's built-in default index).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCK_FILE = REPO_ROOT / "mplib.lock.json"
DEFAULT_TARGET = REPO_ROOT / ".venv" / "mplib"
CACHE_DIR = REPO_ROOT / ".venv" / "cache" / "mplib"


class MplibError(Exception):
    """A library could not be fetched, verified or unpacked."""


@dataclass(frozen=True)
class LockedPackage:
    name: str
    version: str
    filename: str
    sha256: str
    files: tuple[str, ...]


def load_lock(path: Path = LOCK_FILE) -> list[LockedPackage]:
    data = json.loads(path.read_text())
    out = []
    for p in data["packages"]:
        out.append(
            LockedPackage(
                p["name"], p["version"], p["filename"], p["sha256"].lower(), tuple(p["files"])
            )
        )
    return out


def index_url() -> str:
    """The simple-API index URL that pip itself would use."""
    env = os.environ.get("PIP_INDEX_URL")
    if env:
        return env.rstrip("/")
    try:
        out = subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", "global.index-url"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip().rstrip("/")
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        from pip._internal.models.index import PyPI  # pip's own default index

        return PyPI.simple_url.rstrip("/")
    except ImportError as exc:  # pragma: no cover - pip is always in a venv
        raise MplibError("cannot find pip's index URL: set PIP_INDEX_URL") from exc


def _normalise(name: str) -> str:
    out = []
    prev_sep = False
    for ch in name.lower():
        if ch in "-_.":
            if not prev_sep:
                out.append("-")
            prev_sep = True
        else:
            out.append(ch)
            prev_sep = False
    return "".join(out)


def _http_get(url: str, accept: str | None = None, timeout: float = 60) -> bytes:
    req = urllib.request.Request(url)
    if accept:
        req.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.read()
    except OSError as exc:
        raise MplibError(f"download failed: {url}: {exc}") from exc


def file_url(pkg: LockedPackage, base: str | None = None) -> str:
    """Find the sdist's download URL through the registry's simple JSON API (PEP 691)."""
    base = base or index_url()
    page_url = f"{base}/{_normalise(pkg.name)}/"
    raw = _http_get(page_url, accept="application/vnd.pypi.simple.v1+json")
    try:
        files = json.loads(raw)["files"]
    except (ValueError, KeyError) as exc:
        raise MplibError(f"registry page for {pkg.name} is not PEP 691 JSON") from exc
    for f in files:
        if f.get("filename") == pkg.filename:
            return urllib.parse.urljoin(page_url, f["url"])
    raise MplibError(f"{pkg.filename} is not offered by the registry")


def fetch(pkg: LockedPackage, cache_dir: Path = CACHE_DIR) -> bytes:
    """Return the verified sdist bytes, from the cache when present."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    cached = cache_dir / pkg.filename
    if cached.exists():
        data = cached.read_bytes()
        if hashlib.sha256(data).hexdigest() == pkg.sha256:
            return data
        cached.unlink()
    data = _http_get(file_url(pkg))
    digest = hashlib.sha256(data).hexdigest()
    if digest != pkg.sha256:
        raise MplibError(
            f"sha256 mismatch for {pkg.filename}: expected {pkg.sha256}, got {digest}; not installed"
        )
    tmp = cached.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(cached)
    return data


def extract(pkg: LockedPackage, data: bytes) -> dict[str, bytes]:
    """Pull the locked module files out of the sdist; {relative path: content}."""
    prefix = pkg.filename[: -len(".tar.gz")] + "/"
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile() or not member.name.startswith(prefix):
                continue
            rel = member.name[len(prefix) :]
            if rel in pkg.files:
                fh = tar.extractfile(member)
                if fh is not None:
                    out[rel] = fh.read()
    missing = set(pkg.files) - set(out)
    if missing:
        raise MplibError(f"{pkg.filename} lacks {sorted(missing)}")
    return out


def library_files(lock: Path = LOCK_FILE) -> dict[str, bytes]:
    """All locked library files, verified: {path relative to the lib folder: content}."""
    files: dict[str, bytes] = {}
    for pkg in load_lock(lock):
        files.update(extract(pkg, fetch(pkg)))
    return files


def install(target: Path = DEFAULT_TARGET, lock: Path = LOCK_FILE) -> list[str]:
    """Install every locked library into `target`; returns the relative paths written."""
    files = library_files(lock)
    for rel, content in files.items():
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".part")
        tmp.write_bytes(content)
        tmp.replace(dest)
    return sorted(files)
