# Station config: defaults, validation with every problem listed, fallback to the last good file.
# mp-ports: unix wasm32
import os

import config
from mptest import TMP, eq, raises

ROOT = TMP + "/config_fs"


def setup():
    try:
        os.mkdir(ROOT)
    except OSError:
        pass
    for name in os.listdir(ROOT):
        os.remove(ROOT + "/" + name)


def _write(name, text):
    with open(ROOT + "/" + name, "w") as f:
        f.write(text)


def test_defaults_are_valid():
    d = config.defaults()
    eq(config.validate(d), d, "defaults validate to themselves")
    eq(d["interval_s"], 600, "default interval")


def test_every_problem_is_listed():
    exc = raises(
        config.ConfigError,
        config.validate,
        {"interval_s": 5, "uplink": "carrier-pigeon", "mqtt": {"port": "1883"}, "colour": 1},
    )
    text = "\n".join(exc.problems)
    for needle in (
        "interval_s: 5 is outside 10..86400",
        'uplink: "carrier-pigeon" is not one of',
        "mqtt.port: expected an integer",
        "colour: unknown key",
    ):
        if needle not in text:
            raise AssertionError("missing %r in %s" % (needle, text))
    eq(len(exc.problems), 4, "problem count")


def test_bool_is_not_an_integer():
    raises(config.ConfigError, config.validate, {"interval_s": True})


def test_bad_json_is_reported_not_raised():
    _write("config.json", '{"interval_s": 60,')
    lines = []
    cfg, source = config.load(ROOT, lambda lvl, code, **kw: lines.append((code, kw)))
    eq(source, "defaults", "source")
    eq(cfg, config.defaults(), "falls back to defaults")
    codes = [c for c, _ in lines]
    if "CONFIG.INVALID" not in codes or "CONFIG.FALLBACK" not in codes:
        raise AssertionError(codes)


def test_bad_file_keeps_last_good_config():
    _write("config.json", '{"interval_s": 120, "station_id": "mast-7"}')
    cfg, source = config.load(ROOT)
    eq((cfg["interval_s"], source), (120, "file"), "good file loads")
    _write("config.json", '{"interval_s": "often"}')
    cfg, source = config.load(ROOT)
    eq(
        (cfg["interval_s"], cfg["station_id"], source),
        (120, "mast-7", "last_good"),
        "last good kept",
    )


def test_digest_is_stable_and_sensitive():
    a = config.defaults()
    b = config.validate({"interval_s": 600})
    eq(config.digest(a), config.digest(b), "same effective config, same digest")
    c = config.validate({"interval_s": 300})
    if config.digest(a) == config.digest(c):
        raise AssertionError("digest ignores interval_s")
    eq(len(config.digest(a)), 8, "digest length")


def test_secrets_errors_never_echo_the_value():
    _write("secrets.json", '{"lorawan_appkey": "SECRET-NOT-HEX-0123456789abcdef0"}')
    lines = []
    s = config.load_secrets(ROOT, lambda lvl, code, **kw: lines.append(repr(kw)))
    eq(s["lorawan_appkey"], "", "bad secret not used")
    if not lines or any("SECRET-NOT-HEX" in line for line in lines):
        raise AssertionError(lines)


def test_set_key_validates_and_copies():
    cfg = config.defaults()
    new = config.set_key(cfg, "mqtt.port", 8883)
    eq((new["mqtt"]["port"], cfg["mqtt"]["port"]), (8883, 1883), "copy changed, original not")
    raises(config.ConfigError, config.set_key, cfg, "mqtt.port", 0)
    raises(config.ConfigError, config.set_key, cfg, "mqtt.nope", 1)
