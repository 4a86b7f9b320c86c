"""MicroPython library set-up: fetched through a PEP 691 index, sha256-checked, unpacked.

A local HTTP index on loopback stands in for the registry (the address comes from
PIP_INDEX_URL, exactly as pip's own configuration would provide it).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from stationctl import mplib


def make_sdist(name: str, files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for rel, content in files.items():
            info = tarfile.TarInfo(f"{name}/{rel}")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


@pytest.fixture
def index(monkeypatch):
    sdist = make_sdist("micropython-demo-1.0", {"demo/lib.py": b"X = 1\n", "PKG-INFO": b"x"})
    routes: dict[str, tuple[str, bytes]] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            if self.path not in routes:
                self.send_error(404)
                return
            ctype, body = routes[self.path]
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base = f"http://127.0.0.1:{server.server_address[1]}/simple"
    page = {
        "files": [
            {
                "filename": "micropython-demo-1.0.tar.gz",
                "url": "../../files/micropython-demo-1.0.tar.gz",
                "hashes": {},
            }
        ]
    }
    routes["/simple/micropython-demo/"] = (
        "application/vnd.pypi.simple.v1+json",
        json.dumps(page).encode(),
    )
    routes["/files/micropython-demo-1.0.tar.gz"] = ("application/octet-stream", sdist)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("PIP_INDEX_URL", base)
    yield sdist
    server.shutdown()


def lock(tmp_path: Path, sha: str, files=("demo/lib.py",)) -> Path:
    p = tmp_path / "lock.json"
    p.write_text(
        json.dumps(
            {
                "packages": [
                    {
                        "name": "micropython-demo",
                        "version": "1.0",
                        "filename": "micropython-demo-1.0.tar.gz",
                        "sha256": sha,
                        "files": list(files),
                    }
                ]
            }
        )
    )
    return p


def test_install_fetches_checks_and_unpacks(index, tmp_path, monkeypatch):
    monkeypatch.setattr(mplib, "CACHE_DIR", tmp_path / "cache")
    written = mplib.install(tmp_path / "lib", lock(tmp_path, hashlib.sha256(index).hexdigest()))
    assert written == ["demo/lib.py"]
    assert (tmp_path / "lib" / "demo" / "lib.py").read_bytes() == b"X = 1\n"


def test_sha256_mismatch_installs_nothing(index, tmp_path, monkeypatch):
    monkeypatch.setattr(mplib, "CACHE_DIR", tmp_path / "cache")
    with pytest.raises(mplib.MplibError, match="sha256 mismatch"):
        mplib.install(tmp_path / "lib", lock(tmp_path, "0" * 64))
    assert not (tmp_path / "lib").exists()
    assert not (tmp_path / "cache" / "micropython-demo-1.0.tar.gz").exists()


def test_missing_module_in_sdist_is_an_error(index, tmp_path, monkeypatch):
    monkeypatch.setattr(mplib, "CACHE_DIR", tmp_path / "cache")
    sha = hashlib.sha256(index).hexdigest()
    with pytest.raises(mplib.MplibError, match="lacks"):
        mplib.install(tmp_path / "lib", lock(tmp_path, sha, files=("demo/other.py",)))


def test_the_real_lock_pins_umqtt_and_it_is_installed():
    pkgs = {p.name: p for p in mplib.load_lock()}
    assert pkgs["micropython-umqtt.simple"].version == "1.3.4"
    assert len(pkgs["micropython-umqtt.simple"].sha256) == 64
    # `make` ran `stationctl mplib install` before the tests
    assert (mplib.DEFAULT_TARGET / "umqtt" / "simple.py").exists()


def test_index_url_comes_from_pip_configuration(monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple/")
    assert mplib.index_url() == "http://127.0.0.1:9/simple"
