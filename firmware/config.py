"""Station configuration: defaults + the station file, validated; secrets kept apart.

`load(fs_root)` never raises for a bad file: it logs a specific CONFIG.* line and falls back to
the last good configuration (saved beside it after every successful load), else to the defaults.
The same `validate()` runs on the host (stationctl configure runs it inside MicroPython) so a
technician sees every problem before anything is written to a station.
"""

import binascii
import hashlib
import json

from micropython import const

import diag

# Schema: key -> (kind, default, constraint).
#   kind "int"/"float": constraint (min, max); "str": (min_len, max_len, allowed chars or None);
#   "enum": tuple of allowed values; "bool": None; "section": nested schema dict.
_ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
_HOST_CHARS = _ID_CHARS + "."
_TOPIC_CHARS = _ID_CHARS + "/"
_PATH_CHARS = _HOST_CHARS + "/"
_COUNTRY_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_MAX_WIFI_NETWORKS = const(4)
# The largest frame the station sends alone: a status frame naming 16 sensors (a sample with
# every channel is 22 bytes). An uplink that cannot carry it can never deliver anything.
MIN_FRAME_BYTES = const(32)
# Keys a downlink may not change: a wrong value there cuts the command channel itself and only a
# site visit brings the station back. They are set on site (`stationctl configure`).
LINK_KEYS = (
    "uplink",
    "station_id",
    "mqtt.host",
    "mqtt.port",
    "mqtt.tls",
    "mqtt.ca_file",
    "mqtt.prefix",
    "mqtt.user",
    "lorawan.region",
    "wifi.country",
)


def _schema():
    """The config schema, built on use: validation runs at boot and on a config command only, so
    the dicts and tuples are garbage the rest of the time instead of ~8 KB held for the station's
    life (docs/memory.md). `config.SCHEMA` still reads as before (module __getattr__ below)."""
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
                # the CA certificate (DER) the broker's certificate must chain to, on the
                # station's flash (`stationctl configure --ca-file` installs it); needed with tls
                "ca_file": ("str", "", (0, 48, _PATH_CHARS)),
                "keepalive_s": ("int", 120, (0, 3600)),
                "timeout_s": ("int", 5, (1, 60)),
                "max_payload": ("int", 242, (MIN_FRAME_BYTES, 4096)),
                "user": ("str", "", (0, 64, None)),
                # a collector's receipts release journal records (docs/collector.md), not PUBACK
                "receipts": ("bool", False, None),
                "receipt_timeout_s": ("int", 900, (10, 86400)),
            },
        ),
        "wifi": (
            "section",
            None,
            {
                # regulatory domain (ISO 3166 alpha-2, upper case); "" keeps the port's default
                "country": ("str", "", (0, 2, _COUNTRY_CHARS)),
                # association plus DHCP, per network tried
                "connect_s": ("int", 20, (5, 120)),
                # intervals at least this long power the radio down between cycles (battery);
                # shorter ones keep it up; 0 keeps it up always
                "power_down_s": ("int", 300, (0, 86400)),
            },
        ),
        "ntp": (
            "section",
            None,
            {
                # SNTP after Wi-Fi association (firmware/sntp.py); "" = no SNTP
                "host": ("str", "pool.ntp.org", (0, 64, _HOST_CHARS)),
                "port": ("int", 123, (1, 65535)),
                "timeout_s": ("int", 2, (1, 10)),
                "resync_h": ("int", 24, (1, 168)),
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
                "join_retries": ("int", 8, (1, 100)),
                # network time (DeviceTimeReq) at join and then every this many hours: each
                # request costs a downlink (TTN allows about 10 a day); 0 = never
                "time_sync_h": ("int", 8, (0, 720)),
                # unconfirmed uplinks keep their records until an application-side receipt
                # (in the downlink of a link check: a confirmed uplink now and then) says they
                # arrived; the checks are planned within the downlink budget (docs/uplinks.md)
                "receipts": ("bool", True, None),
                "downlinks_per_day": ("int", 10, (0, 100)),
            },
        ),
        "scd4x": (
            "section",
            None,
            {
                # automatic self-calibration: "keep" leaves the chip (and the board config's
                # `asc`) as it is; "off" where the air never returns to ~400 ppm
                "asc": ("enum", "keep", ("keep", "on", "off")),
            },
        ),
        "journal": (
            "section",
            None,
            {
                # the journal needs two segments of 4 KiB (journal.py): one filling, one to drop
                "max_bytes": ("int", 65536, (8192, 4 * 1024 * 1024)),
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
        "mqtt_password": ("secret", "", (0, 128)),
        # Wi-Fi: the first network, then `wifi_networks` ([{"ssid": .., "password": ..}]) in order
        "wifi_ssid": ("str", "", (0, 32, None)),
        "wifi_password": ("secret", "", (0, 64)),
        "wifi_networks": ("networks", [], _MAX_WIFI_NETWORKS),
        "lorawan_deveui": ("hex", "", 16),
        "lorawan_joineui": ("hex", "", 16),
        "lorawan_appkey": ("hex", "", 32),
    }


def __getattr__(name):
    # config.SCHEMA and config.SECRETS_SCHEMA, as the module had them: a fresh copy per access
    if name == "SCHEMA":
        return _schema()
    if name == "SECRETS_SCHEMA":
        return _secrets_schema()
    raise AttributeError(name)


CONFIG_FILE = "config.json"
LAST_GOOD_FILE = "config.last_good.json"
SECRETS_FILE = "secrets.json"


class ConfigError(ValueError):
    """A config file is unusable; `problems` lists every reason (key: reason)."""

    def __init__(self, problems):
        self.problems = problems
        super().__init__("; ".join(problems))


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
    elif kind == "secret":
        # never echo a secret's value, whatever its type or length
        if type(value) is not str:
            problems.append("%s: expected text, got %s" % (path, _kind_name(value)))
        elif len(value) < c[0] or len(value) > c[1]:
            problems.append("%s: length is outside %d..%d" % (path, c[0], c[1]))
        else:
            return value
    elif kind == "networks":
        return _check_networks(value, c, path, problems)
    elif kind == "hex":
        if type(value) is not str:
            problems.append("%s: expected hex text, got %s" % (path, _kind_name(value)))
        elif value and (len(value) != c or any(ch not in "0123456789abcdefABCDEF" for ch in value)):
            # never echo a secret's value
            problems.append("%s: expected %d hex digits" % (path, c))
        else:
            return value.upper()
    return None


def _check_networks(value, most, path, problems):
    """A list of {"ssid", "password"} (Wi-Fi networks tried in order); passwords never echoed."""
    if type(value) is not list:
        problems.append("%s: expected a list, got %s" % (path, _kind_name(value)))
        return None
    if len(value) > most:
        problems.append("%s: %d networks, at most %d" % (path, len(value), most))
        return None
    out = []
    n = len(problems)
    for i, item in enumerate(value):
        p = "%s[%d]" % (path, i)
        if type(item) is not dict:
            problems.append("%s: expected an object with ssid and password" % p)
            continue
        for key in item:
            if key not in ("ssid", "password"):
                problems.append("%s.%s: unknown key" % (p, key))
        ssid = _check("str", item.get("ssid"), (1, 32, None), p + ".ssid", problems)
        password = _check("secret", item.get("password", ""), (0, 64), p + ".password", problems)
        out.append({"ssid": ssid, "password": password})
    return out if len(problems) == n else None


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


def _kind_name(v):
    """What a value is, without its value (for secrets)."""
    if v is None:
        return "null"
    if v is True or v is False:
        return "true or false"
    if type(v) in (int, float):
        return "a number"
    if type(v) is dict:
        return "an object"
    if type(v) is list:
        return "a list"
    return "a %s" % type(v).__name__


def _describe(chars):
    if chars == _ID_CHARS:
        return "letters, digits, '-' and '_'"
    if chars == _HOST_CHARS:
        return "letters, digits, '-', '_' and '.'"
    if chars == _TOPIC_CHARS:
        return "letters, digits, '-', '_' and '/'"
    if chars == _PATH_CHARS:
        return "letters, digits, '-', '_', '.' and '/'"
    if chars == _COUNTRY_CHARS:
        return "upper-case letters"
    return repr(chars)


def validate(data, schema=None, path=""):
    """Defaults merged with `data`, checked: every key against the schema, then (for the station
    config) the rules between keys that make it runnable. Raises ConfigError listing every
    problem. The firmware at boot, `stationctl configure` and the downlink path all come here."""
    runnable = schema is None
    if schema is None:
        schema = _schema()
    problems = []
    out = _validate(data, schema, path, problems)
    if runnable and not problems:
        _check_runnable(out, problems)
    if problems:
        raise ConfigError(problems)
    return out


def _check_runnable(cfg, problems):
    """Rules between keys: a config that passes them can run and deliver."""
    if cfg["mqtt"]["tls"] and not cfg["mqtt"]["ca_file"]:
        problems.append(
            "mqtt.tls: needs mqtt.ca_file (the broker's CA certificate on the station): without it"
            " any server could pose as the broker; install one with stationctl configure --ca-file"
        )
    if len(cfg["wifi"]["country"]) == 1:
        problems.append('wifi.country: expected two letters (e.g. "DE") or "" for the default')
    lw = cfg["lorawan"]
    if not lw["adr"]:
        import airtime

        n = airtime.max_payload(lw["region"], min(lw["dr"], airtime.max_dr(lw["region"])))
        if n < MIN_FRAME_BYTES:
            problems.append(
                "lorawan.dr: %d carries %d bytes in %s, less than one frame (%d); use a higher dr or adr"
                % (lw["dr"], n, lw["region"], MIN_FRAME_BYTES)
            )
    if lw["receipts"] and not lw["confirmed"]:
        # a link check costs two downlinks (ACK, receipt); time answers, a join and two spare
        # come first (the same sum as uplink_lorawan.check_interval_s)
        need = 5 + (
            0 if not lw["time_sync_h"] else (24 + lw["time_sync_h"] - 1) // lw["time_sync_h"]
        )
        if lw["downlinks_per_day"] < need:
            problems.append(
                "lorawan.downlinks_per_day: %d leaves no link check (needs %d with time_sync_h %d);"
                " raise it, lower the time syncs, or set lorawan.receipts false (nothing re-sent)"
                % (lw["downlinks_per_day"], need, lw["time_sync_h"])
            )


def downlink_problems(old, new):
    """Why a downlink may not turn config `old` into `new` (empty list: it may)."""
    problems = []
    for key in LINK_KEYS:
        if get(old, key) != get(new, key):
            problems.append(
                "%s: set on site only (a wrong value would cut the command channel)" % key
            )
    return problems


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
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(
            ["not valid JSON (%s)" % (exc.args[0] if exc.args else "syntax error")]
        ) from None
    return validate(data, schema)


# A config or secrets file is a few hundred bytes; anything much larger is damage (erased
# flash, a wrong file) and is rejected before it is read, so it can never exhaust the heap.
_MAX_FILE_BYTES = const(8192)
# JSON nesting the schema needs is 2; deep nesting costs the parser heap per level
_MAX_DEPTH = const(8)


class FileProblem(Exception):
    """A config/secrets file cannot be read as text: `reason` says why (never its content)."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def _read(path):
    """The file's text, None when it does not exist; FileProblem when it is not usable text."""
    import os

    try:
        size = os.stat(path)[6]
    except OSError:
        return None
    if size > _MAX_FILE_BYTES:
        raise FileProblem("file is %d bytes, more than %d" % (size, _MAX_FILE_BYTES))
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise FileProblem("not readable (%s)" % exc) from None
    except MemoryError:
        raise FileProblem("no memory to read it") from None
    try:
        text = raw.decode()
    except UnicodeError:
        raise FileProblem("not UTF-8 text (damaged or erased flash?)") from None
    depth = 0
    for ch in text:
        # counted over brackets inside strings too: a stricter bound, never a looser one
        if ch == "[" or ch == "{":
            depth += 1
            if depth > _MAX_DEPTH:
                raise FileProblem("nested deeper than %d levels" % _MAX_DEPTH)
        elif ch == "]" or ch == "}":
            depth -= 1
    return text


def _read_or_none(path):
    try:
        return _read(path)
    except FileProblem:
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


def _parse_file(path, schema=None):
    """(cfg, None) from a file, (None, None) when it is missing, (None, problems) when unusable."""
    try:
        text = _read(path)
    except FileProblem as exc:
        return None, [exc.reason]
    if text is None:
        return None, None
    try:
        return parse(text, schema), None
    except ConfigError as exc:
        return None, exc.problems
    except MemoryError:
        return None, ["no memory to parse it"]
    except RuntimeError:  # the parser's own recursion limit
        return None, ["nested too deeply"]


def load(fs_root="", log=None):
    """The effective config: (cfg, source) with source 'file', 'last_good' or 'defaults'.

    Never raises for bad content (damaged bytes, huge or deeply nested files included).
    `log(level, code, **fields)` reports problems.
    """
    path = _join(fs_root, CONFIG_FILE)
    cfg, problems = _parse_file(path)
    if cfg is None and problems is None:
        if log:
            log(diag.INFO, "CONFIG.DEFAULTS", reason="no config.json")
        return defaults(), "defaults"
    if cfg is not None:
        good_path = _join(fs_root, LAST_GOOD_FILE)
        text = _read_or_none(path)
        if text is not None and _read_or_none(good_path) != text:
            try:
                write_atomic(good_path, text)
            except OSError:
                pass
        return cfg, "file"
    if log:
        for problem in problems:
            log(diag.ERROR, "CONFIG.INVALID", problem=problem)
    good, _ = _parse_file(_join(fs_root, LAST_GOOD_FILE))
    if good is not None:
        if log:
            log(diag.WARN, "CONFIG.FALLBACK", using="last_good", digest=digest(good))
        return good, "last_good"
    if log:
        log(diag.WARN, "CONFIG.FALLBACK", using="defaults")
    return defaults(), "defaults"


def load_secrets(fs_root="", log=None):
    """Secrets dict (validated for form). Bad or missing file -> empty secrets, logged by key only."""
    secrets, problems = _parse_file(_join(fs_root, SECRETS_FILE), _secrets_schema())
    if secrets is not None:
        return secrets
    if problems and log:
        for problem in problems:
            log(diag.ERROR, "SECRETS.INVALID", problem=problem)
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
