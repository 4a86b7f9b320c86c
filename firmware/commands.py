"""Downlink commands (docs/payload-format.md, "Downlink commands"): parse strictly, apply
atomically, answer with an ack frame.

    ack = apply(station, payload)     bytes of the ack frame (codec.encode_ack)

A command is `version(3 bits) | opcode(5 bits)`, `cmd_id` (echoed in the ack), then the
opcode's arguments, exact length. Every check happens before anything changes: a malformed,
unknown or out-of-range command changes nothing and gets an ack with its specific error code.
Config changes are validated with config.set_key, written with config.write_atomic (old or new
file after a power cut) and only then take effect. Reboot and status requests are answered
first and acted on by the station after the ack has gone (station.reboot_pending /
station.status_pending); a new sampling interval also restarts the station after the ack, as the
schedule and the watchdog timeout are set from it at boot.
"""

import binascii
import json
import time

from micropython import const

import codec
import config
import diag

SET_INTERVAL = const(1)
SET_BATCH = const(2)
SET_DATARATE = const(3)
REQUEST_STATUS = const(4)
REBOOT = const(5)
CLEAR_JOURNAL = const(6)
SET_CONFIG = const(7)
CALIBRATE_CO2 = const(8)

# ack status codes
OK = const(0)
BAD_VERSION = const(1)
UNKNOWN_COMMAND = const(2)
BAD_LENGTH = const(3)
OUT_OF_RANGE = const(4)
UNKNOWN_KEY = const(5)
BAD_VALUE = const(6)
STORAGE = const(7)
UNSUPPORTED = const(8)
NOT_READY = const(9)

STATUS_NAMES = (
    "ok",
    "bad_version",
    "unknown_command",
    "bad_length",
    "out_of_range",
    "unknown_key",
    "bad_value",
    "storage",
    "unsupported",
    "not_ready",
)
NAMES = (
    None,
    "set_interval",
    "set_batch",
    "set_datarate",
    "request_status",
    "reboot",
    "clear_journal",
    "set_config",
    "calibrate_co2",
)
# argument bytes per opcode (-1: variable, checked by the opcode's parser)
_ARG_LEN = (0, 3, 1, 1, 0, 0, 0, -1, 2)
_MAX_KEY = const(32)
_MAX_VALUE = const(64)

# Commands whose effect is not idempotent (a reboot, clearing the journal) run once: their
# fingerprints (crc32 over the whole command, cmd_id included) and times are kept on flash, so
# the same command delivered again within _SEEN_S (a repeated downlink, a redelivery after the
# reset it caused) is answered without running again. Later, or with a new cmd_id, it runs.
SEEN_FILE = "commands.seen"
_SEEN_MAX = const(8)
_SEEN_S = const(3600)


class CommandError(ValueError):
    """A command is rejected; `code` is its ack status code."""

    def __init__(self, code, msg):
        super().__init__(msg)
        self.code = code


def parse(payload):
    """(opcode, cmd_id, changes) of a command, or raise CommandError.

    `changes` is a tuple of (dotted config key, value) for config-changing commands, else ().
    Ranges are checked against config.SCHEMA; nothing is applied here.
    """
    n = len(payload)
    if n < 2:
        raise CommandError(BAD_LENGTH, "command shorter than 2 bytes")
    if payload[0] >> 5 != codec.COMMAND_VERSION:
        raise CommandError(BAD_VERSION, "unknown command version %d" % (payload[0] >> 5))
    op = payload[0] & 0x1F
    if op == 0 or op >= len(NAMES):
        raise CommandError(UNKNOWN_COMMAND, "unknown opcode %d" % op)
    cmd_id = payload[1]
    args = n - 2
    want = _ARG_LEN[op]
    if want >= 0 and args != want:
        raise CommandError(
            BAD_LENGTH, "%s takes %d argument bytes, got %d" % (NAMES[op], want, args)
        )
    if op == SET_INTERVAL:
        v = (payload[2] << 16) | (payload[3] << 8) | payload[4]
        return op, cmd_id, (("interval_s", _in_range("interval_s", v)),)
    if op == SET_BATCH:
        return op, cmd_id, (("batch", _in_range("batch", payload[2])),)
    if op == SET_DATARATE:
        b = payload[2]
        if b & 0x70:
            raise CommandError(BAD_VALUE, "reserved bits set")
        return (
            op,
            cmd_id,
            (("lorawan.adr", bool(b & 0x80)), ("lorawan.dr", _in_range("lorawan.dr", b & 0x0F))),
        )
    if op == SET_CONFIG:
        return op, cmd_id, (_parse_set_config(payload),)
    if op == CALIBRATE_CO2:
        _co2_reference(payload)
    return op, cmd_id, ()


# SCD4x forced recalibration: the reference concentration the sensor is exposed to, ppm
_FRC_MIN_PPM = const(400)
_FRC_MAX_PPM = const(5000)
FRC_REFERENCE_PPM = (_FRC_MIN_PPM, _FRC_MAX_PPM)  # the downlink encoders' copy is written from this
_FRC_MEASURED_MS = const(180000)  # datasheet: operate the sensor > 3 min before FRC


def _co2_reference(payload):
    ppm = (payload[2] << 8) | payload[3]
    if not _FRC_MIN_PPM <= ppm <= _FRC_MAX_PPM:
        raise CommandError(
            OUT_OF_RANGE, "reference %d ppm is outside %d..%d" % (ppm, _FRC_MIN_PPM, _FRC_MAX_PPM)
        )
    return ppm


def _calibrate_co2(station, ppm):
    """Forced recalibration of the fitted SCD4x to `ppm`; returns the correction (ppm). Refused
    with NOT_READY (and the reason) unless the sensor has measured for 3 minutes without a fault."""
    import time

    slot = None
    for s in station.slots:
        if s.kind == "scd4x":
            slot = s
    if slot is None:
        raise CommandError(UNSUPPORTED, "no SCD4x fitted")
    if slot.driver is None or slot.failures:
        raise CommandError(NOT_READY, "SCD4x is failing (%s)" % (slot.last_error,))
    if slot.read_at is None:
        raise CommandError(NOT_READY, "SCD4x has not measured yet")
    measured_ms = time.ticks_diff(time.ticks_ms(), slot.opened_at)
    if measured_ms < _FRC_MEASURED_MS:
        raise CommandError(
            NOT_READY,
            "SCD4x has measured %d s, recalibration needs %d s"
            % (measured_ms // 1000, _FRC_MEASURED_MS // 1000),
        )
    try:
        return slot.driver.forced_recalibration(ppm)
    except OSError as exc:
        # 0xFFFF from the chip (reported as EIO): it did not accept the recalibration
        raise CommandError(
            NOT_READY, "SCD4x refused the recalibration (errno %d)" % exc.args[0]
        ) from None


def _schema_entry(dotted):
    schema = config.SCHEMA
    parts = dotted.split(".")
    for i in range(len(parts)):
        entry = schema.get(parts[i])
        if entry is None:
            return None
        if i < len(parts) - 1:
            if entry[0] != "section":
                return None
            schema = entry[2]
        elif entry[0] == "section":
            return None
    return entry


def _in_range(key, v):
    kind, _, c = _schema_entry(key)
    if kind == "int" and not c[0] <= v <= c[1]:
        raise CommandError(OUT_OF_RANGE, "%s %d is outside %d..%d" % (key, v, c[0], c[1]))
    return v


def _parse_set_config(p):
    if len(p) < 4:
        raise CommandError(BAD_LENGTH, "set_config needs a key and a value")
    klen = p[2]
    if klen < 1 or klen > _MAX_KEY or 3 + klen >= len(p):
        raise CommandError(BAD_LENGTH, "set_config: bad key length %d" % klen)
    vlen = len(p) - 3 - klen
    if vlen > _MAX_VALUE:
        raise CommandError(BAD_LENGTH, "set_config: value longer than %d bytes" % _MAX_VALUE)
    raw = bytes(p[3 : 3 + klen])
    for b in raw:
        if not (0x30 <= b <= 0x39 or 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A or b in b"._"):
            raise CommandError(UNKNOWN_KEY, "set_config: key has characters no key has")
    key = raw.decode()
    entry = _schema_entry(key)
    if entry is None:
        raise CommandError(UNKNOWN_KEY, "unknown key %s" % key)
    try:
        value = json.loads(bytes(p[3 + klen :]).decode())
    except (ValueError, UnicodeError):
        raise CommandError(BAD_VALUE, "set_config: value is not JSON") from None
    kind, _, c = entry
    if kind == "int" and type(value) is int and not c[0] <= value <= c[1]:
        raise CommandError(OUT_OF_RANGE, "%s %d is outside %d..%d" % (key, value, c[0], c[1]))
    return key, value


def _seen_path(station):
    return config._join(station.hal.fs_root, SEEN_FILE)


def _seen(station):
    """[(fingerprint, unix time)] of the last commands that ran once, oldest first."""
    try:
        with open(_seen_path(station), "rb") as f:
            raw = f.read(8 * _SEEN_MAX)
    except OSError:
        return []
    return [
        (int.from_bytes(raw[i : i + 4], "big"), int.from_bytes(raw[i + 4 : i + 8], "big"))
        for i in range(0, len(raw) - 7, 8)
    ]


def _is_repeat(seen, fp, now):
    for f, t in seen:
        if f == fp and 0 <= now - t <= _SEEN_S:
            return True
    return False


def _remember(station, seen, fp, now):
    seen = (seen + [(fp, now)])[-_SEEN_MAX:]
    buf = bytearray(8 * len(seen))
    for i, (f, t) in enumerate(seen):
        buf[8 * i : 8 * i + 4] = f.to_bytes(4, "big")
        buf[8 * i + 4 : 8 * i + 8] = (t & 0xFFFFFFFF).to_bytes(4, "big")
    path = _seen_path(station)
    with open(path + ".tmp", "wb") as f:
        f.write(buf)
    import os

    os.rename(path + ".tmp", path)


def apply(station, payload):
    """Check and apply one command to the station; return the ack frame (bytes)."""
    buf = bytearray(5)
    cmd_id = payload[1] if len(payload) >= 2 else 0
    result = None
    try:
        op, cmd_id, changes = parse(payload)
        once = op == REBOOT or op == CLEAR_JOURNAL
        if once:
            fp = binascii.crc32(payload)
            now = int(time.time())
            seen = _seen(station)
            if _is_repeat(seen, fp, now):
                diag.info("COMMAND.DUPLICATE", NAMES[op], cmd_id=cmd_id)
                n = codec.encode_ack(buf, cmd_id, OK)
                return bytes(buf[:n])
        if op == CALIBRATE_CO2:
            result = _calibrate_co2(station, _co2_reference(payload))
        else:
            _apply(station, op, changes)
        if once:
            try:
                # recorded before the reset a reboot causes: it must not find itself again
                _remember(station, seen, fp, now)
            except OSError as exc:
                station.reboot_pending = False  # unrecorded, a reboot could repeat forever
                raise CommandError(STORAGE, "command not recorded: %s" % exc) from None
    except CommandError as exc:
        diag.warn(
            "COMMAND.REJECTED", None, cmd_id=cmd_id, error=STATUS_NAMES[exc.code], reason=str(exc)
        )
        n = codec.encode_ack(buf, cmd_id, exc.code)
        return bytes(buf[:n])
    if result is None:
        diag.info("COMMAND.DONE", NAMES[op], cmd_id=cmd_id)
    else:
        diag.info("COMMAND.DONE", NAMES[op], cmd_id=cmd_id, correction_ppm=result)
    n = codec.encode_ack(buf, cmd_id, OK, result)
    return bytes(buf[:n])


def _apply(station, op, changes):
    if changes:
        cfg = station.cfg
        try:
            for key, value in changes:
                cfg = config.set_key(cfg, key, value)
        except config.ConfigError as exc:
            text = str(exc)
            code = (
                OUT_OF_RANGE
                if "outside" in text
                else (UNKNOWN_KEY if "unknown key" in text else BAD_VALUE)
            )
            raise CommandError(code, text) from None
        refused = config.downlink_problems(station.cfg, cfg)
        if refused:
            raise CommandError(UNSUPPORTED, refused[0])
        if config.canonical(cfg) == config.canonical(station.cfg):
            # a setting to the value it already has: nothing to write, nothing to restart
            diag.info("CONFIG.UNCHANGED", None, keys=",".join(k for k, _ in changes))
            return
        path = config._join(station.hal.fs_root, config.CONFIG_FILE)
        try:
            config.write_atomic(path, config.canonical(cfg))
        except OSError as exc:
            raise CommandError(STORAGE, "config not written: %s" % exc) from None
        station.cfg = cfg
        diag.info(
            "CONFIG.CHANGED", None, keys=",".join(k for k, _ in changes), digest=config.digest(cfg)
        )
        if op == SET_INTERVAL or (op == SET_CONFIG and changes[0][0] == "interval_s"):
            # the schedule and the watchdog timeout derive from the interval at boot
            station.reboot_pending = True
    elif op == REQUEST_STATUS:
        station.status_pending = True
    elif op == REBOOT:
        station.reboot_pending = True
    elif op == CLEAR_JOURNAL:
        if station.delivery is None:
            raise CommandError(UNSUPPORTED, "this station has no journal to clear")
        try:
            station.delivery.j.clear()
        except OSError as exc:
            raise CommandError(STORAGE, "journal not cleared: %s" % exc) from None


def status_frame(station, buf):
    """The station's status frame in buf; returns its length."""
    import version

    d = station.delivery
    names = []
    faulty = 0
    laser_h = []
    for i, slot in enumerate(station.slots[:16]):
        names.append(slot.kind)
        if slot.failures:
            faulty |= 1 << i
        if slot.kind in codec.LASER_TYPES:
            laser_h.append(slot.laser_hours(station.hal))
    if None in laser_h:
        laser_h = []  # a laser whose time is not counted: no run hours for any (one list)
    return codec.encode_status(
        buf,
        fw=version.VERSION,
        config=config.digest(station.cfg),
        reset=station.hal.reset_cause(),
        uptime_s=int(diag.uptime_s()),
        journal=d.j.pending if d is not None else 0,
        sensors=names,
        faulty=faulty,
        laser_h=laser_h if laser_h else None,
        wifi=station.uplink.wifi_status() if station.uplink is not None else None,
        dropped=d.j.dropped if d is not None else None,
    )
