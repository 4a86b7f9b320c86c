"""Docs stay in step with the code: every diagnostic code the firmware can print is documented."""

from __future__ import annotations

import ast
import re

from stationctl.mpenv import REPO_ROOT as REPO

_CODE = re.compile(r"^[A-Z][A-Z0-9_]*\.[A-Z][A-Z0-9_.]*$")
_BARE = {"BOOT", "SENSORS", "SAMPLE", "DELIVERY", "DOWNLINK", "REBOOT", "CRASH"}


def firmware_codes() -> set[str]:
    codes = set()
    for p in sorted((REPO / "firmware").glob("*.py")) + sorted((REPO / "drivers").glob("*.py")):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if _CODE.match(node.value) or node.value in _BARE:
                    codes.add(node.value)
    return codes


def test_every_diagnostic_code_is_documented():
    doc = (REPO / "docs" / "diagnostics.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_.]*)` \|", doc, re.M))
    missing = sorted(firmware_codes() - documented)
    assert missing == [], f"add these codes to docs/diagnostics.md: {missing}"
    assert len(documented) > 40


def test_readme_names_the_two_commands_first():
    readme = (REPO / "README.md").read_text()
    first_block = readme.split("```", 2)[1]
    assert "make run" in first_block and "make test" in first_block
