"""pytest plugin: MicroPython-side tests (tests/**/mp_test_*.py) run inside unix MicroPython.

Each file runs once in a fresh `micropython` process (tests/mp_runner.py); every `test_*`
function in it becomes one pytest item. A file may ask for a device-sized heap with a line
`# mp-heapsize: 64K` near its top. A file with a line `# mp-port-profiles: generic esp32 rp2` runs
once per named I2C port error profile (sim/i2c.py PROFILES; the test reads it as
`mptest.PORT_PROFILE`), and its items are named `test_x[esp32]`.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(TESTS.parent / "host_tools"))

from stationctl.mpenv import micropython_env, micropython_exe  # noqa: E402

_HEAP_RE = re.compile(rb"^#\s*mp-heapsize:\s*(\w+)", re.M)
_TIMEOUT_RE = re.compile(rb"^#\s*mp-timeout:\s*(\d+)", re.M)
_PROFILES_RE = re.compile(rb"^#\s*mp-port-profiles:\s*([\w ]+)$", re.M)


class MicroPythonFailure(Exception):
    pass


def _is_mp_test(path: Path) -> bool:
    return path.suffix == ".py" and path.name.startswith("mp_test_")


def pytest_collect_file(parent, file_path: Path):
    # A file named on the command line is collected by the python plugin, which asks
    # pytest_pycollect_makemodule below; everything else is found here.
    if _is_mp_test(file_path) and not parent.session.isinitpath(file_path):
        return MpFile.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(module_path: Path, parent):
    if _is_mp_test(module_path):
        return MpFile.from_parent(parent, path=module_path)
    return None


class MpFile(pytest.File):
    def _run(self, names=(), profile=None):
        src = self.path.read_bytes()
        cmd = [str(micropython_exe())]
        m = _HEAP_RE.search(src)
        if m:
            cmd += ["-X", "heapsize=" + m.group(1).decode()]
        m = _TIMEOUT_RE.search(src)
        timeout = int(m.group(1)) if m else 300
        cmd += [str(TESTS / "mp_runner.py"), str(self.path), *names]
        env = micropython_env()
        env["MICROPYPATH"] = str(TESTS) + ":" + env["MICROPYPATH"]
        if profile:
            env["MP_PORT_PROFILE"] = profile
        # a private scratch folder per file run, so parallel runs never share station files
        env["MP_TMP"] = tempfile.mkdtemp(prefix="mp_" + self.path.stem + "_")
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=str(TESTS.parent)
            )
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout or ""
            if isinstance(out, bytes):
                out = out.decode(errors="replace")
            return out + "\n@@TIMEOUT %d s\n" % timeout, ""
        return proc.stdout, proc.stderr + (
            "\n[exit code %d]" % proc.returncode if proc.returncode else ""
        )

    def collect(self):
        # Discover test names statically (def test_...) so collection needs no interpreter run.
        text = self.path.read_text()
        names = re.findall(r"^def (test_\w+)\s*\(", text, re.M)
        m = _PROFILES_RE.search(text.encode())
        profiles = m.group(1).decode().split() if m else [None]
        self._results = {}
        for profile in profiles:
            for name in sorted(names):
                item = name if profile is None else f"{name}[{profile}]"
                yield MpItem.from_parent(self, name=item, test_name=name, profile=profile)

    def results(self, profile=None):
        if profile not in self._results:
            stdout, stderr = self._run(profile=profile)
            self._results[profile] = _parse(stdout, stderr)
        return self._results[profile]


def _parse(stdout: str, stderr: str) -> dict[str, tuple[str, str]]:
    results: dict[str, tuple[str, str]] = {}
    current = None
    buf: list[str] = []
    tail = ""
    for line in stdout.splitlines():
        if line.startswith("@@"):
            if current is not None:
                results[current] = (results[current][0], "\n".join(buf))
            current = None
            buf = []
            word, _, rest = line[2:].partition(" ")
            if word in ("PASS", "FAIL", "SKIP"):
                name, _, reason = rest.partition(" ")
                results[name] = (word, reason)
                current = name
            elif word == "TIMEOUT":
                tail = "timed out after " + rest
        else:
            buf.append(line)
    if current is not None:
        results[current] = (results[current][0], results[current][1] + "\n".join(buf))
    results["<stderr>"] = ("INFO", stderr + ("\n" + tail if tail else ""))
    return results


class MpItem(pytest.Item):
    def __init__(self, *, test_name, profile, **kwargs):
        super().__init__(**kwargs)
        self.test_name = test_name
        self.profile = profile

    def runtest(self):
        results = self.parent.results(self.profile)
        if "<import>" in results:
            raise MicroPythonFailure("import failed:\n" + results["<import>"][1])
        status, detail = results.get(self.test_name, ("MISSING", ""))
        if status == "PASS":
            return
        if status == "SKIP":
            pytest.skip(detail)
        if status == "FAIL":
            raise MicroPythonFailure(detail)
        raise MicroPythonFailure(
            "test did not report (interpreter crashed or timed out?)\n" + results["<stderr>"][1]
        )

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, MicroPythonFailure):
            return f"[micropython] {self.name} failed:\n{excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, f"[mp] {self.name}"
