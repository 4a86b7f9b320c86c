"""Station config and secrets on the host: validated by the firmware's own config module running
inside unix MicroPython (never re-implemented here), secrets masked in everything we print."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from stationctl.mpenv import REPO_ROOT, micropython_env, micropython_exe

TOOL = Path(__file__).resolve().parent / "mp" / "config_tool.py"
MASK = "****"


@dataclass
class Checked:
    problems: list[str] = field(default_factory=list)
    secret_problems: list[str] = field(default_factory=list)
    config: str | None = None  # canonical text to write
    digest: str | None = None
    station_id: str | None = None
    uplink: str | None = None
    secrets: str | None = None
    secrets_set: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.secret_problems


def validate(config_text: str | None, secrets_text: str | None) -> Checked:
    """Run firmware/config.py `parse` on both texts inside MicroPython."""
    req = json.dumps({"config": config_text, "secrets": secrets_text})
    proc = subprocess.run(
        [str(micropython_exe()), str(TOOL)],
        input=req,
        capture_output=True,
        text=True,
        timeout=60,
        env=micropython_env(),
        cwd=str(REPO_ROOT),
    )
    if proc.returncode != 0:
        raise RuntimeError(f"config check failed inside MicroPython: {proc.stderr.strip()[-300:]}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    c = Checked()
    for k, v in data.items():
        setattr(c, k, v)
    return c


def secret_values(secrets_text: str | None) -> list[str]:
    """Every string value in the secrets text (for masking), longest first."""
    if not secrets_text:
        return []
    try:
        data = json.loads(secrets_text)
    except ValueError:
        return [w for w in secrets_text.replace('"', " ").split() if len(w) >= 4]
    vals = []
    if isinstance(data, dict):
        for v in data.values():
            if isinstance(v, (str, int, float)) and str(v) and len(str(v)) >= 3:
                vals.append(str(v))
    return sorted(set(vals), key=len, reverse=True)


def mask(text: str, secrets: list[str]) -> str:
    for s in secrets:
        text = text.replace(s, MASK)
    return text


def apply_sets(config_text: str, sets: list[str]) -> str:
    """--set key.sub=value (value as JSON, else as text) applied to the config text."""
    try:
        data = json.loads(config_text) if config_text.strip() else {}
    except ValueError:
        return config_text  # the validator will report the JSON error
    for item in sets:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"--set {key}: {part} is not a section")
        node[parts[-1]] = value
    return json.dumps(data)


class NoFirmware(Exception):
    """The station has no deployed firmware to read its config root from."""


def apply(dev, checked) -> dict:
    """Write validated config (and secrets) atomically where the firmware reads them; return
    what the station itself reads back (digest, source, secrets set)."""
    from stationctl.station.transport import TransportExecError

    dev.load_code("selftest.py")
    try:
        root = dev.call("_scfsroot()")
    except TransportExecError as exc:
        if "no module named" in exc.error_output or "board.json" in exc.error_output:
            raise NoFirmware() from None
        raise
    base = root.rstrip("/")
    if base:
        dev.t.exec(f"_scmkdirs({[base]!r})")
    dev.put_text(f"{base}/config.json", checked.config)
    if checked.secrets is not None:
        dev.put_text(f"{base}/secrets.json", checked.secrets)
    return dev.call("print(repr(_scconfig()[0]))")
