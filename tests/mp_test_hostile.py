# The station in a hostile world (issue 10): damaged config bytes, commanded resets and repeated
# commands, full flash. The real firmware on the simulated board, faults injected at its edges.
from sim import vtime

vtime.install()  # before any firmware module: `time` is the virtual clock

import codec  # noqa: E402
import config  # noqa: E402
import station  # noqa: E402
from mptest import eq  # noqa: E402
from stationkit import Rig, run_device  # noqa: E402

REBOOT = 0x25
SET_INTERVAL = 0x21


def _ack(cmd_id, status=0):
    buf = bytearray(3)
    codec.encode_ack(buf, cmd_id, status)
    return bytes(buf)


def _at(r, plan):
    """A vtime hook that hands each (time_s, payload) of plan to the running station once."""
    done = []

    def hook(now_us):
        for i, (t_s, payload) in enumerate(plan):
            if i not in done and now_us >= t_s * 1000000:
                done.append(i)
                r.acks.append(bytes(r.st.handle_downlink(payload)))

    r.acks = []
    vtime.add_hook(hook)
    return hook


# --- item 1: damaged config bytes never stop the station ---


def test_erased_config_runs_on_the_last_good_one():
    r = Rig(config_text='{"interval_s": 300, "station_id": "mast-7"}')
    run_device(r, 700)
    with open(r.board.fs_root + "/config.json", "wb") as f:
        f.write(b"\xff" * 4096)  # erased flash
    del r.lines[:]
    run_device(r, 3600)
    boot = r.find("BOOT")
    eq(len(boot), 1, "one boot, no crash loop")
    if "config_source=last_good" not in boot[0] or "station=mast-7" not in boot[0]:
        raise AssertionError(boot)
    if not any("UTF-8" in ln for ln in r.find("CONFIG.INVALID")):
        raise AssertionError(r.lines[:5])
    if len(r.find("SAMPLE")) < 11:
        raise AssertionError("the station stopped sampling")


def test_a_config_read_that_fails_unforeseen_still_boots_on_defaults():
    r = Rig()
    orig = config.load

    def broken(*args):
        raise MemoryError("memory allocation failed")

    config.load = broken
    try:
        run_device(r, 1900)
    finally:
        config.load = orig
    eq(len(r.find("BOOT")), 1, "no crash, no reset")
    if "config_source=defaults" not in r.find("BOOT")[0] or not r.find("CONFIG.INVALID"):
        raise AssertionError(r.lines[:6])
    if len(r.find("SAMPLE")) < 3:
        raise AssertionError("no cycles")


def test_crash_in_boot_counts_towards_safe_mode():
    # station.main: a crash after the config is read resets the board; three of them within
    # the window put the station in safe mode (it does not crash-loop for ever)
    from sim.board import SimReset, SimStop

    r = Rig(config_text='{"safe_mode": {"resets": 3, "window_s": 3600, "hold_s": 7200}}')
    orig = station.Station._make_uplink

    def broken(self, cfg):
        raise RuntimeError("bug while building the uplink")

    station.Station._make_uplink = broken
    r.board.end_s = vtime.now_s() + 1800
    try:
        while True:
            try:
                station.main(r.cfg)
                r.board.idle()
            except SimReset as reset:
                r.board.on_reset(reset.cause)
            except SimStop:
                break
    finally:
        station.Station._make_uplink = orig
    eq(len(r.find("CRASH")), 3, "three crashes, then no more")
    eq(len(r.find("SAFE.ENTER")), 1, "safe mode")


# --- item 2: commanded resets are not crashes; commands run once ---


def test_commanded_reboots_are_recorded_as_commands_not_crashes():
    r = Rig()
    plan = [(700 + 1200 * k, bytes([REBOOT, 40 + k])) for k in range(4)]
    hook = _at(r, plan)
    try:
        run_device(r, 6000)
    finally:
        vtime.remove_hook(hook)
    boots = r.find("BOOT")
    eq(len(boots), 5, "four commanded reboots")
    for b in boots[1:]:
        if "last_reason=command" not in b or "unexpected_resets=0" not in b:
            raise AssertionError(b)
    eq(r.find("SAFE.ENTER"), [], "never safe mode")


def test_a_command_delivered_again_runs_once():
    r = Rig()
    cmd = bytes([REBOOT, 7])
    # three deliveries within the hour run it once; the same command an hour later runs again
    hook = _at(r, [(700, cmd), (1400, cmd), (2000, cmd), (5400, cmd)])
    try:
        run_device(r, 6600)
    finally:
        vtime.remove_hook(hook)
    eq(len(r.find("BOOT")), 3, "one reboot for the three deliveries, one for the later one")
    eq(len(r.find("COMMAND.DUPLICATE")), 2, "repeats answered")
    for ack in r.acks:
        eq(ack, _ack(7), "every delivery acked ok")


def test_setting_the_current_value_changes_nothing():
    r = Rig(config_text='{"interval_s": 600}')
    cfg_path = r.board.fs_root + "/config.json"
    with open(cfg_path) as f:
        before = f.read()
    hook = _at(r, [(700, bytes([SET_INTERVAL, 3, 0x00, 0x02, 0x58]))])  # 600 s
    try:
        run_device(r, 3000)
    finally:
        vtime.remove_hook(hook)
    eq(r.acks, [_ack(3)], "acked ok")
    eq(len(r.find("BOOT")), 1, "no restart")
    eq(len(r.find("CONFIG.UNCHANGED")), 1, "reported")
    with open(cfg_path) as f:
        eq(f.read(), before, "config file untouched")


# --- item 5: a downlink can never strand a station ---


def test_downlinks_that_would_strand_the_station_are_refused():
    import commands

    r = Rig(config_text='{"interval_s": 600, "uplink": "file"}').boot()
    cfg_path = r.board.fs_root + "/config.json"
    with open(cfg_path) as f:
        before = f.read()

    def set_config(cmd_id, key, value):
        return bytes([0x27, cmd_id, len(key)]) + key + value

    for cmd_id, key, value, status in (
        (1, b"uplink", b'"console"', commands.UNSUPPORTED),  # the command channel itself
        (2, b"mqtt.host", b'"nowhere"', commands.UNSUPPORTED),
        (3, b"journal.max_bytes", b"4096", commands.OUT_OF_RANGE),  # boots would crash
        (4, b"mqtt.max_payload", b"11", commands.OUT_OF_RANGE),  # nothing delivered again
    ):
        eq(bytes(r.st.handle_downlink(set_config(cmd_id, key, value))), _ack(cmd_id, status), key)
        eq(r.st.reboot_pending, False, "no restart")
    with open(cfg_path) as f:
        eq(f.read(), before, "config file untouched")


# --- hostile-world kit: the command fuzzer on the station's own downlink path ---


def _leaf_keys(schema, prefix=""):
    out = []
    for key in sorted(schema):
        spec = schema[key]
        if type(spec) is dict:
            out += _leaf_keys(spec, prefix + key + ".")
        else:
            out.append(prefix + key)
    return out


def test_fuzzed_set_config_downlinks_never_leave_a_station_that_cannot_boot_or_be_reached():
    # every config key (the link keys and the cross-field rules included) set by downlink to
    # random values, fixed seed, bounded: an ack every time, nothing raises, the link keys never
    # change, and config.json always loads back as the file, a config that validates; then the
    # station still samples
    import random

    import commands
    import journal

    random.seed(1013)
    r = Rig(config_text='{"interval_s": 600, "uplink": "file"}').boot()
    keys = _leaf_keys(config.SCHEMA)
    values = (b"0", b"1", b"-1", b"11", b"4096", b"8192", b"65536", b"true", b"false", b"null",
              b'"console"', b'"mqtt"', b'"lorawan"', b'"US915"', b'"E"', b'""', b'"x"' * 20,
              b"[]", b"{}", b"1e9", b'"\\u0000"', b"\xff", b"2.5")  # fmt: skip
    link_before = [config.get(r.st.cfg, k) for k in config.LINK_KEYS]
    counts = {}
    for i in range(300):
        key = keys[random.getrandbits(8) % len(keys)].encode()
        value = values[random.getrandbits(8) % len(values)]
        cmd_id = i % 256
        ack = bytes(r.st.handle_downlink(bytes([0x27, cmd_id, len(key)]) + key + value))
        if len(ack) != 3 or ack[1] != cmd_id:
            raise AssertionError("bad ack %r for %r=%r" % (ack, key, value))
        counts[ack[2]] = counts.get(ack[2], 0) + 1
        r.st.reboot_pending = False
        if ack[2] == commands.OK:
            # what the next boot builds from it must accept it (independent of config.validate)
            journal.Journal(r.board.fs_root + "/fz", max_bytes=r.st.cfg["journal"]["max_bytes"])
    eq([config.get(r.st.cfg, k) for k in config.LINK_KEYS], link_before, "link keys unchanged")
    cfg, source = config.load(r.board.fs_root)
    eq(source, "file", "config.json loads as it is")
    eq(config.validate(cfg), cfg, "and validates, cross-field rules included")
    if not counts.get(commands.OK) or len(counts) < 3:
        raise AssertionError("the fuzz did not reach both accepted and refused: %r" % counts)
    # the station restarts on what the downlinks left (a reset runs these files) and samples
    del r.lines[:]
    r.st = station.Station(r.hal, r.cfg)
    r.boot().run_cycles(2)
    boot = r.find("BOOT")
    if len(boot) != 1 or "config_source=file" not in boot[0]:
        raise AssertionError(r.lines[:8])
    if len(r.find("SAMPLE")) < 2 or r.find("CRASH"):
        raise AssertionError("the station does not run on its own config: %r" % r.lines[:8])
