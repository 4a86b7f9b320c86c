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


# --- hostile bytes (issue 10, item 1): never an exception out of load(), last good first ---


def _write_bytes(name, data):
    with open(ROOT + "/" + name, "wb") as f:
        f.write(data)


def _load_logged():
    lines = []
    cfg, source = config.load(ROOT, lambda lvl, code, **kw: lines.append((code, kw)))
    return cfg, source, lines


def _expect_fallback(bad, reason):
    _write("config.json", '{"interval_s": 120, "station_id": "mast-7"}')
    config.load(ROOT)  # a good boot saves config.last_good.json
    _write_bytes("config.json", bad)
    cfg, source, lines = _load_logged()
    eq((source, cfg["station_id"], cfg["interval_s"]), ("last_good", "mast-7", 120), "last good")
    problems = [kw.get("problem", "") for code, kw in lines if code == "CONFIG.INVALID"]
    if not any(reason in p for p in problems):
        raise AssertionError("no CONFIG.INVALID naming %r: %r" % (reason, lines))
    # with the last good file damaged too: the defaults, still no exception
    _write_bytes("config.last_good.json", bad)
    cfg, source, lines = _load_logged()
    eq((source, cfg), ("defaults", config.defaults()), "defaults when both are damaged")


def test_one_non_utf8_byte_falls_back_to_last_good():
    _expect_fallback(b'{"interval_s": 60, "station_id": "m\xff"}', "UTF-8")


def test_erased_flash_falls_back_to_last_good():
    _expect_fallback(b"\xff" * 4096, "UTF-8")


def test_megabyte_file_is_refused_unread():
    _expect_fallback(b" " * (1024 * 1024), "more than")


def test_deeply_nested_file_is_refused():
    _expect_fallback(b"[" * 3000 + b"]" * 3000, "nested")


def test_damaged_secrets_give_empty_secrets_and_a_reason():
    for bad in (b'{"mqtt_password": "pa\xffss"}', b"\xff" * 512, b"{" * 3000):
        _write_bytes("secrets.json", bad)
        lines = []
        s = config.load_secrets(ROOT, lambda lvl, code, _out=lines, **kw: _out.append((code, kw)))
        eq(s, config.defaults(config.SECRETS_SCHEMA), "empty secrets")
        eq([c for c, _ in lines], ["SECRETS.INVALID"], "reported once")


# --- issue 10, item 11: no secret value in a problem text, whatever its type ---


def test_non_string_secret_is_never_echoed():
    for value in ("73914682", "[73914682]", '{"x": 73914682}', "7391468.2", "true"):
        _write("secrets.json", '{"mqtt_password": %s, "lorawan_appkey": %s}' % (value, value))
        lines = []
        config.load_secrets(ROOT, lambda lvl, code, _out=lines, **kw: _out.append(repr(kw)))
        if not lines or any("7391468" in line or "True" in line for line in lines):
            raise AssertionError(lines)
        exc = raises(
            config.ConfigError, config.parse, '{"mqtt_password": %s}' % value, config.SECRETS_SCHEMA
        )
        if "7391468" in str(exc):
            raise AssertionError(str(exc))


# --- issue 10, item 5: one definition of a runnable config ---


def test_a_journal_smaller_than_two_segments_is_refused():
    import journal

    for n in (1024, 4096, 8191):
        exc = raises(config.ConfigError, config.validate, {"journal": {"max_bytes": n}})
        if "journal.max_bytes" not in str(exc):
            raise AssertionError(str(exc))
    cfg = config.validate({"journal": {"max_bytes": 8192}})
    # the smallest accepted value is one the journal runs with
    journal.Journal(ROOT + "/jnl", max_bytes=cfg["journal"]["max_bytes"])


def test_a_max_payload_below_one_frame_is_refused():
    import codec
    import sample as S

    raises(config.ConfigError, config.validate, {"mqtt": {"max_payload": 11}})
    raises(
        config.ConfigError, config.validate, {"mqtt": {"max_payload": config.MIN_FRAME_BYTES - 1}}
    )
    config.validate({"mqtt": {"max_payload": config.MIN_FRAME_BYTES}})
    # the bound holds for the largest frames the codec makes: every channel, 16 sensors' status
    smp = S.Sample()
    smp.clear()
    for ch in range(S.N_CHANNELS):
        smp.set(ch, 1.0)
    smp.seq, smp.time, smp.warmup, smp.implausible = 0x7FFFFFFF, 1700000000, 0x1FF, 0x1FF
    buf = bytearray(256)
    if codec.encode_sample(smp, buf) > config.MIN_FRAME_BYTES:
        raise AssertionError("a sample frame is larger than MIN_FRAME_BYTES")
    n = codec.encode_status(buf, fw="1.2.3", config="0badcafe", sensors=["bme280"] * 16)
    if n > config.MIN_FRAME_BYTES:
        raise AssertionError("a status frame of %d bytes is larger than MIN_FRAME_BYTES" % n)


def test_a_fixed_data_rate_that_carries_no_frame_is_refused():
    exc = raises(
        config.ConfigError, config.validate, {"lorawan": {"region": "US915", "adr": False, "dr": 0}}
    )
    if "lorawan.dr" not in str(exc):
        raise AssertionError(str(exc))
    config.validate({"lorawan": {"region": "US915", "adr": False, "dr": 1}})
    config.validate({"lorawan": {"region": "US915", "adr": True, "dr": 0}})  # the network adapts it


def test_link_keys_are_not_for_downlinks():
    old = config.validate({"uplink": "mqtt"})
    for key, value in (("uplink", "console"), ("mqtt.host", "elsewhere"), ("mqtt.port", 1884)):
        new = config.set_key(old, key, value)
        problems = config.downlink_problems(old, new)
        if len(problems) != 1 or not problems[0].startswith(key + ":"):
            raise AssertionError(problems)
    eq(
        config.downlink_problems(old, config.set_key(old, "interval_s", 300)),
        [],
        "others may change",
    )


# --- issue 10, hostile-world kit: the config-bytes fuzzer ---


def _damaged(rnd, good):
    """good with 1..4 random byte-level faults: flipped bits, erased (0xFF) or zeroed runs,
    truncation, inserted bytes."""
    data = bytearray(good)
    for _ in range(1 + rnd.getrandbits(2)):
        if not data:
            data = bytearray(b"\xff")
        at = rnd.getrandbits(16) % len(data)
        kind = rnd.getrandbits(3)
        if kind < 3:
            data[at] ^= 1 << rnd.getrandbits(3)
        elif kind == 3:
            data[at : at + 1 + rnd.getrandbits(4)] = b"\xff" * (1 + rnd.getrandbits(4))
        elif kind == 4:
            data[at:] = b""
        elif kind == 5:
            data[at:at] = bytes([rnd.getrandbits(8)])
        elif kind == 6:
            data[at] = 0
        else:
            data[at] = b'{}[]",:0\\'[rnd.getrandbits(8) % 9]
    return bytes(data)


def test_fuzzed_config_and_secrets_bytes_always_give_a_valid_config_or_a_reason():
    # fixed seed, bounded count (seconds): every damaged file loads to a config the station can
    # run (the file itself when it is still valid, else last good or defaults with
    # CONFIG.INVALID), and damaged secrets to empty secrets with SECRETS.INVALID; never raises
    import random
    import sys

    random.seed(1010)
    good = (
        b'{"interval_s": 300, "station_id": "mast-7", "uplink": "mqtt", '
        b'"mqtt": {"host": "broker.example", "port": 1883, "max_payload": 242}, '
        b'"journal": {"max_bytes": 65536}}'
    )
    secrets = (
        b'{"mqtt_password": "s3cret-pass", "lorawan_app_key": "00112233445566778899AABBCCDDEEFF"}'
    )
    _write_bytes("config.json", good)
    cfg, source, lines = _load_logged()
    eq((source, lines), ("file", []), "the seed config is valid")
    n = 60 if sys.platform == "webassembly" else 400
    sources = {}
    for i in range(n):
        bad = _damaged(random, good)
        _write_bytes("config.json", bad)
        if i % 7 == 0:  # the last good copy damaged too, now and then
            _write_bytes("config.last_good.json", _damaged(random, good))
        try:
            cfg, source, lines = _load_logged()
        except Exception as exc:  # noqa: BLE001 - the point: nothing may escape
            raise AssertionError("config.load raised %r on %r" % (exc, bad)) from None
        sources[source] = sources.get(source, 0) + 1
        try:
            eq(config.validate(cfg), cfg, "the config validates as it is")
        except config.ConfigError as exc:
            raise AssertionError("%s config not runnable: %s (%r)" % (source, exc, bad)) from None
        codes = [c for c, _ in lines]
        if source != "file" and "CONFIG.INVALID" not in codes and "CONFIG.DEFAULTS" not in codes:
            raise AssertionError("fell back without a reason: %r %r" % (lines, bad))
        _write_bytes("config.json", good)
        config.load(ROOT)  # restores config.last_good.json
        sbad = _damaged(random, secrets)
        _write_bytes("secrets.json", sbad)
        out = []
        try:
            s = config.load_secrets(ROOT, lambda lvl, code, _o=out, **kw: _o.append((code, kw)))
        except Exception as exc:  # noqa: BLE001
            raise AssertionError("load_secrets raised %r on %r" % (exc, sbad)) from None
        if out:
            eq(s, config.defaults(config.SECRETS_SCHEMA), "damaged secrets: empty")
            eq(set(c for c, _ in out), {"SECRETS.INVALID"}, "reported as such")
        if b"s3cret-pass" in repr(out).encode():
            raise AssertionError("a secret in a problem text: %r" % out)
    if sources.get("last_good", 0) < n // 10 or sources.get("file", 0) == n:
        raise AssertionError("the damage did not exercise the fallbacks: %r" % sources)
