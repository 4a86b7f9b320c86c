"""Station configuration: defaults + the station file, validated; secrets kept apart.

`load(fs_root)` never raises for a bad file: it logs a specific CONFIG.* line and falls back to
the last good configuration (saved beside it after every successful load), else to the defaults.
The same `validate()` runs on the host (stationctl configure runs it inside MicroPython) so a
technician sees every problem before anything is written to a station.
"""

import hashlib
import json
import sys

import binascii

# The schema and the checks live in config_schema.py, loaded only while validating.
CONFIG_FILE = "config.json"
LAST_GOOD_FILE = "config.last_good.json"
SECRETS_FILE = "secrets.json"


class ConfigError(ValueError):
    """A config file is unusable; `problems` lists every reason (key: reason)."""

    def __init__(self, problems):
        self.problems = problems
        super().__init__("; ".join(problems))


def _rules():
    # firmware/config_schema.py: loaded for a validation and dropped again (see _drop)
    import config_schema

    return config_schema


def _drop():
    # nothing keeps the rules module once it is out of sys.modules: its objects become garbage
    sys.modules.pop("config_schema", None)


def _secrets_schema():
    try:
        return _rules()._secrets_schema()
    finally:
        _drop()


def __getattr__(name):
    # config.SCHEMA and config.SECRETS_SCHEMA, as the module had them: a fresh copy per access
    if name == "SCHEMA":
        fn = "_schema"
    elif name == "SECRETS_SCHEMA":
        fn = "_secrets_schema"
    else:
        raise AttributeError(name)
    try:
        return getattr(_rules(), fn)()
    finally:
        _drop()


def defaults(schema=None):
    """The default config (or the defaults of `schema`)."""
    try:
        return _rules().defaults(schema)
    finally:
        _drop()


def validate(data, schema=None, path=""):
    """Defaults merged with `data`, checked. Raises ConfigError listing every problem."""
    try:
        return _rules().validate(data, schema, path)
    finally:
        _drop()


def canonical(obj):
    """Stable JSON text (sorted keys, no spaces): the input of the config digest."""
    if type(obj) is dict:
        return "{" + ",".join(json.dumps(k) + ":" + canonical(obj[k]) for k in sorted(obj)) + "}"
    if type(obj) in (list, tuple):
        return "[" + ",".join(canonical(v) for v in obj) + "]"
    return json.dumps(obj)


def digest(cfg):
    """First 8 hex digits of sha256 over the canonical effective config."""
    h = hashlib.sha256(canonical(cfg).encode())
    return binascii.hexlify(h.digest()).decode()[:8]


def parse(text, schema=None):
    """Validate config text. Raises ConfigError with every problem found."""
    try:
        return _rules().parse(text, schema)
    finally:
        _drop()


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def write_atomic(path, text):
    """Write `text` to path via a temp file and rename, so a power cut leaves old or new."""
    import os

    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def _join(root, name):
    return name if not root else root.rstrip("/") + "/" + name


def load(fs_root="", log=None):
    """The effective config: (cfg, source) with source 'file', 'last_good' or 'defaults'.

    Never raises for bad content. `log(level, code, **fields)` reports problems.
    """
    text = _read(_join(fs_root, CONFIG_FILE))
    if text is None:
        if log:
            log(1, "CONFIG.DEFAULTS", reason="no config.json")
        return defaults(), "defaults"
    try:
        cfg = parse(text)
    except ConfigError as exc:
        if log:
            for problem in exc.problems:
                log(3, "CONFIG.INVALID", problem=problem)
        good = _read(_join(fs_root, LAST_GOOD_FILE))
        if good is not None:
            try:
                cfg = parse(good)
                if log:
                    log(2, "CONFIG.FALLBACK", using="last_good", digest=digest(cfg))
                return cfg, "last_good"
            except ConfigError:
                pass
        if log:
            log(2, "CONFIG.FALLBACK", using="defaults")
        return defaults(), "defaults"
    if _read(_join(fs_root, LAST_GOOD_FILE)) != text:
        try:
            write_atomic(_join(fs_root, LAST_GOOD_FILE), text)
        except OSError:
            pass
    return cfg, "file"


def load_secrets(fs_root="", log=None):
    """Secrets dict (validated for form). Bad or missing file -> empty secrets, logged by key only."""
    text = _read(_join(fs_root, SECRETS_FILE))
    if text is None:
        return defaults(_secrets_schema())
    try:
        return parse(text, _secrets_schema())
    except ConfigError as exc:
        if log:
            for problem in exc.problems:
                log(3, "SECRETS.INVALID", problem=problem)
        return defaults(_secrets_schema())


def get(cfg, dotted):
    """cfg value by dotted key ('mqtt.port')."""
    node = cfg
    for part in dotted.split("."):
        node = node[part]
    return node


def set_key(cfg, dotted, value):
    """A validated copy of cfg with one dotted key changed (ConfigError if invalid)."""
    data = json.loads(canonical(cfg))
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        if type(node.get(part)) is not dict:
            raise ConfigError(["%s: unknown key" % dotted])
        node = node[part]
    if parts[-1] not in node:
        raise ConfigError(["%s: unknown key" % dotted])
    node[parts[-1]] = value
    return validate(data)
