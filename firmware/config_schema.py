"""Station config rules: the schema and its validation (firmware/config.py is the interface).

Loaded by config.py when a config is validated (at boot, by a config command, by the host's
`stationctl configure`) and dropped from sys.modules afterwards, so the rules' functions,
tuples and strings take heap only while they run (docs/memory.md).
"""

import json

from config import ConfigError

# Schema: key -> (kind, default, constraint).
#   kind "int"/"float": constraint (min, max); "str": (min_len, max_len, allowed chars or None);
#   "enum": tuple of allowed values; "bool": None; "section": nested schema dict.
_ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
_HOST_CHARS = _ID_CHARS + "."
_TOPIC_CHARS = _ID_CHARS + "/"


def _schema():
    """The config schema, built on use (config.SCHEMA reads it through config's __getattr__)."""
    return {
        "station_id": ("str", "station-0000", (1, 32, _ID_CHARS)),
        "interval_s": ("int", 600, (10, 86400)),
        "warmup_s": ("int", 0, (0, 600)),
        "uplink": ("enum", "console", ("console", "file", "mqtt", "lorawan")),
        "batch": ("int", 1, (1, 32)),
        "log_level": ("enum", "I", ("D", "I", "W", "E")),
        "format": ("enum", "compact", ("compact", "lpp")),
        "mqtt": (
            "section",
            None,
            {
                "host": ("str", "127.0.0.1", (1, 64, _HOST_CHARS)),
                "port": ("int", 1883, (1, 65535)),
                "prefix": ("str", "climate", (1, 48, _TOPIC_CHARS)),
                "tls": ("bool", False, None),
                "keepalive_s": ("int", 120, (0, 3600)),
                "timeout_s": ("int", 5, (1, 60)),
                "max_payload": ("int", 242, (11, 4096)),
                "user": ("str", "", (0, 64, None)),
            },
        ),
        "lorawan": (
            "section",
            None,
            {
                "region": ("enum", "EU868", ("EU868", "US915")),
                "adr": ("bool", True, None),
                "dr": ("int", 0, (0, 5)),
                "confirmed": ("bool", False, None),
                "port": ("int", 1, (1, 223)),
                "fair_use_s": ("int", 30, (1, 3600)),
            "pace": ("bool", True, None),
                "join_retries": ("int", 8, (1, 100)),
            },
        ),
        "journal": (
            "section",
            None,
            {
                "max_bytes": ("int", 65536, (1024, 4 * 1024 * 1024)),
            },
        ),
        "safe_mode": (
            "section",
            None,
            {
                "resets": ("int", 3, (2, 20)),
                "window_s": ("int", 3600, (60, 7 * 86400)),
                "hold_s": ("int", 21600, (60, 7 * 86400)),
            },
        ),
    }


# Secrets live in their own file and are never logged. Values are checked for form only.
def _secrets_schema():
    return {
        "mqtt_password": ("str", "", (0, 128, None)),
        "lorawan_deveui": ("hex", "", 16),
        "lorawan_joineui": ("hex", "", 16),
        "lorawan_appkey": ("hex", "", 32),
    }


def defaults(schema=None):
    if schema is None:
        schema = _schema()
    out = {}
    for key in schema:
        kind, default, sub = schema[key]
        out[key] = defaults(sub) if kind == "section" else default
    return out


def _check(kind, value, c, path, problems):
    if kind == "int":
        if type(value) is not int or isinstance(value, bool):
            problems.append("%s: expected an integer, got %s" % (path, _show(value)))
        elif value < c[0] or value > c[1]:
            problems.append("%s: %d is outside %d..%d" % (path, value, c[0], c[1]))
        else:
            return value
    elif kind == "float":
        if type(value) not in (int, float) or isinstance(value, bool):
            problems.append("%s: expected a number, got %s" % (path, _show(value)))
        elif value < c[0] or value > c[1]:
            problems.append("%s: %s is outside %s..%s" % (path, value, c[0], c[1]))
        else:
            return float(value)
    elif kind == "bool":
        if value is True or value is False:
            return value
        problems.append("%s: expected true or false, got %s" % (path, _show(value)))
    elif kind == "enum":
        if value in c and type(value) is type(c[0]):
            return value
        problems.append("%s: %s is not one of %s" % (path, _show(value), ", ".join(c)))
    elif kind == "str":
        if type(value) is not str:
            problems.append("%s: expected text, got %s" % (path, _show(value)))
        elif len(value) < c[0] or len(value) > c[1]:
            problems.append("%s: length %d is outside %d..%d" % (path, len(value), c[0], c[1]))
        elif c[2] is not None and any(ch not in c[2] for ch in value):
            problems.append("%s: contains characters other than %s" % (path, _describe(c[2])))
        else:
            return value
    elif kind == "hex":
        if type(value) is not str:
            problems.append("%s: expected hex text" % path)
        elif value and (len(value) != c or any(ch not in "0123456789abcdefABCDEF" for ch in value)):
            # never echo a secret's value
            problems.append("%s: expected %d hex digits" % (path, c))
        else:
            return value.upper()
    return None


def _show(v):
    if type(v) is str:
        return '"%s"' % v if len(v) <= 40 else '"%s..."' % v[:37]
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if type(v) in (dict, list):
        return type(v).__name__ == "dict" and "an object" or "a list"
    return str(v)


def _describe(chars):
    if chars == _ID_CHARS:
        return "letters, digits, '-' and '_'"
    if chars == _HOST_CHARS:
        return "letters, digits, '-', '_' and '.'"
    if chars == _TOPIC_CHARS:
        return "letters, digits, '-', '_' and '/'"
    return repr(chars)


def validate(data, schema=None, path=""):
    """Defaults merged with `data`, checked. Raises ConfigError listing every problem."""
    if schema is None:
        schema = _schema()
    problems = []
    out = _validate(data, schema, path, problems)
    if problems:
        raise ConfigError(problems)
    return out


def _validate(data, schema, path, problems):
    if type(data) is not dict:
        problems.append("%s: expected an object" % (path or "config"))
        return defaults(schema)
    out = {}
    for key in data:
        if key not in schema:
            problems.append("%s%s: unknown key" % (path, key))
    for key in schema:
        kind, default, c = schema[key]
        p = path + key
        if kind == "section":
            out[key] = _validate(data.get(key, {}), c, p + ".", problems)
        elif key in data:
            out[key] = _check(kind, data[key], c, p, problems)
        else:
            out[key] = default
    return out


def parse(text, schema=None):
    """Validate config text. Raises ConfigError with every problem found."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(["not valid JSON (%s)" % (exc.args[0] if exc.args else "syntax error")])
    return validate(data, schema)
