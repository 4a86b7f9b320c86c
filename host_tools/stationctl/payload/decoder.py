"""Python decoder for station frames, payload format v2 (docs/payload-format.md), and the
encoder/decoder of downlink commands.

    decode(frame, fport=None, received_at=None) -> list[dict]
        sample and batch frames: one dict per sample (seq, time, channel keys, health);
        status and ack frames: one dict with "frame": "status" | "ack".
        Raises FrameError (a ValueError) with the reason for anything that is not a valid frame.
    encode_command(name, cmd_id=0, **args) -> bytes      downlink command (FPort 10)
    decode_command(payload) -> dict                      the inverse (raises CommandError)

The uplink encoder is firmware code (firmware/codec.py), run inside MicroPython by
`stationctl encode`; this module only reads frames.
"""

from __future__ import annotations

import json
from pathlib import Path

KEYS = (
    "temperature_c",
    "humidity_pct",
    "pressure_hpa",
    "co2_ppm",
    "pm1_0_ugm3",
    "pm2_5_ugm3",
    "pm10_ugm3",
    "voc_index",
    "battery_v",
)
N_CHANNELS = len(KEYS)
HUMIDITY = KEYS.index("humidity_pct")  # its presence bit decides how rh_high travels
VERSION = 2  # uplink frames
COMMAND_VERSION = 1  # downlink commands
FRAME_SAMPLE, FRAME_BATCH, FRAME_STATUS, FRAME_ACK = 0, 1, 2, 3
FPORT_DATA, FPORT_LPP, FPORT_STATUS, FPORT_ACK, FPORT_COMMAND = 1, 2, 3, 4, 10
TIME_NOW, TIME_AGE16, TIME_UNIX, TIME_UPTIME = 0, 1, 2, 3

# value = (q - OFF) / SCALE, q in 0..QMAX  (the table of docs/payload-format.md)
SCALE = (10, 2, 10, 1, 10, 10, 10, 1, 100)
OFF = (400, 0, -3000, 0, 0, 0, 0, -1, 0)
QMAX = (1250, 200, 8000, 40000, 10000, 10000, 10000, 499, 4000)
FULL = (11, 8, 13, 16, 14, 14, 14, 9, 12)
SLO = (300, 0, 6500, 350, 0, 0, 0, 0, 300)
SBITS = (9, 0, 10, 10, 9, 9, 9, 0, 7)
RESOLUTION = (0.1, 0.5, 0.1, 1, 0.1, 0.1, 0.1, 1, 0.01)
ESC = 8
MAX_EG_ZEROS = 16
SEQ_MOD = 256  # frames carry seq modulo 256
PRESET = 0xFF  # presence when the preset bit is set: channels 0..7
DEFAULT_MINUTES = 10  # the interval code is centred on 10-minute sampling
RH_HIGH_Q = 140  # humidity q above this (70.0 %): rh_high, derived when humidity is sent
EXT_BOOT_ID = 62  # extension channel: the station boot an uptime-based time belongs to
BOOT_ID_BITS = 16  # a boot id is 1 .. 65535

RESETS = ("unknown", "power_on", "hard", "watchdog", "deep_sleep", "soft", "brownout")
SENSOR_TYPES = (
    "other",
    "bme280",
    "sht4x",
    "scd4x",
    "sps30",
    "sgp40",
    "sds011",
    "pms5003",
    "scd30",
    "bme680",
)

LPP_ANALOG_IN, LPP_ILLUMINANCE, LPP_TEMPERATURE, LPP_HUMIDITY, LPP_BAROMETER = 2, 101, 103, 104, 115
LPP_DIGITAL_IN = 0
# Cayenne LPP has no CO2, PM or VOC type: the types the stations use, by name (decoded output's
# `lpp_types`, so a dashboard user sees why CO2 shows up as "illuminance")
LPP_TYPE_NAMES = {
    LPP_ANALOG_IN: "analog input",
    LPP_ILLUMINANCE: "illuminance",
    LPP_TEMPERATURE: "temperature",
    LPP_HUMIDITY: "humidity",
    LPP_BAROMETER: "barometer",
}
LPP_LEFT_OUT_CHANNEL = 10  # digital input: bit i = channel PM1 + i did not fit (above 327.67)
PM1_0 = 4


class FrameError(ValueError):
    """A frame cannot be decoded; the message says why."""


class CommandError(ValueError):
    """A downlink command cannot be encoded or decoded; the message says why."""


def value_of(ch: int, q: int) -> float | int:
    if SCALE[ch] == 1:
        return q - OFF[ch]
    return (q - OFF[ch]) / SCALE[ch]


class _Bits:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0
        self.lim = len(data) * 8

    def get(self, n: int) -> int:
        if self.pos + n > self.lim:
            raise FrameError("frame truncated")
        v = 0
        for _ in range(n):
            byte = self.data[self.pos >> 3]
            v = (v << 1) | ((byte >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return v

    def unary(self, limit: int) -> int:
        """Count 1 bits up to `limit` (consuming the terminating 0 when below it)."""
        u = 0
        while u < limit and self.get(1):
            u += 1
        return u

    def eg(self) -> int:
        zeros = 0
        while self.get(1) == 0:
            zeros += 1
            if zeros > MAX_EG_ZEROS:
                raise FrameError("Exp-Golomb code too long")
        return ((1 << zeros) | self.get(zeros)) - 1

    def end(self) -> None:
        if self.lim - self.pos >= 8:
            raise FrameError(f"{(self.lim - self.pos) // 8} trailing byte(s) after the frame")
        if self.get(self.lim - self.pos):
            raise FrameError("padding bits not zero")


def _unzig(z: int) -> int:
    return z >> 1 if not z & 1 else -((z + 1) >> 1)


def _value(b: _Bits, ch: int) -> int:
    if SBITS[ch] == 0 or b.get(1) == 1:
        q = b.get(FULL[ch])
    else:
        q = SLO[ch] + b.get(SBITS[ch])
    if q > QMAX[ch]:
        raise FrameError(f"{KEYS[ch]} out of range")
    return q


def _mask_keys(mask: int) -> list[str]:
    return [KEYS[i] for i in range(N_CHANNELS) if mask & (1 << i)]


def _state(b: _Bits, preset: int) -> dict:
    """A sample state; preset is the header's preset bit for a frame's first state, else None
    (the bit starts the state)."""
    if preset is None:
        preset = b.get(1)
    present = PRESET if preset else b.get(9)
    rh = b.get(1) if not present & (1 << HUMIDITY) else 0  # sent only when humidity is absent
    fault = warm = impl = 0
    ext: list[dict] = []
    if b.get(1):
        which = b.get(3)
        extended = which == 0  # extension channels follow the masks
        if extended:
            which = b.get(3)
        fault = b.get(9) if which & 4 else 0
        warm = b.get(9) if which & 2 else 0
        impl = b.get(9) if which & 1 else 0
        if extended:
            ext = _extension(b)
    return {
        "present": present,
        "rh": rh,
        "fault": fault,
        "warmup": warm,
        "implausible": impl,
        "ext": ext,
    }


def _extension(b: _Bits) -> list[dict]:
    """The extension list (spec 5.1): channels added after format v2's nine, each with its id
    and width so that a decoder which does not know a channel can step over it."""
    out = []
    for _ in range(b.get(3) + 1):
        cid = b.get(6)
        if cid < N_CHANNELS:
            raise FrameError(f"extension channel id {cid} is a base channel")
        width = b.get(5) + 1
        if cid == EXT_BOOT_ID and width > BOOT_ID_BITS:
            raise FrameError(f"boot id {width} bits wide (at most {BOOT_ID_BITS})")
        out.append({"id": cid, "raw": b.get(width)})
    return out


def _time(b: _Bits, kind: int) -> int:
    if kind == TIME_NOW:
        return 0
    if kind == TIME_AGE16:
        return b.get(16)
    return b.get(32)


def _sample_dict(
    seq: int, kind: int, t: int, received_at: int | None, st: dict, qs: list[int]
) -> dict:
    out: dict = {"seq": seq}
    if kind == TIME_UNIX:
        out["time"] = t
    elif kind == TIME_UPTIME:
        out["time"] = None
        out["uptime_s"] = t
    else:
        if t < 0:
            raise FrameError("sample age negative")
        out["time"] = None if received_at is None else int(received_at) - t
        out["age_s"] = t
    unknown = []
    for e in st["ext"]:
        if e["id"] == EXT_BOOT_ID:
            # which boot the uptime counts from: uptimes of two boots are never one time line
            out["boot_id"] = e["raw"]
        else:
            unknown.append(dict(e))  # a decoder reports what it does not know
    for ch in range(N_CHANNELS):
        if st["present"] & (1 << ch):
            out[KEYS[ch]] = value_of(ch, qs[ch])
    if unknown:
        out["unknown_channels"] = unknown
    if st["present"] & 2:
        rh_high = qs[1] > RH_HIGH_Q  # derived from the quantised humidity: above 70.0 %
    else:
        rh_high = bool(st["rh"])
    out["health"] = {
        # the time kind says it: unix time (2) needs a synced clock, uptime (3) means not
        # synced; kinds 0/1 take the time from the receiver, the station's clock does not matter
        "clock_synced": {TIME_UNIX: True, TIME_UPTIME: False}.get(kind),
        "rh_high": rh_high,
        "fault": _mask_keys(st["fault"]),
        "warmup": _mask_keys(st["warmup"]),
        "implausible": _mask_keys(st["implausible"]),
    }
    return out


def _decode_sample(b: _Bits, kind: int, preset: int, received_at: int | None) -> list[dict]:
    seq = b.get(8)
    t = _time(b, kind)
    st = _state(b, preset)
    qs = [0] * N_CHANNELS
    for ch in range(N_CHANNELS):
        if st["present"] & (1 << ch):
            qs[ch] = _value(b, ch)
    b.end()
    return [_sample_dict(seq, kind, t, received_at, st, qs)]


def _decode_batch(b: _Bits, kind: int, preset: int, received_at: int | None) -> list[dict]:
    count = b.get(6) + 1
    seq0 = b.get(8)
    t_last = _time(b, kind)  # the newest (last) sample's time
    interval = (DEFAULT_MINUTES + _unzig(b.eg())) * 60 if b.get(1) else b.get(17)
    if interval <= 0:
        raise FrameError("batch interval not positive")
    uniform = b.get(1)
    st = _state(b, preset)
    union = st["present"] if b.get(1) else b.get(9)
    ks = [0] * N_CHANNELS
    for ch in range(N_CHANNELS):
        if union & (1 << ch):
            ks[ch] = b.get(3)
    steps = [1] * N_CHANNELS  # deltas are sent in units of the channel's step
    runs = [0] * N_CHANNELS  # 1: zero-run mode (segments of zero deltas, then a non-zero one)
    if b.get(1):
        for ch in range(N_CHANNELS):
            if union & (1 << ch):
                steps[ch] = b.eg() + 1
                runs[ch] = b.get(1)
    pending = [0] * N_CHANNELS  # zero deltas still to come in the channel's segment
    nonzero = [False] * N_CHANNELS  # the channel's next delta ends its segment: not zero
    prev: list[int | None] = [None] * N_CHANNELS
    rows = []
    rel = 0  # seconds after the first sample
    for i in range(count):
        if i > 0:
            step = interval
            if not uniform and b.get(1):
                if b.get(1):
                    st = _state(b, None)
                step += _unzig(b.eg())
            rel += step
        if st["present"] & ~union:
            raise FrameError("sample has a channel missing from the batch's channel mask")
        qs = [0] * N_CHANNELS
        for ch in range(N_CHANNELS):
            if not st["present"] & (1 << ch):
                continue
            last = prev[ch]
            if last is None:
                q = _value(b, ch)
            elif runs[ch] and pending[ch]:
                pending[ch] -= 1
                q = last
            elif runs[ch] and not nonzero[ch] and (r := b.eg()):
                pending[ch], nonzero[ch] = r - 1, True
                q = last
            else:
                nonzero[ch] = False
                u = b.unary(ESC)
                if u == ESC:
                    q = _value(b, ch)
                else:
                    k = ks[ch]
                    z = ((u << k) | b.get(k)) + runs[ch]  # run mode sends zigzag - 1
                    q = last + _unzig(z) * steps[ch]
                    if not 0 <= q <= QMAX[ch]:
                        raise FrameError(f"{KEYS[ch]} out of range")
            prev[ch] = q
            qs[ch] = q
        rows.append((st, qs, rel))
    if any(pending):
        raise FrameError("a run of zero deltas reaches past the batch")
    b.end()
    out = []
    for i, (st, qs, r) in enumerate(rows):
        before = rel - r  # seconds before the newest sample
        t = t_last - before if kind >= TIME_UNIX else t_last + before
        out.append(_sample_dict((seq0 + i) % SEQ_MOD, kind, t, received_at, st, qs))
    return out


def _decode_status(frame: bytes) -> list[dict]:
    if len(frame) < 16:
        raise FrameError("status frame truncated")
    n = frame[15] & 0x3F  # bit 7: Wi-Fi block, bit 6: dropped count; bit 5 set is > 16 sensors
    end = len(frame)
    wifi = None
    if frame[15] & 0x80:
        # firmware with Wi-Fi: the frame ends with rssi (i8 dBm) and the network's index
        if len(frame) < 18 + n:
            raise FrameError(f"status frame length {len(frame)} does not match {n} sensors")
        end -= 2
        wifi = {
            "rssi_dbm": int.from_bytes(frame[end : end + 1], "big", signed=True),
            "network": frame[end + 1],
        }
        frame = frame[:end]
    dropped = None
    if frame[15] & 0x40:
        # firmware with a journal: the records it lost before delivery (u32), after the run hours
        if len(frame) < 20 + n:
            raise FrameError(f"status frame length {len(frame)} does not match {n} sensors")
        end -= 4
        dropped = int.from_bytes(frame[end:], "big")
        frame = frame[:end]
    if n > 16:
        raise FrameError("status frame lists more than 16 sensors")
    if len(frame) < 16 + n:
        raise FrameError(f"status frame length {len(frame)} does not match {n} sensors")
    sensors = []
    for byte in frame[16 : 16 + n]:
        tid = byte & 0x7F
        if tid >= len(SENSOR_TYPES):
            raise FrameError(f"unknown sensor type id {tid}")
        sensors.append({"type": SENSOR_TYPES[tid], "faulty": bool(byte & 0x80)})
    lasers = [s for s in sensors if s["type"] in LASER_TYPES]
    if len(frame) == 16 + n + 2 * len(lasers) and lasers:
        # run hours of each laser sensor, in the order listed (firmware with laser counting)
        for i, s in enumerate(lasers):
            s["laser_h"] = int.from_bytes(frame[16 + n + 2 * i : 18 + n + 2 * i], "big")
    elif len(frame) != 16 + n:
        raise FrameError(f"status frame length {len(frame)} does not match {n} sensors")
    rc = frame[8]
    if rc >= len(RESETS):
        raise FrameError(f"unknown reset cause {rc}")
    out = {
        "frame": "status",
        "fw": f"{frame[1]}.{frame[2]}.{frame[3]}",
        "config": frame[4:8].hex(),
        "reset": RESETS[rc],
        "uptime_s": int.from_bytes(frame[9:13], "big"),
        "journal": int.from_bytes(frame[13:15], "big"),
        "sensors": sensors,
    }
    if dropped is not None:
        out["dropped"] = dropped
    if wifi is not None:
        out["wifi"] = wifi
    return [out]


# sensors with a laser: the status frame may end with their run hours
LASER_TYPES = ("sps30", "sds011", "pms5003")

ACK_STATUS = (
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


def _decode_ack(frame: bytes) -> list[dict]:
    if len(frame) not in (3, 5):
        raise FrameError(f"ack frame must be 3 or 5 bytes, got {len(frame)}")
    if frame[2] >= len(ACK_STATUS):
        raise FrameError(f"unknown ack status {frame[2]}")
    out = {"frame": "ack", "cmd_id": frame[1], "status": frame[2], "result": ACK_STATUS[frame[2]]}
    if len(frame) == 5:
        # a measured answer (calibrate_co2: the correction applied, ppm)
        out["value"] = int.from_bytes(frame[3:5], "big", signed=True)
    return [out]


def _decode_lpp(frame: bytes) -> list[dict]:
    out: dict = {}
    i = 0
    sizes = {
        LPP_ANALOG_IN: 2,
        LPP_ILLUMINANCE: 2,
        LPP_TEMPERATURE: 2,
        LPP_HUMIDITY: 1,
        LPP_BAROMETER: 2,
    }
    types: dict = {}
    left_out: list[str] = []
    if not frame:
        raise FrameError("empty LPP frame")
    while i < len(frame):
        if i + 2 > len(frame):
            raise FrameError("LPP frame truncated")
        ch, typ = frame[i] - 1, frame[i + 1]
        if frame[i] == LPP_LEFT_OUT_CHANNEL and typ == LPP_DIGITAL_IN:
            if i + 3 > len(frame):
                raise FrameError("LPP frame truncated")
            mask = frame[i + 2]
            if mask == 0 or mask >> 3:
                raise FrameError(f"LPP left-out mask {mask} names no PM channel")
            left_out = [KEYS[PM1_0 + b] for b in range(3) if mask & (1 << b)]
            i += 3
            continue
        if not 0 <= ch < N_CHANNELS:
            raise FrameError(f"unknown LPP channel {ch + 1}")
        if typ not in sizes:
            raise FrameError(f"unsupported LPP type {typ}")
        size = sizes[typ]
        if i + 2 + size > len(frame):
            raise FrameError("LPP frame truncated")
        raw = int.from_bytes(
            frame[i + 2 : i + 2 + size], "big", signed=typ in (LPP_TEMPERATURE, LPP_ANALOG_IN)
        )
        scale = {
            LPP_ANALOG_IN: 100,
            LPP_ILLUMINANCE: 1,
            LPP_TEMPERATURE: 10,
            LPP_HUMIDITY: 2,
            LPP_BAROMETER: 10,
        }[typ]
        out[KEYS[ch]] = raw if scale == 1 else raw / scale
        types[KEYS[ch]] = LPP_TYPE_NAMES[typ]
        i += 2 + size
    out["lpp_types"] = types
    if left_out:
        out["left_out"] = left_out  # above 327.67 ug/m3: more than LPP's analog input holds
    return [out]


def decode(frame: bytes, fport: int | None = None, received_at: int | None = None) -> list[dict]:
    """Decode one uplink frame. `received_at` (unix seconds) turns sample ages into times."""
    frame = bytes(frame)
    if fport == FPORT_LPP:
        return _decode_lpp(frame)
    if fport is not None and fport not in (FPORT_DATA, FPORT_STATUS, FPORT_ACK):
        raise FrameError(f"no frames are sent on FPort {fport}")
    if not frame:
        raise FrameError("empty frame")
    h = frame[0]
    if h >> 5 == 1:
        raise FrameError(
            "frame format version 1 (pre-release firmware) is not decoded: update the station"
        )
    if h >> 5 != VERSION:
        raise FrameError(f"unknown frame version {h >> 5}")
    ftype = (h >> 3) & 3
    if ftype in (FRAME_STATUS, FRAME_ACK):
        if h & 7:
            raise FrameError("reserved header bits set")
        return _decode_status(frame) if ftype == FRAME_STATUS else _decode_ack(frame)
    b = _Bits(frame)
    b.get(8)
    kind = (h >> 1) & 3
    if ftype == FRAME_SAMPLE:
        return _decode_sample(b, kind, h & 1, received_at)
    return _decode_batch(b, kind, h & 1, received_at)


# --- downlink commands (docs/payload-format.md, "Downlink commands") ---
COMMANDS = {
    "set_interval": 1,
    "set_batch": 2,
    "set_datarate": 3,
    "request_status": 4,
    "reboot": 5,
    "clear_journal": 6,
    "set_config": 7,
    "calibrate_co2": 8,
}
_NAMES = {v: k for k, v in COMMANDS.items()}


# The station's config rules (firmware/config.py, written here by
# tests/vectors/make_config_rules.py): dotted key -> [kind, constraint...]. The encoder refuses
# what the station would refuse, so no downlink is spent on a command answered with an error.
CONFIG_RULES: dict = json.loads((Path(__file__).with_name("config_rules.json")).read_text())
_KEY_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._")
CO2_REFERENCE_PPM = tuple(CONFIG_RULES["calibrate_co2:reference_ppm"][1:])  # the station's range


def rule_problem(key: str, value) -> str | None:
    """Why the station would refuse `value` for config key `key` (None: it accepts it).
    The checks of firmware/config.py's _check, kind by kind."""
    rule = CONFIG_RULES.get(key)
    if rule is None:
        return f"unknown config key {json.dumps(key)} (secrets and sections cannot be set by a command)"
    kind = rule[0]
    if kind == "int":
        if type(value) is not int or not rule[1] <= value <= rule[2]:
            return f"{key} must be an integer {rule[1]}..{rule[2]}"
    elif kind == "float":
        if type(value) not in (int, float) or not rule[1] <= value <= rule[2]:
            return f"{key} must be a number {rule[1]}..{rule[2]}"
    elif kind == "bool":
        if type(value) is not bool:
            return f"{key} must be true or false"
    elif kind == "enum":
        if value not in rule[1] or type(value) is not type(rule[1][0]):
            return f"{key} must be one of {', '.join(map(str, rule[1]))}"
    elif kind == "str":
        if type(value) is not str:
            return f"{key} must be text"
        if not rule[1] <= len(value) <= rule[2]:
            return f"{key} must be {rule[1]}..{rule[2]} characters"
        if rule[3] is not None and any(c not in rule[3] for c in value):
            return f"{key} may only contain {rule[3]}"
    elif kind == "site":
        return f"{key}: set on site only (a wrong value would cut the command channel)"
    else:
        return f"{key} cannot be set by a command"
    return None


def crc8(data: bytes) -> int:
    """CRC-8 (polynomial 0x07, initial 0): the default cmd_id, a fingerprint of the command."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def encode_command(name: str, cmd_id: int | None = None, check: bool = True, **args) -> bytes:
    """Bytes of one downlink command (FPort 10); raises CommandError for an unknown name, a bad
    argument, or (check=True) anything the station's config rules refuse. cmd_id defaults to
    a CRC-8 of the command, so the station's ack (which echoes it) names the command it
    answers. check=False builds a command the station must refuse (tests of its checks)."""
    if name not in COMMANDS:
        raise CommandError(f"unknown command {json.dumps(name)} (one of {', '.join(COMMANDS)})")
    if cmd_id is not None and (type(cmd_id) is not int or not 0 <= cmd_id <= 255):
        raise CommandError("cmd_id must be 0..255")
    expected = {
        "set_interval": {"interval_s"},
        "set_batch": {"batch"},
        "set_datarate": {"adr", "dr"},
        "set_config": {"key", "value"},
        "calibrate_co2": {"reference_ppm"},
    }.get(name, set())
    if set(args) != expected:
        raise CommandError(f"{name} takes {', '.join(sorted(expected)) or 'no arguments'}")

    def _checked(key: str, value, lo: int, hi: int) -> int:
        if type(value) is not int or not lo <= value <= hi:
            raise CommandError(f"{key} must be an integer {lo}..{hi}")
        problem = rule_problem(key, value) if check else None
        if problem:
            raise CommandError(problem)
        return value

    body = b""
    if name == "set_interval":
        body = _checked("interval_s", args["interval_s"], 0, 0xFFFFFF).to_bytes(3, "big")
    elif name == "set_batch":
        body = bytes([_checked("batch", args["batch"], 0, 255)])
    elif name == "set_datarate":
        if type(args["adr"]) is not bool:
            raise CommandError("adr must be true or false")
        body = bytes([(0x80 if args["adr"] else 0) | _checked("lorawan.dr", args["dr"], 0, 15)])
    elif name == "calibrate_co2":
        ppm = args["reference_ppm"]
        lo, hi = CO2_REFERENCE_PPM if check else (0, 0xFFFF)  # from firmware/commands.py
        if type(ppm) is not int or not lo <= ppm <= hi:
            raise CommandError(f"reference_ppm must be an integer {lo}..{hi}")
        body = ppm.to_bytes(2, "big")
    elif name == "set_config":
        key = args["key"]
        if type(key) is not str or not 1 <= len(key.encode()) <= 32:
            raise CommandError("key must be 1..32 characters")
        if check and any(c not in _KEY_CHARS for c in key):
            raise CommandError(
                f"unknown config key {json.dumps(key)} (keys are letters, digits, '.', '_')"
            )
        try:
            value = json.dumps(args["value"], separators=(",", ":"), allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise CommandError(f"value cannot be sent as JSON ({exc})") from None
        if len(value) > 64:
            raise CommandError("value must encode to at most 64 bytes of JSON")
        problem = rule_problem(key, args["value"]) if check else None
        if problem:
            raise CommandError(problem)
        body = bytes([len(key.encode())]) + key.encode() + value
    op = bytes([(COMMAND_VERSION << 5) | COMMANDS[name]])
    if cmd_id is None:
        cmd_id = crc8(op + body)
    return op + bytes([cmd_id]) + body


def decode_command(payload: bytes) -> dict:
    """The command a downlink payload carries (structure only; the station checks ranges)."""
    p = bytes(payload)
    if len(p) < 2:
        raise CommandError("command truncated")
    if p[0] >> 5 != COMMAND_VERSION:
        raise CommandError(f"unknown command version {p[0] >> 5}")
    op = p[0] & 0x1F
    if op not in _NAMES:
        raise CommandError(f"unknown command opcode {op}")
    name = _NAMES[op]
    out: dict = {"command": name, "cmd_id": p[1]}
    body = p[2:]
    sizes = {"set_interval": 3, "set_batch": 1, "set_datarate": 1, "calibrate_co2": 2}
    if name in sizes or name in ("request_status", "reboot", "clear_journal"):
        if len(body) != sizes.get(name, 0):
            raise CommandError(
                f"{name} needs {sizes.get(name, 0)} argument byte(s), got {len(body)}"
            )
    if name == "set_interval":
        out["interval_s"] = int.from_bytes(body, "big")
    elif name == "set_batch":
        out["batch"] = body[0]
    elif name == "calibrate_co2":
        out["reference_ppm"] = int.from_bytes(body, "big")
    elif name == "set_datarate":
        if body[0] & 0x70:
            raise CommandError("set_datarate: reserved bits set")
        out["adr"] = bool(body[0] & 0x80)
        out["dr"] = body[0] & 0x0F
    elif name == "set_config":
        if not body or not 1 <= body[0] <= 32 or len(body) < 1 + body[0] + 1:
            raise CommandError("set_config: bad key length")
        try:
            out["key"] = body[1 : 1 + body[0]].decode("ascii")
            out["value"] = json.loads(body[1 + body[0] :].decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise CommandError(f"set_config: bad key or value ({exc})") from None
        if len(body) - 1 - body[0] > 64:
            raise CommandError("set_config: value longer than 64 bytes")
    return out
