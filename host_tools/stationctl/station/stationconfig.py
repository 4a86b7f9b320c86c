"""Station config and secrets on the host: validated by the firmware's own config module running
inside unix MicroPython (never re-implemented here), secrets masked in everything we print."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from stationctl.mpenv import REPO_ROOT, micropython_env, micropython_exe

TOOL = Path(__file__).resolve().parent / "mp" / "config_tool.py"
MASK = "****"
# A full station config is about 1 KiB; anything far larger is the wrong file, and the
# station would have to hold it in RAM to parse it.
MAX_CONFIG_BYTES = 16 * 1024
# The config has sections one level deep; deeper nesting is the wrong file (and a very deep one
# exhausts MicroPython's recursion while parsing).
MAX_NESTING = 8
_ECHO_CHARS = 40  # longest run of text a problem quotes back


class ConfigFileError(ValueError):
    """A config or secrets file that cannot even be read as a config: one readable reason."""


def read_file(path: str | Path, what: str) -> str:
    """The text of a config or secrets file; ConfigFileError with the reason when it is
    unreadable, too large, not UTF-8 or empty."""
    try:
        size = Path(path).stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigFileError(
                f"{what} {path} is {size} bytes; a station {what} is at most "
                f"{MAX_CONFIG_BYTES} bytes (is it the right file?)"
            )
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigFileError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    return decode_text(raw, f"{what} {path}")


def decode_text(raw: bytes, what: str) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigFileError(
            f"{what} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        ) from None
    if not text.strip():
        raise ConfigFileError(f"{what} is empty: a config is a JSON object, at least {{}}")
    return text


def shorten(text: str) -> str:
    """Problems quote keys and values; a 200,000-character key is quoted by its start only."""
    return re.sub(
        rf"[^\s:]{{{_ECHO_CHARS + 1},}}",
        lambda m: f"{m[0][: _ECHO_CHARS - 3]}... ({len(m[0])} characters)",
        text,
    )


def precheck(text: str) -> list[str]:
    """What can be said before the firmware's own check: size, JSON syntax with line and
    column, nesting depth. Empty when the text is fit for the firmware's parser."""
    if len(text.encode()) > MAX_CONFIG_BYTES:
        return [f"is {len(text.encode())} bytes; at most {MAX_CONFIG_BYTES}"]
    if not text.strip():
        return ["is empty: a config is a JSON object, at least {}"]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return [f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"]
    except RecursionError:
        return [f"nested more than {MAX_NESTING} levels deep"]
    depth, level = 0, [data]
    while level:
        depth += 1
        if depth > MAX_NESTING:
            return [f"nested more than {MAX_NESTING} levels deep"]
        nxt = []
        for node in level:
            if isinstance(node, dict):
                nxt += node.values()
            elif isinstance(node, list):
                nxt += node
        level = nxt
    return []


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
    """Run firmware/config.py `parse` on both texts inside MicroPython (after `precheck`)."""
    early = Checked(
        problems=precheck(config_text) if config_text is not None else [],
        secret_problems=[
            p.split(":")[0] if "not valid JSON" in p else p  # a syntax error may show a secret
            for p in (precheck(secrets_text) if secrets_text is not None else [])
        ],
    )
    if not early.ok:
        return early
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
    c.problems = [shorten(p) for p in c.problems]
    c.secret_problems = [shorten(p) for p in c.secret_problems]
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
    except (ValueError, RecursionError):
        return config_text  # the validator will report the JSON error
    if not isinstance(data, dict):
        return config_text  # the validator will report it: a config is an object
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


def _config_base(dev) -> str:
    """The folder the station's firmware reads config.json from ('' for the root)."""
    from stationctl.station.transport import TransportExecError

    dev.load_code("selftest.py")
    try:
        root = dev.call("_scfsroot()")
    except TransportExecError as exc:
        if "no module named" in exc.error_output or "board.json" in exc.error_output:
            raise NoFirmware() from None
        raise
    return root.rstrip("/")


def current_config(dev) -> str | None:
    """The station's own config.json text (what `--set` edits), None when it has none."""
    return dev.get_text(f"{_config_base(dev)}/config.json")


CA_FILE = "ca.der"  # where `configure --ca-file` puts the broker's CA (mqtt.ca_file)


class CaFileError(ValueError):
    """A --ca-file that is not one X.509 certificate."""


def ca_der(path: str | Path) -> bytes:
    """The certificate at `path` (PEM or DER) as DER, the form the station's ssl loads;
    CaFileError says why a file cannot be used."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise CaFileError(f"{path}: {exc.strerror or exc}") from None
    if len(raw) > 8192:
        raise CaFileError(f"{path}: {len(raw)} bytes is not one CA certificate")
    try:
        if raw.lstrip().startswith(b"-----BEGIN"):
            cert = x509.load_pem_x509_certificate(raw)
        else:
            cert = x509.load_der_x509_certificate(raw)
    except ValueError:
        raise CaFileError(f"{path}: not an X.509 certificate (PEM or DER)") from None
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = True  # an old self-signed certificate without the extension
    if not is_ca:
        raise CaFileError(
            f"{path}: a server certificate, not a CA (give the CA that signed the broker's)"
        )
    return cert.public_bytes(serialization.Encoding.DER)


def put_ca(dev, der: bytes) -> str:
    """Write the CA certificate where mqtt.ca_file names it; returns that name."""
    base = _config_base(dev)
    if base:
        dev.t.exec(f"_scmkdirs({[base]!r})")
    dev.put_bytes(f"{base}/{CA_FILE}", der)
    return CA_FILE


def apply(dev, checked) -> dict:
    """Write validated config (and secrets) atomically where the firmware reads them; return
    what the station itself reads back (digest, source, secrets set)."""
    base = _config_base(dev)
    if base:
        dev.t.exec(f"_scmkdirs({[base]!r})")
    dev.put_text(f"{base}/config.json", checked.config)
    if checked.secrets is not None:
        dev.put_text(f"{base}/secrets.json", checked.secrets)
    return dev.call("print(repr(_scconfig()[0]))")
