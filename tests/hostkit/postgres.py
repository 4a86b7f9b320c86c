"""A real PostgreSQL server for a test: initdb + pg_ctl from Debian's `postgresql` package into a
temporary directory, on a free loopback port, trust authentication, stopped at the end.

PostgreSQL refuses to run as root (CI runs as root): then the server runs as the `postgres`
system user that the Debian package creates (through runuser)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from stationctl.virtual.broker import free_port


def bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/<major>/bin that has initdb, or None."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    return Path(found[-1]).parent if found else None


def unavailable() -> str | None:
    """Why no server can be started here (a skip reason), or None."""
    if bin_dir() is None:
        return "PostgreSQL is not installed (Debian: apt-get install postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no `postgres` user to run the server"
        if shutil.which("runuser") is None:
            return "running as root without runuser to start the server as `postgres`"
    return None


class Postgres:
    def __init__(self):
        self.bin = bin_dir()
        self.port = free_port()
        self._tmp = tempfile.TemporaryDirectory(prefix="pg-")
        self.dir = Path(self._tmp.name)
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self._as = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]
            entry = pwd.getpwnam("postgres")
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)

    def _run(self, *cmd: str) -> None:
        out = subprocess.run(
            [*self._as, str(self.bin / cmd[0]), *cmd[1:]], capture_output=True, text=True
        )
        if out.returncode:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{cmd[0]} failed: {out.stderr.strip()}\n{log}")

    def start(self) -> Postgres:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        opts = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port}"
            f" -c unix_socket_directories={self.dir} -c fsync=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w", "start")
        return self

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        self._tmp.cleanup()
