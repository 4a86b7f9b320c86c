"""pytest plugin: MicroPython-side tests (tests/**/mp_test_*.py) run inside unix MicroPython,
and the pure-logic ones on a 32-bit MicroPython as well.

Each file runs once per interpreter (and port profile) in a fresh process (tests/mpkit/mp_runner.py);
every `test_*` function in it becomes one pytest item per run. Lines near the top of a file:

  # mp-heapsize: 64K          a device-sized heap
  # mp-timeout: 600           seconds for one run of the file (default 300; three times that
                              on wasm32)
  # mp-port-profiles: generic esp32 rp2
                              one run per I2C port error profile (sim/i2c.py PROFILES; the test
                              reads it as `mptest.PORT_PROFILE`); items named `test_x[esp32]`
  # mp-ports: unix wasm32     interpreters to run on (default: unix). wasm32 is the official
                              MicroPython WebAssembly port under Node (tests/wasm32/run.mjs):
                              small ints of 31 bits like ESP32 and RP2040, so a heap_lock test
                              there also catches integers above 2**30; items named
                              `test_x[wasm32]` (`test_x[wasm32-esp32]` with a profile)
  # mp-xfail-wasm32: test_a test_b -- reason
                              known to fail on that interpreter until fixed (strict: a pass fails)

Test helpers: tests/mpkit/ runs inside MicroPython (on the path of every mp_test_*.py: mptest,
stationkit, lorawan_rig, replay); tests/hostkit/ is the CPython side (see its __init__).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hostkit.micropython import run_mp
from stationctl.mpenv import micropython_exe, micropython_path, wasm32_command

TESTS = Path(__file__).resolve().parent
MPKIT = TESTS / "mpkit"  # the MicroPython-side kit (see the docstring above)

_HEAP_RE = re.compile(rb"^#\s*mp-heapsize:\s*(\w+)", re.M)
_TIMEOUT_RE = re.compile(rb"^#\s*mp-timeout:\s*(\d+)", re.M)
_PROFILES_RE = re.compile(rb"^#\s*mp-port-profiles:\s*([\w ]+)$", re.M)
_PORTS_RE = re.compile(rb"^#\s*mp-ports:\s*([\w ]+?)\s*$", re.M)
_XFAIL_RE = re.compile(rb"^#\s*mp-xfail-(\w+):\s*([\w ]+?)\s*--\s*(.+?)\s*$", re.M)
PORTS = ("unix", "wasm32")


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
    def _command(self, port, src):
        m = _HEAP_RE.search(src)
        heap = ["-X", "heapsize=" + m.group(1).decode()] if m else []
        if port == "wasm32":
            # the WebAssembly port's default heap is 1 MiB; the unix port's default is larger
            return wasm32_command() + (heap or ["-X", "heapsize=2M"])
        return [str(micropython_exe())] + heap

    def _run(self, port, profile, names=()):
        src = self.path.read_bytes()
        cmd = self._command(port, src)
        m = _TIMEOUT_RE.search(src)
        timeout = int(m.group(1)) if m else 300
        if port == "wasm32":
            timeout *= 3
        # tests/ itself too: the wasm32 runner copies only the folders on this path
        env = {"MICROPYPATH": str(MPKIT) + ":" + str(TESTS) + ":" + micropython_path()}
        if profile:
            env["MP_PORT_PROFILE"] = profile
        # a private scratch folder per file run, so parallel runs never share station files
        env["MP_TMP"] = tempfile.mkdtemp(prefix="mp_" + self.path.stem + "_")
        try:
            proc = run_mp(
                script=str(MPKIT / "mp_runner.py"),
                args=[str(self.path), *names],
                interpreter=cmd,
                timeout=timeout,
                env_extra=env,
                check=False,
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
        src = text.encode()
        names = re.findall(r"^def (test_\w+)\s*\(", text, re.M)
        m = _PROFILES_RE.search(src)
        profiles = m.group(1).decode().split() if m else [None]
        m = _PORTS_RE.search(src)
        ports = m.group(1).decode().split() if m else ["unix"]
        for port in ports:
            if port not in PORTS:
                raise ValueError(f"{self.path.name}: unknown port {port!r} (known: {PORTS})")
        xfail = {}
        for m in _XFAIL_RE.finditer(src):
            for name in m.group(2).decode().split():
                xfail[(m.group(1).decode(), name)] = m.group(3).decode()
        self._results = {}
        for port in ports:
            for profile in profiles:
                tags = [t for t in (None if port == "unix" else port, profile) if t]
                for name in sorted(names):
                    item = MpItem.from_parent(
                        self,
                        name=f"{name}[{'-'.join(tags)}]" if tags else name,
                        test_name=name,
                        profile=profile,
                        port=port,
                    )
                    if (port, name) in xfail:
                        item.add_marker(pytest.mark.xfail(reason=xfail[(port, name)], strict=True))
                    yield item

    def results(self, port, profile):
        if (port, profile) not in self._results:
            if port == "wasm32" and shutil.which("node") is None:
                pytest.skip("Node is not installed: the 32-bit MicroPython runs under Node")
            stdout, stderr = self._run(port, profile)
            self._results[(port, profile)] = _parse(stdout, stderr)
        return self._results[(port, profile)]


def _parse(stdout: str, stderr: str) -> dict[str, tuple[str, str]]:
    results: dict[str, tuple[str, str]] = {}
    current = None
    buf: list[str] = []
    tail = ""
    for line in stdout.splitlines():
        if line.startswith("@@"):
            if current is not None:
                results[current] = (results[current][0], _detail(results[current][1], buf))
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
        results[current] = (results[current][0], _detail(results[current][1], buf))
    results["<stderr>"] = ("INFO", stderr + ("\n" + tail if tail else ""))
    return results


def _detail(reason: str, lines: list[str]) -> str:
    # a SKIP's reason is on its own line; a FAIL's traceback follows it
    return "\n".join([reason] + lines if reason else lines)


class MpItem(pytest.Item):
    def __init__(self, *, test_name, profile, port, **kwargs):
        super().__init__(**kwargs)
        self.test_name = test_name
        self.profile = profile
        self.port = port

    def runtest(self):
        results = self.parent.results(self.port, self.profile)
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
            return f"[micropython {self.port}] {self.name} failed:\n{excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, f"[mp {self.port}] {self.name}"
