"""Writes the station's config rules into the downlink encoders, from firmware/config.py.

    .venv/bin/python tests/vectors/make_config_rules.py        (after changing config's schema)

The station refuses a command whose value breaks its config schema (firmware/config.py, run
here inside MicroPython: the schema that ships on the board is the one source). The encoders
check the same rules before a scarce downlink is spent on a command the station will refuse:
host_tools/stationctl/payload/config_rules.json for the Python encoder, the block between the
markers in host_tools/payload/climate-station.js for The Things Stack and ChirpStack.
tests/test_downlink_rules.py fails when either copy differs from what this script writes.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from stationctl.mpenv import micropython_env, micropython_exe

REPO = Path(__file__).resolve().parents[2]

JSON_RULES = REPO / "host_tools" / "stationctl" / "payload" / "config_rules.json"
JS = REPO / "host_tools" / "payload" / "climate-station.js"
JS_BEGIN = (
    "// --- config rules: written by tests/vectors/make_config_rules.py from firmware/config.py"
)
JS_END = "// --- end of config rules"

# inside MicroPython: every dotted key with its kind and constraint; the link keys (config.
# LINK_KEYS) as "site": set on site only, the station refuses them by downlink
_DUMP = """
import json, config
def walk(schema, prefix, out):
    for key in sorted(schema):
        kind, default, c = schema[key]
        if kind == "section":
            walk(c, prefix + key + ".", out)
        elif kind in ("int", "float"):
            out[prefix + key] = [kind, c[0], c[1]]
        elif kind == "str":
            out[prefix + key] = [kind, c[0], c[1], c[2]]
        elif kind == "enum":
            out[prefix + key] = [kind, list(c)]
        else:
            out[prefix + key] = [kind]
out = {}
walk(config.SCHEMA, "", out)
for key in config.LINK_KEYS:
    out[key] = ["site"]  # a downlink may not change it: a wrong value cuts the command channel
import commands
# command arguments: "command:argument" (':' is in no config key, so set_config never finds it)
out["calibrate_co2:reference_ppm"] = ["int", commands.FRC_REFERENCE_PPM[0], commands.FRC_REFERENCE_PPM[1]]
print(json.dumps(out))
"""


def firmware_rules() -> dict:
    """The settable keys and their rules, as firmware/config.py defines them (MicroPython)."""
    proc = subprocess.run(
        [str(micropython_exe()), "-c", _DUMP],
        capture_output=True,
        text=True,
        env=micropython_env(),
        timeout=60,
        check=True,
    )
    return json.loads(proc.stdout)


def js_block(rules: dict) -> str:
    body = ",\n".join(f"  {json.dumps(k)}: {json.dumps(rules[k])}" for k in sorted(rules))
    return f"{JS_BEGIN}, do not edit\nvar CONFIG_RULES = {{\n{body}\n}};\n{JS_END}"


def js_rules_text(js: str) -> str:
    start = js.index(JS_BEGIN)
    end = js.index(JS_END) + len(JS_END)
    return js[start:end]


def main() -> None:
    rules = firmware_rules()
    JSON_RULES.write_text(json.dumps(rules, indent=1, sort_keys=True) + "\n")
    js = JS.read_text()
    JS.write_text(js.replace(js_rules_text(js), js_block(rules)))
    print(f"wrote {len(rules)} config rules to {JSON_RULES.name} and {JS.name}")


if __name__ == "__main__":
    main()
