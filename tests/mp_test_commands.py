# Downlink commands inside MicroPython: every command and error code, atomic apply (nothing
# changes on a rejected command), and a fuzz of 12,000 random and mutated payloads.
# mp-heapsize: 256K
# mp-ports: unix wasm32
import json
import os

import codec
import commands as C
import config
from mptest import TMP, eq

ROOT = TMP + "/commands_fs"
CFG_PATH = ROOT + "/" + config.CONFIG_FILE


class Hal:
    fs_root = ROOT

    def reset_cause(self):
        return "soft"


class Journal:
    def __init__(self):
        self.pending = 5
        self.dropped = 300
        self.fail = False

    def clear(self):
        if self.fail:
            raise OSError(5)
        self.pending = 0


class Delivery:
    def __init__(self):
        self.j = Journal()


class Slot:
    def __init__(self, kind, failures=0):
        self.kind = kind
        self.failures = failures

    def laser_hours(self, hal):
        return None  # like sensors.SensorSlot for a sensor whose laser time is not counted


class Station:
    def __init__(self):
        self.hal = Hal()
        self.cfg = config.defaults()
        self.delivery = Delivery()
        self.slots = [Slot("bme280"), Slot("sps30", failures=2)]
        self.uplink = None  # as station.Station before boot(): no Wi-Fi block in the status
        self.reboot_pending = False
        self.status_pending = False


st = None


def _rm(path):
    try:
        os.remove(path)
    except OSError:
        pass


def setup():
    global st
    try:
        os.mkdir(ROOT)
    except OSError:
        pass
    _rm(CFG_PATH)
    _rm(CFG_PATH + ".tmp")
    _rm(ROOT + "/" + C.SEEN_FILE)
    st = Station()
    config.write_atomic(CFG_PATH, config.canonical(st.cfg))


def file_cfg():
    with open(CFG_PATH) as f:
        return json.loads(f.read())


def ack(payload):
    a = C.apply(st, payload)
    eq(len(a), 3, "ack length")
    eq(a[0], (codec.VERSION << 5) | (codec.FRAME_ACK << 3), "ack header")
    return a[1], a[2]


def file_text():
    with open(CFG_PATH) as f:
        return f.read()


def snapshot():
    return (
        config.canonical(st.cfg),
        file_text(),
        st.reboot_pending,
        st.status_pending,
        st.delivery.j.pending,
    )


def test_set_interval_applies_and_persists():
    eq(ack(bytes([0x21, 7, 0x00, 0x03, 0x84])), (7, C.OK), "ack")
    eq(st.cfg["interval_s"], 900, "in effect")
    eq(file_cfg()["interval_s"], 900, "written")
    eq(st.reboot_pending, True, "restart after the ack: schedule and watchdog follow the interval")
    st.reboot_pending = False
    eq(ack(bytes([0x22, 8, 4]))[1], C.OK, "set_batch")
    eq((st.cfg["batch"], st.reboot_pending), (4, False), "batch needs no restart")


def test_each_error_code_changes_nothing():
    before = snapshot()
    cases = (
        (b"", C.BAD_LENGTH),
        (b"\x21", C.BAD_LENGTH),
        (bytes([0x41, 1, 0, 3, 0x84]), C.BAD_VERSION),
        (bytes([0x20, 1]), C.UNKNOWN_COMMAND),
        (bytes([0x3F, 1]), C.UNKNOWN_COMMAND),
        (bytes([0x21, 1, 0, 3]), C.BAD_LENGTH),
        (bytes([0x21, 1, 0, 0, 5]), C.OUT_OF_RANGE),  # 5 s < 10 s
        (bytes([0x21, 1, 0x01, 0x51, 0x81]), C.OUT_OF_RANGE),  # 86401 s
        (bytes([0x22, 2, 0]), C.OUT_OF_RANGE),
        (bytes([0x22, 2, 33]), C.OUT_OF_RANGE),
        (bytes([0x23, 3, 0x06]), C.OUT_OF_RANGE),  # DR6
        (bytes([0x23, 3, 0x10]), C.BAD_VALUE),  # reserved bit
        (bytes([0x24, 4, 0]), C.BAD_LENGTH),
        (bytes([0x27, 5, 3]) + b"abc", C.BAD_LENGTH),  # no value
        (bytes([0x27, 5, 9]) + b"log_level", C.BAD_LENGTH),
        (bytes([0x27, 5, 5]) + b"nosuch1", C.UNKNOWN_KEY),
        (bytes([0x27, 5, 4]) + b"mqtt{}", C.UNKNOWN_KEY),  # a section is not a key
        (bytes([0x27, 5, 13]) + b"mqtt.password" + b'"x"', C.UNKNOWN_KEY),  # secrets: no
        (bytes([0x27, 5, 9]) + b"log_level" + b'"Q"', C.BAD_VALUE),
        (bytes([0x27, 5, 9]) + b"log_level" + b"{bad", C.BAD_VALUE),
        (bytes([0x27, 5, 10]) + b"interval_s" + b"5", C.OUT_OF_RANGE),
        (bytes([0x27, 5, 10]) + b"interval_s" + b'"600"', C.BAD_VALUE),
        (bytes([0x27, 5, 10]) + b"interval_s" + b"6" * 65, C.BAD_LENGTH),
    )
    for payload, code in cases:
        cmd_id, status = ack(payload)
        eq(status, code, "status of %r" % payload)
        eq(snapshot(), before, "nothing changed by %r" % payload)


def test_set_config_and_datarate_are_validated_then_written_atomically():
    eq(ack(bytes([0x27, 9, 9]) + b"log_level" + b'"W"')[1], C.OK, "set_config")
    eq(file_cfg()["log_level"], "W", "written")
    eq(ack(bytes([0x23, 10, 0x80 | 3]))[1], C.OK, "set_datarate")
    eq((st.cfg["lorawan"]["adr"], st.cfg["lorawan"]["dr"]), (True, 3), "both keys")
    eq(file_cfg()["lorawan"]["dr"], 3, "written together")


def test_storage_failure_changes_nothing():
    before = config.canonical(st.cfg)
    st.hal.fs_root = ROOT + "/missing-folder"
    eq(ack(bytes([0x22, 1, 4]))[1], C.STORAGE, "write fails")
    eq(config.canonical(st.cfg), before, "config in memory unchanged")


def test_status_reboot_and_journal():
    eq(ack(bytes([0x24, 1]))[1], C.OK, "status request")
    eq(st.status_pending, True, "status pending")
    eq(ack(bytes([0x25, 2]))[1], C.OK, "reboot")
    eq(st.reboot_pending, True, "reboot after the ack")
    st.delivery.j.fail = True
    eq(ack(bytes([0x26, 3]))[1], C.STORAGE, "journal clear failing")
    eq(st.delivery.j.pending, 5, "journal kept")
    st.delivery.j.fail = False
    eq(ack(bytes([0x26, 3]))[1], C.OK, "journal cleared")
    eq(st.delivery.j.pending, 0, "empty")
    st.delivery = None
    eq(ack(bytes([0x26, 4]))[1], C.UNSUPPORTED, "no journal")


def test_status_frame_from_station():
    buf = bytearray(64)
    n = C.status_frame(st, buf)
    eq(n, 18 + 4, "16 bytes + 2 sensors + the dropped count")
    eq(buf[15], 0x40 | 2, "2 sensors, the dropped flag")
    eq(bytes(buf[18:22]), bytes([0, 0, 1, 44]), "300 records dropped")
    eq(buf[0], (codec.VERSION << 5) | (codec.FRAME_STATUS << 3), "header")
    eq(buf[8], 5, "reset cause soft")
    eq((buf[13] << 8) | buf[14], 5, "journal depth")
    eq(
        (buf[16], buf[17]),
        (codec.sensor_type_id("bme280"), 0x80 | codec.sensor_type_id("sps30")),
        "inventory with fault bit",
    )


def test_fuzz_parser_and_apply():
    # 12,000 payloads: random bytes, and valid commands with one byte changed or cut short
    # (2,000 on the WebAssembly port, where every accepted command's file write is slow).
    import random
    import sys

    n = 2000 if sys.platform == "webassembly" else 12000

    random.seed(10)
    valid = (
        bytes([0x21, 1, 0, 2, 0x58]),
        bytes([0x22, 2, 4]),
        bytes([0x23, 3, 0x82]),
        bytes([0x24, 4]),
        bytes([0x27, 5, 9]) + b"log_level" + b'"E"',
        bytes([0x27, 6, 11]) + b"lorawan.adr" + b"false",
    )
    known = set(range(len(C.STATUS_NAMES)))
    counts = [0] * len(C.STATUS_NAMES)
    ref_cfg = json.loads(config.canonical(st.cfg))  # a deep copy to compare with
    ref_text = file_text()
    for i in range(n):
        k = i % 3
        if k == 0:
            p = bytes(random.getrandbits(8) for _ in range(random.getrandbits(5)))
        else:
            p = bytearray(valid[random.getrandbits(8) % len(valid)])
            if k == 1:
                p[random.getrandbits(8) % len(p)] = random.getrandbits(8)
            else:
                p = p[: random.getrandbits(8) % len(p)]
            p = bytes(p)
        a = C.apply(st, p)
        if len(a) != 3 or a[2] not in known:
            raise AssertionError("bad ack %r for %r" % (a, p))
        counts[a[2]] += 1
        if a[2] != C.OK:
            if st.cfg != ref_cfg or file_text() != ref_text or st.reboot_pending:
                raise AssertionError("rejected %r changed the station" % p)
            if st.status_pending or st.delivery.j.pending != 5:
                raise AssertionError("rejected %r changed the station" % p)
        else:
            config.validate(st.cfg)  # whatever was accepted is a valid config
            ref_cfg = json.loads(config.canonical(st.cfg))
            ref_text = file_text()
            eq(json.loads(ref_text), ref_cfg, "file matches")
        st.reboot_pending = st.status_pending = False
        st.delivery.j.pending = 5
    eq(sum(counts), n, "every payload answered")
    for code in (C.OK, C.BAD_VERSION, C.UNKNOWN_COMMAND, C.BAD_LENGTH, C.OUT_OF_RANGE):
        if not counts[code]:
            raise AssertionError("fuzz never hit %s: %r" % (C.STATUS_NAMES[code], counts))
