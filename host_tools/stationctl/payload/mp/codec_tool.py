"""Runs the firmware codec inside unix MicroPython for host tools (encode, bench, tests).

    micropython codec_tool.py        (firmware/ on MICROPYPATH)

Reads one JSON request per line on stdin and answers one JSON line on stdout:
    {"op": "encode", "format": "compact"|"lpp", "batch": N, "max_len": M, "live": bool,
     "now": T|null, "samples": [sample, ...]}  -> {"frames": [[hex, samples_in_frame], ...]}
        live: each frame is built when its newest sample is taken (now = that sample's time;
              a batch holds as many samples as fit with that time: it is sent when full);
        now: every frame is built at time T (ages, or absolute times when T is out of reach)
    {"op": "decode_sample", "hex": H, "now": T|null}                -> {"sample": {...}}
    {"op": "time", "samples": [...], "repeat": R}                   -> encode and json.dumps us
    {"op": "status", "fields": {...}}  {"op": "ack", "cmd_id": I, "status": S[, "result": R]}   -> {"hex": H}
A sample is a decoder-style dict: seq, time, channel keys, health {clock_synced, rh_high,
fault, warmup, implausible (lists of keys)}. Errors answer {"error": "..."}.
"""

import binascii
import json
import sys
import time

import codec
import sample as S

_IDX = {}
for _i in range(S.N_CHANNELS):
    _IDX[S.KEYS[_i]] = _i


def _mask(keys):
    m = 0
    for k in keys or ():
        m |= 1 << _IDX[k]
    return m


def to_sample(d, smp=None):
    smp = smp or S.Sample()
    smp.clear()
    h = d.get("health") or {}
    smp.fault = _mask(h.get("fault"))
    smp.warmup = _mask(h.get("warmup"))
    smp.implausible = _mask(h.get("implausible"))
    smp.flags = (S.FLAG_CLOCK_SYNCED if h.get("clock_synced") else 0) | (
        S.FLAG_RH_HIGH if h.get("rh_high") else 0
    )
    smp.seq = d.get("seq", 0)
    smp.boot = d.get("boot_id") or 0  # the boot an uptime belongs to (sent with uptimes only)
    t = d.get("time")
    if t is None:
        t = d.get("uptime_s", 0)
    smp.time = t
    for i in range(S.N_CHANNELS):
        v = d.get(S.KEYS[i])
        if v is not None:
            smp.set(i, v)
    return smp


def _hex(buf, n):
    return binascii.hexlify(memoryview(buf)[:n]).decode()


def encode(req):
    samples = [to_sample(d) for d in req["samples"]]
    fmt = req.get("format", "compact")
    batch = req.get("batch", 1)
    live = req.get("live", False)
    fixed_now = req.get("now")
    max_len = req.get("max_len", 242)
    buf = bytearray(max(max_len, 64))
    frames = []
    i = 0
    while i < len(samples):
        if fmt == "lpp":
            n = codec.encode_lpp(samples[i], buf)
            frames.append([_hex(buf, n), 1])
            i += 1
        elif batch <= 1:
            s = samples[i]
            n = codec.encode_sample(s, buf, s.time if live else fixed_now)
            frames.append([_hex(buf, n), 1])
            i += 1
        else:
            k = min(batch, len(samples) - i)
            group = samples[i : i + k]
            if live:
                n, used = _live_batch(group, k, buf, max_len)
            else:
                n, used = codec.encode_batch(group, k, buf, max_len, fixed_now)
            if used == 0:
                return {"error": "sample seq %d does not fit %d bytes" % (samples[i].seq, max_len)}
            frames.append([_hex(buf, n), used])
            i += used
    return {"frames": frames}


def _live_batch(group, k, buf, max_len):
    """The longest batch of group[:k] that fits max_len when built as its newest sample is
    taken: find m with encode_batch(group, m, now=group[m - 1].time) using all m samples."""
    m = k
    while True:
        n, used = codec.encode_batch(group, m, buf, max_len, group[m - 1].time)
        if used == m or used == 0:
            break
        m = used  # fewer samples: the newest is another, the time field shrinks
    while 0 < m < k:  # a smaller time field may make room for more
        n2, used2 = codec.encode_batch(group, m + 1, buf, max_len, group[m].time)
        if used2 != m + 1:
            break
        m += 1
    return codec.encode_batch(group, m, buf, max_len, group[m - 1].time) if m else (0, 0)


def timing(req):
    """Per-sample encode_sample and json.dumps times: the best of 3 rounds of `repeat` passes."""
    samples = [to_sample(d) for d in req["samples"]]
    repeat = req.get("repeat", 3)
    buf = bytearray(256)
    dicts = [s.as_dict() for s in samples]
    best_enc = best_json = None
    jbytes = 0
    for _ in range(3):
        t0 = time.ticks_us()
        for _ in range(repeat):
            for s in samples:
                codec.encode_sample(s, buf)
        t1 = time.ticks_us()
        jbytes = 0
        for _ in range(repeat):
            for d in dicts:
                jbytes += len(json.dumps(d))
        t2 = time.ticks_us()
        enc = time.ticks_diff(t1, t0)
        js = time.ticks_diff(t2, t1)
        best_enc = enc if best_enc is None or enc < best_enc else best_enc
        best_json = js if best_json is None or js < best_json else best_json
    n = repeat * len(samples)
    return {
        "encode_us": best_enc / n,
        "json_us": best_json / n,
        "samples": n,
        "json_bytes": jbytes / n,
    }


def decode_sample(req):
    smp = S.Sample()
    codec.decode_sample(binascii.unhexlify(req["hex"]), smp, req.get("now"))
    d = smp.as_dict()
    return {"sample": d}


def decode_many(req):
    """decode_sample over many frames: each a sample dict, or null when FrameError."""
    smp = S.Sample()
    out = []
    for h in req["hexes"]:
        try:
            codec.decode_sample(binascii.unhexlify(h), smp)
            out.append(smp.as_dict())
        except codec.FrameError:
            out.append(None)
    return {"samples": out}


def status(req):
    buf = bytearray(70)  # the longest status frame (docs/payload-format.md 8)
    n = codec.encode_status(buf, **req["fields"])
    return {"hex": _hex(buf, n)}


def ack(req):
    buf = bytearray(5)
    n = codec.encode_ack(buf, req["cmd_id"], req["status"], req.get("result"))
    return {"hex": _hex(buf, n)}


def main():
    ops = {
        "encode": encode,
        "time": timing,
        "decode_sample": decode_sample,
        "status": status,
        "ack": ack,
        "decode_many": decode_many,
    }
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            out = ops[req["op"]](req)
        except (ValueError, KeyError, TypeError) as exc:
            out = {"error": "%s: %s" % (type(exc).__name__, exc)}
        except MemoryError:
            req = out = None
            out = {"error": "MemoryError: the request does not fit the encoder's heap"}
        sys.stdout.write(json.dumps(out))
        sys.stdout.write("\n")


main()
