"""Compact payload codec, format v2 (docs/payload-format.md): frames built in a caller's buffer.

    n = encode_sample(sample, buf[, now])              one sample -> bytes in buf[:n]
    n, used = encode_batch(samples, count, buf, max_len[, now])
                                                       as many of samples[:count] as fit max_len
    decode_sample(frame, sample[, now])                a single-sample frame back into a Sample
    n = encode_status(buf, fw=..., config=..., ...)    status frame
    n = encode_ack(buf, cmd_id, status)                command-ack frame
    n = encode_lpp(sample, buf)                        Cayenne LPP (dashboards)

Every frame is a bit stream packed MSB first; its first byte holds the format version (3 bits),
the frame type (2 bits) and 3 type bits (sample frames: the time kind and the preset bit, set
when the sample carries exactly the eight sensor channels so no presence mask follows). Channel values are quantised to their resolution as
integers q (sample.py order), written with a two-tier code (a short form for everyday city
values, a full form for the whole range). Batches send the first sample absolute and the rest as
Rice-coded deltas with one parameter k per channel and batch (in units of the channel's step
when a sensor reports coarser than the format's resolution, and as zero runs when a channel
mostly stands still), and an escape to the absolute value for jumps; their time field is the newest sample's (age 0 when sent at once).

The hot path (encode_sample, encode_batch) allocates nothing: quantisation reads the IEEE-754
bits of each value through `struct.pack_into` instead of float arithmetic (floats are heap
objects on most ports), and the bit writer keeps its state in module globals.
"""

import struct

from micropython import const

import sample as S

VERSION = const(2)  # uplink frames (v1: battery to 5 V, no steps or zero runs; never deployed)
COMMAND_VERSION = const(1)  # downlink commands (firmware/commands.py)

FRAME_SAMPLE = const(0)
FRAME_BATCH = const(1)
FRAME_STATUS = const(2)
FRAME_ACK = const(3)

# LoRaWAN FPorts (frames are self-describing; the port only routes them on the network server)
FPORT_DATA = const(1)  # sample and batch frames
FPORT_LPP = const(2)  # Cayenne LPP alternative output
FPORT_STATUS = const(3)
FPORT_ACK = const(4)
FPORT_RECEIPT = const(5)  # downlink: a delivery receipt 0x01 seq n (docs/collector.md)
FPORT_COMMAND = const(10)  # downlink commands (firmware/commands.py)

# time kinds (2 bits in the header)
TIME_NOW = const(0)  # no time field: sampled when the frame was built (receive time applies)
_NOW_SLACK_S = const(2)  # "when the frame was built": at most this many seconds before
TIME_AGE16 = const(1)  # age in seconds before the frame was built, 16 bits
TIME_UNIX = const(2)  # unix seconds, 32 bits (station clock synced)
TIME_UPTIME = const(3)  # station uptime seconds, 32 bits (clock not synced; journal records)

# extension channel ids (spec 5.1): frame metadata counts down from 62, measurement
# channels added later count up from 9
EXT_BOOT_ID = const(62)  # the boot an uptime-based time belongs to (firmware/bootid.py)
_BOOT_MAX = const(0xFFFF)

_MAX_BATCH = const(64)
_SEQ_MASK = const(0xFF)  # frames carry seq modulo 256 (receivers dedupe on seq + time)
PRESET = const(0xFF)  # the header's preset bit: channels 0..7 exactly (no presence mask)
_DEF_MIN = const(10)  # the interval code is shortest for 10-minute sampling
RH_HIGH_Q = const(140)  # humidity q above this (70.0 %) means RH high when humidity is sent
_ESC = const(8)  # unary run that escapes a Rice-coded delta to the absolute value code
_MAX_K = const(7)
_MAX_INTERVAL = const(131071)  # 17 bits

# Per channel (sample.py order): q = round(v * (MUL << SHIFT)) + OFF, valid 0..QMAX.
_MUL = (5, 1, 5, 1, 5, 5, 5, 1, 25)
_SHIFT = (1, 1, 1, 0, 1, 1, 1, 0, 2)  # scale 10, 2, 10, 1, 10, 10, 10, 1, 100
_OFF = (400, 0, -3000, 0, 0, 0, 0, -1, 0)
_QMAX = (1250, 200, 8000, 40000, 10000, 10000, 10000, 499, 4000)
_FULL = (11, 8, 13, 16, 14, 14, 14, 9, 12)  # bits of the full form (battery: 0..40 V)
_SLO = (300, 0, 6500, 350, 0, 0, 0, 0, 300)  # short form: q - SLO in SBITS bits
_SBITS = (9, 0, 10, 10, 9, 9, 9, 0, 7)  # 0: the channel has only the full form

_RESETS = ("unknown", "power_on", "hard", "watchdog", "deep_sleep", "soft", "brownout")
# sensor type ids in status frames; index = id (0 = not listed here)
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


class FrameError(ValueError):
    """A frame cannot be decoded (truncated, unknown version or type, bad field)."""


# --- bit writer: state in module globals so the hot path allocates nothing ---
_wbuf = None  # bytearray being written, or None to only count bits
_wpos = 0  # bits written so far
_wlim = 0  # capacity in bits
_wacc = 0  # the bits of the current, unfinished byte (_wpos & 7 of them)


def _wbegin(buf, nbytes):
    global _wbuf, _wpos, _wlim, _wacc
    _wbuf = buf
    _wpos = 0
    _wlim = nbytes * 8
    _wacc = 0


def _put(v, n):
    """Append the low n bits of v (n <= 16 keeps every value a small int on every port)."""
    global _wpos, _wacc
    p = _wpos + n
    buf = _wbuf
    if buf is None:
        _wpos = p
        return
    if p > _wlim:
        raise ValueError("frame buffer too small")
    acc = (_wacc << n) | (v & ((1 << n) - 1))
    left = p & 7  # bits that stay in the accumulator
    i = _wpos >> 3
    k = (p >> 3) - i  # whole bytes completed by this call
    while k > 0:
        k -= 1
        buf[i] = (acc >> (left + 8 * k)) & 0xFF
        i += 1
    if left:
        acc &= (1 << left) - 1
        buf[i] = (acc << (8 - left)) & 0xFF  # the partial byte, zero-padded
        _wacc = acc
    else:
        _wacc = 0
    _wpos = p


# --- times without big-int arithmetic: unix times and uptimes above 2**30 are heap integers
# on ports with 31-bit small ints (every 32-bit board), and any arithmetic on them allocates.
# A time is packed into 4 bytes (no allocation) and differences are taken in 16-bit halves.
_tb = bytearray(16)
_FAR = const(0x3FFFFFFF)  # "further apart than any field can carry": a small int on every port


def _tdiff(a, b):
    """a - b for integer times of any size, without allocating: both are packed as 64-bit
    integers and subtracted in 16-bit limbs from the top; _FAR or -_FAR when the difference
    is 2**30 or more away."""
    t = _tb
    struct.pack_into(">qq", t, 0, a, b)
    acc = 0
    for i in range(0, 8, 2):
        if acc > 0x3FFF:
            return _FAR
        if acc < -0x3FFF:
            return -_FAR
        ha = (t[i] << 8) | t[i + 1]
        hb = (t[i + 8] << 8) | t[i + 9]
        if i == 0:  # the sign limb
            ha -= (ha & 0x8000) << 1
            hb -= (hb & 0x8000) << 1
        acc = (acc << 16) + (ha - hb)
    return acc


def _bitlen(v):
    n = 0
    while v:
        v >>= 1
        n += 1
    return n


def _put_eg(v):
    """Exp-Golomb order 0 of v >= 0: L zeros, then v + 1 in L + 1 bits."""
    v += 1
    n = _bitlen(v)
    _put(0, n - 1)
    _put(v, n)


def _eg_bits(v):
    return 2 * _bitlen(v + 1) - 1


def _zig(d):
    return d << 1 if d >= 0 else ((-d) << 1) - 1


# --- quantisation without float arithmetic ---
_fb = bytearray(4)
_q = [0] * S.N_CHANNELS  # quantised values of the sample being encoded
_prev = [0] * S.N_CHANNELS  # batch: last value sent per channel
_have = 0  # batch: mask of channels with a value in _prev
_present = 0  # mask of channels with a valid value (after range checks)
_impl = 0  # implausible mask incl. channels dropped by the encoder's own range check


def _quant(ch, v):
    """Quantised value of v (int or float) for channel ch, or -1 outside the channel's range."""
    b = _fb
    struct.pack_into(">f", b, 0, v)
    e = ((b[0] & 0x7F) << 1) | (b[1] >> 7)
    if e == 255:
        return -1  # inf, nan
    if e == 0:
        return -1 if _OFF[ch] < 0 else _OFF[ch]  # zero (subnormals round to 0)
    m = (((b[1] & 0x7F) << 16) | (b[2] << 8) | b[3] | 0x800000) * _MUL[ch]
    sh = 150 - e - _SHIFT[ch]
    if sh <= 0:
        return -1  # magnitude >= 2**24: outside every channel's range
    if sh >= 30:
        q = 0
    else:
        q = (m + (1 << (sh - 1))) >> sh
    if b[0] & 0x80:
        q = -q
    q += _OFF[ch]
    if q < 0 or q > _QMAX[ch]:
        return -1
    return q


def rh_high(rh):
    """The RH-high rule of the format: humidity quantised to 0.5 % above 70.0 % (70.2 % sends
    70.0 %: not high; 70.25 % sends 70.5 %: high). Decoders derive the flag with this rule from
    the value they receive; the station sets its flag with it too, so both always agree."""
    return _quant(S.HUMIDITY, rh) > RH_HIGH_Q


def _scan(smp):
    """Quantise smp into _q; set _present and _impl."""
    global _present, _impl
    p = 0
    im = smp.implausible & 0x1FF
    vals = smp.values
    for ch in range(S.N_CHANNELS):
        v = vals[ch]
        if v is None:
            continue
        q = _quant(ch, v)
        if q < 0:
            im |= 1 << ch
        else:
            _q[ch] = q
            p |= 1 << ch
    _present = p
    _impl = im


def _value_bits(ch, q):
    sb = _SBITS[ch]
    if sb == 0:
        return _FULL[ch]
    lo = _SLO[ch]
    if lo <= q < lo + (1 << sb):
        return 1 + sb
    return 1 + _FULL[ch]


def _put_value(ch, q):
    sb = _SBITS[ch]
    if sb == 0:
        _put(q, _FULL[ch])
        return
    lo = _SLO[ch]
    if lo <= q < lo + (1 << sb):
        _put(0, 1)
        _put(q - lo, sb)
    else:
        _put(1, 1)
        _put(q, _FULL[ch])


def _rh_sent(smp):
    """The RH-high flag bit as a state carries it: only when humidity is absent (else receivers
    derive it from the humidity value: q > 140, i.e. above 70.0 %)."""
    return 0 if _present & (1 << S.HUMIDITY) else smp.flags & S.FLAG_RH_HIGH


def _boot_of(smp):
    """The boot id a state carries: an uptime-based sample's boot (0: none is sent). A synced
    time stands on its own and carries none."""
    if smp.flags & S.FLAG_CLOCK_SYNCED:
        return 0
    return smp.boot & _BOOT_MAX


def _put_state(smp, head):
    """Presence, flags and health of the scanned sample. head: the preset bit is in the frame's
    header (the frame's first state), else it starts the state."""
    p = _present
    if not head:
        _put(1 if p == PRESET else 0, 1)
    if p != PRESET:
        _put(p, 9)
    if not p & (1 << S.HUMIDITY):
        _put(smp.flags & S.FLAG_RH_HIGH, 1)
    f = smp.fault & 0x1FF
    w = smp.warmup & 0x1FF
    im = _impl
    b = _boot_of(smp)
    if f | w | im | b:
        _put(1, 1)
        if b:
            _put(0, 3)  # extended: the masks' `which` follows, then the extension list
        _put((4 if f else 0) | (2 if w else 0) | (1 if im else 0), 3)
        if f:
            _put(f, 9)
        if w:
            _put(w, 9)
        if im:
            _put(im, 9)
        if b:
            nb = _bitlen(b)
            _put(0, 3)  # one entry
            _put(EXT_BOOT_ID, 6)
            _put(nb - 1, 5)
            _put(b, nb)
    else:
        _put(0, 1)


def _state_bits(smp, head):
    f = smp.fault & 0x1FF
    w = smp.warmup & 0x1FF
    im = _impl
    p = _present
    n = 1 if head else 2
    if p != PRESET:
        n += 9
    if not p & (1 << S.HUMIDITY):
        n += 1
    b = _boot_of(smp)
    if f | w | im | b:
        n += 3
        if f:
            n += 9
        if w:
            n += 9
        if im:
            n += 9
        if b:
            n += 3 + 3 + 6 + 5 + _bitlen(b)
    return n


def _same_state(b):
    """True when scanned sample b has the presence, flags and health kept by _keep_state."""
    return (
        _present == _st_present
        and _rh_sent(b) == _st_flags
        and (b.fault & 0x1FF) == _st_fault
        and (b.warmup & 0x1FF) == _st_warm
        and _impl == _st_impl
        and _boot_of(b) == _st_boot
    )


_st_present = 0
_st_flags = 0
_st_fault = 0
_st_warm = 0
_st_impl = 0
_st_boot = 0


def _keep_state(smp):
    global _st_present, _st_flags, _st_fault, _st_warm, _st_impl, _st_boot
    _st_present = _present
    _st_flags = _rh_sent(smp)
    _st_fault = smp.fault & 0x1FF
    _st_warm = smp.warmup & 0x1FF
    _st_impl = _impl
    _st_boot = _boot_of(smp)


_tkind = 0
_tval = 0


def _time_of(smp, now):
    """Choose the time kind and value of the frame's (first) sample."""
    global _tkind, _tval
    if now is not None:
        age = _tdiff(now, smp.time)
        # a sample "after now" (the clock was stepped back) or older than 18 h keeps its
        # absolute time
        if 0 <= age <= 0xFFFF:
            _tkind = TIME_NOW if age <= _NOW_SLACK_S else TIME_AGE16
            _tval = age
            return
    _tkind = TIME_UNIX if smp.flags & S.FLAG_CLOCK_SYNCED else TIME_UPTIME
    struct.pack_into(">I", _tabs, 0, smp.time)  # the low 32 bits, as bytes (no allocation)


_tabs = bytearray(4)  # the frame's absolute time (kinds 2, 3), big-endian


def _put_time():
    k = _tkind
    if k == TIME_AGE16:
        _put(_tval, 16)
    elif k != TIME_NOW:
        t = _tabs
        _put((t[0] << 8) | t[1], 16)
        _put((t[2] << 8) | t[3], 16)


def _header(ftype):
    _put((VERSION << 5) | (ftype << 3) | (_tkind << 1) | (1 if _present == PRESET else 0), 8)


def _put_single(smp):
    _header(FRAME_SAMPLE)
    _put(smp.seq & _SEQ_MASK, 8)
    _put_time()
    _put_state(smp, True)
    p = _present
    for ch in range(S.N_CHANNELS):
        if p & (1 << ch):
            _put_value(ch, _q[ch])


def _finish():
    """Frame length in bytes (the last byte is already written, zero-padded)."""
    return (_wpos + 7) >> 3


def encode_sample(smp, buf, now=None):
    """Encode one sample as a single-sample frame into buf; return its length in bytes.

    `now` is the station's current time in the sample's clock (unix seconds when synced, else
    uptime seconds): given, the frame carries the sample's age when it is below 65536 s (no
    time field at all for an age of at most _NOW_SLACK_S: the cheapest live frame); omitted
    (journal records), a synced sample carries its unix time and an unsynced one its uptime.
    """
    _scan(smp)
    _time_of(smp, now)
    _wbegin(buf, len(buf))
    _put_single(smp)
    return _finish()


# --- batches ---
_cost = [0] * (S.N_CHANNELS * (_MAX_K + 1))  # Rice cost per channel and k, cumulative
_k = [0] * S.N_CHANNELS  # chosen k per channel
_kfit = [0] * S.N_CHANNELS  # best k of the longest prefix that fitted
# zero-run mode (a channel whose deltas are mostly 0, e.g. pressure in whole hPa): its deltas
# go as segments EG(r) + r zero deltas + one non-zero delta, Rice-coded as zigzag - 1
_rcost = [0] * (S.N_CHANNELS * (_MAX_K + 1))  # run mode: Rice cost of the non-zero deltas
_rseg = [0] * S.N_CHANNELS  # run mode: bits of the closed segments' run lengths
_ropen = [0] * S.N_CHANNELS  # run mode: zeros in the open segment (0: none open)
_rk = [0] * S.N_CHANNELS  # run mode: best k of the current prefix
_mode = [0] * S.N_CHANNELS  # 1: run mode for the current prefix
_modefit = [0] * S.N_CHANNELS  # run mode of the longest prefix that fitted
_extfit = 0  # 1: the fitted batch sends the per-channel steps and modes
_qs = [0] * (_MAX_BATCH * S.N_CHANNELS)  # the batch's quantised values, to look ahead for runs
_pres = [0] * _MAX_BATCH  # the batch's presence masks
_pending = [0] * S.N_CHANNELS  # run mode while writing: zero deltas still to come
_nonzero = [0] * S.N_CHANNELS  # run mode while writing: the next delta is the non-zero one
_step = [1] * S.N_CHANNELS  # per channel: every delta of the batch is a multiple of this


def _gcd(a, b):
    while b:
        a, b = b, a % b
    return a


def _find_steps(samples, run):
    """Fill _step: per channel the largest step that divides every delta of samples[:run]
    (a sensor reporting whole hPa moves pressure in steps of 10 quanta); 1 when there is none."""
    global _have
    _have = 0
    for ch in range(S.N_CHANNELS):
        _step[ch] = 0
    for i in range(run):
        _scan(samples[i])
        p = _present
        for ch in range(S.N_CHANNELS):
            bit = 1 << ch
            if not p & bit:
                continue
            q = _q[ch]
            if _have & bit:
                d = q - _prev[ch]
                _step[ch] = _gcd(_step[ch], d if d >= 0 else -d)
            else:
                _have |= bit
            _prev[ch] = q
    for ch in range(S.N_CHANNELS):
        if _step[ch] == 0:
            _step[ch] = 1  # no change at all: any step would do, 1 costs the least


def _rice_bits(z, k, ch, q):
    u = z >> k
    if u < _ESC:
        return u + 1 + k
    return _ESC + _value_bits(ch, q)


def _put_rice(z, k, ch, q):
    u = z >> k
    if u < _ESC:
        _put((1 << (u + 1)) - 2, u + 1)  # u ones then a zero
        if k:
            _put(z & ((1 << k) - 1), k)
    else:
        _put((1 << _ESC) - 1, _ESC)
        _put_value(ch, q)


def _run_length(samples, count):
    """How many leading samples form one batch (consecutive seq, shared clock, steady spacing)."""
    global _interval
    if count <= 0:
        return 0
    if count > _MAX_BATCH:
        count = _MAX_BATCH
    first = samples[0]
    if count == 1:
        _interval = 0
        return 1
    step = _tdiff(samples[1].time, first.time)
    if step <= 0 or step > _MAX_INTERVAL:
        _interval = 0
        return 1
    _interval = step
    sync = first.flags & S.FLAG_CLOCK_SYNCED
    prev = first
    for i in range(1, count):
        s = samples[i]
        if (s.seq - prev.seq) & _SEQ_MASK != 1 or (s.flags & S.FLAG_CLOCK_SYNCED) != sync:
            return i
        j = _tdiff(s.time, prev.time) - step
        if j > 0x7FFF or j < -0x7FFF:
            return i
        prev = s
    return count


_interval = 0


def _best_k(ch, cost):
    base = ch * (_MAX_K + 1)
    best = 0
    bc = cost[base]
    for k in range(1, _MAX_K + 1):
        c = cost[base + k]
        if c < bc:
            bc = c
            best = k
    return best


def _tbits(smp, now):
    """Bits of the time field when smp is a batch's last sample (see _time_of)."""
    if now is not None:
        age = _tdiff(now, smp.time)
        if 0 <= age <= 0xFFFF:
            return 0 if age <= _NOW_SLACK_S else 16
    return 32


def _fit(samples, run, max_bits, now):
    """Longest prefix (<= run) whose batch frame fits max_bits; fills _kfit, _modefit and
    _extfit. Counts only."""
    global _have, _extfit
    for i in range(len(_cost)):
        _cost[i] = 0
        _rcost[i] = 0
    for ch in range(S.N_CHANNELS):
        _rseg[ch] = 0
        _ropen[ch] = 0
    _have = 0
    # header, count, seq, interval, uniform flag (time field, union mask and the per-sample
    # prefixes are added per prefix below)
    fixed = 8 + 6 + 8 + _interval_bits() + 1
    union = 0
    extras = 1  # the 'extras' bit, then per channel its step and mode when it is set
    stepped = False
    first = 0
    prefixes = 0  # bits of the per-sample prefixes, needed unless the batch is uniform
    uniform = True
    fitted = 0
    for i in range(run):
        s = samples[i]
        _scan(s)
        if i == 0:
            fixed += _state_bits(s, True)
            _keep_state(s)
            first = _present
        else:
            prefixes += 1
            j = _tdiff(s.time, samples[i - 1].time) - _interval
            changed = not _same_state(s)
            if changed or j:
                uniform = False
                prefixes += 1 + _state_bits(s, False) if changed else 1
                prefixes += _eg_bits(_zig(j))
                if changed:
                    _keep_state(s)
        p = _present
        for ch in range(S.N_CHANNELS):
            bit = 1 << ch
            if not p & bit:
                continue
            q = _q[ch]
            if not union & bit:
                union |= bit
                fixed += 3
                st = _step[ch]
                extras += _eg_bits(st - 1) + 1
                if st > 1:
                    stepped = True
            if _have & bit:
                z = _zig((q - _prev[ch]) // _step[ch])
                base = ch * (_MAX_K + 1)
                for k in range(_MAX_K + 1):
                    _cost[base + k] += _rice_bits(z, k, ch, q)
                if z == 0:
                    _ropen[ch] += 1
                else:
                    _rseg[ch] += _eg_bits(_ropen[ch])  # closes the segment (EG(0): none open)
                    _ropen[ch] = 0
                    for k in range(_MAX_K + 1):
                        _rcost[base + k] += _rice_bits(z - 1, k, ch, q)
            else:
                fixed += _value_bits(ch, q)
                _have |= bit
            _prev[ch] = q
        total = fixed + _tbits(s, now) + (1 if union == first else 10)
        if not uniform:
            total += prefixes
        plain = 1  # without extras: the extras bit alone, every channel in plain Rice mode
        best = extras  # with extras: each channel in its cheaper mode
        for ch in range(S.N_CHANNELS):
            if union & (1 << ch):
                base = ch * (_MAX_K + 1)
                k = _best_k(ch, _cost)
                _k[ch] = k
                pc = _cost[base + k]
                plain += pc
                rk = _best_k(ch, _rcost)
                _rk[ch] = rk
                rc = _rcost[base + rk] + _rseg[ch] + (_eg_bits(_ropen[ch]) if _ropen[ch] else 0)
                _mode[ch] = 1 if rc < pc else 0
                best += rc if rc < pc else pc
        ext = 1 if stepped or best < plain else 0
        total += best if ext else plain
        if total > max_bits:
            break
        fitted = i + 1
        _extfit = ext
        for ch in range(S.N_CHANNELS):
            m = _mode[ch] if ext else 0
            _modefit[ch] = m
            _kfit[ch] = _rk[ch] if m else _k[ch]
    return fitted


def _interval_bits():
    if _interval % 60 == 0:
        return 1 + _eg_bits(_zig(_interval // 60 - _DEF_MIN))
    return 18


def _put_interval():
    """Whole minutes: '1' + Exp-Golomb(zigzag(minutes - 10)); else '0' + 17 bits of seconds."""
    if _interval % 60 == 0:
        _put(1, 1)
        _put_eg(_zig(_interval // 60 - _DEF_MIN))
    else:
        _put(0, 1)
        _put(_interval >> 16, 1)
        _put(_interval & 0xFFFF, 16)


def _put_batch(samples, m):
    global _have
    first = samples[0]
    _scan(first)
    _header(FRAME_BATCH)
    _put(m - 1, 6)
    _put(first.seq & _SEQ_MASK, 8)
    _put_time()
    _put_interval()
    union = 0
    uniform = 1
    _scan(first)
    _keep_state(first)
    for i in range(m):
        s = samples[i]
        _scan(s)
        union |= _present
        _pres[i] = _present
        base = i * S.N_CHANNELS
        for ch in range(S.N_CHANNELS):
            _qs[base + ch] = _q[ch]
        if i and (_tdiff(s.time, samples[i - 1].time) != _interval or not _same_state(s)):
            uniform = 0
    _put(uniform, 1)  # 1: no per-sample prefixes (same state, steady spacing throughout)
    _scan(first)
    _put_state(first, True)
    if union == _present:
        _put(1, 1)  # the batch's channels are the first sample's
    else:
        _put(0, 1)
        _put(union, 9)
    for ch in range(S.N_CHANNELS):
        if union & (1 << ch):
            _put(_kfit[ch], 3)
        _pending[ch] = 0
        _nonzero[ch] = 0
    _put(_extfit, 1)  # 1: per channel a step (deltas in units of it) and a mode follow
    if _extfit:
        for ch in range(S.N_CHANNELS):
            if union & (1 << ch):
                _put_eg(_step[ch] - 1)
                _put(_modefit[ch], 1)
    _have = 0
    for i in range(m):
        s = samples[i]
        if i == 0:
            _keep_state(s)
        else:
            _scan(s)
            j = _tdiff(s.time, samples[i - 1].time) - _interval
            changed = not _same_state(s)
            if changed or j:
                _put(1, 1)
                _put(1 if changed else 0, 1)
                if changed:
                    _put_state(s, False)
                    _keep_state(s)
                _put_eg(_zig(j))
            elif not uniform:
                _put(0, 1)
        p = _present
        for ch in range(S.N_CHANNELS):
            bit = 1 << ch
            if not p & bit:
                continue
            q = _q[ch]
            if not _have & bit:
                _put_value(ch, q)
                _have |= bit
            elif not _modefit[ch]:
                _put_rice(_zig((q - _prev[ch]) // _step[ch]), _kfit[ch], ch, q)
            elif _pending[ch]:
                _pending[ch] -= 1  # inside a run of zero deltas: nothing to send
            elif _nonzero[ch]:
                _nonzero[ch] = 0
                _put_rice(_zig((q - _prev[ch]) // _step[ch]) - 1, _kfit[ch], ch, q)
            else:
                r = _zero_run(ch, i, m, _prev[ch])
                _put_eg(r)
                if r:
                    _pending[ch] = r - 1
                    _nonzero[ch] = 1
                else:
                    _put_rice(_zig((q - _prev[ch]) // _step[ch]) - 1, _kfit[ch], ch, q)
            _prev[ch] = q


def _zero_run(ch, i, m, prev):
    """Zero deltas of channel ch from sample i on: its values equal to prev, up to the first
    other value (samples without the channel do not count)."""
    r = 0
    bit = 1 << ch
    for j in range(i, m):
        if _pres[j] & bit:
            if _qs[j * S.N_CHANNELS + ch] != prev:
                break
            r += 1
    return r


def encode_batch(samples, count, buf, max_len, now=None):
    """Pack as many of samples[:count] as fit max_len bytes; return [nbytes, samples_used].

    Samples in one batch have consecutive seq numbers and the same clock kind; the batch ends
    early at a gap. One sample is sent as a (smaller) single-sample frame. (0, 0) when not even
    one sample fits max_len (e.g. a full station at US915 DR0: raise the data rate).
    """
    res = _result
    res[0] = 0
    res[1] = 0
    if max_len > len(buf):
        max_len = len(buf)
    if count > len(samples):
        count = len(samples)
    run = _run_length(samples, count)
    if run == 0:
        return res
    first = samples[0]
    max_bits = max_len * 8
    m = 0
    if run > 1:
        _find_steps(samples, run)
        m = _fit(samples, run, max_bits, now)
    if m <= 1:
        _time_of(first, now)
        _scan(first)
        _wbegin(None, 0)
        _put_single(first)
        if _wpos > max_bits:
            return res
        _wbegin(buf, max_len)
        _put_single(first)
        res[0] = _finish()
        res[1] = 1
        return res
    _time_of(samples[m - 1], now)  # a batch carries the time of its newest sample
    _wbegin(buf, max_len)
    _put_batch(samples, m)
    res[0] = _finish()
    res[1] = m
    return res


_result = [0, 0]  # encode_batch's answer, reused (unpack it at once: n, used = ...)


# --- decoding (journal records back into samples) ---
_rbuf = None
_rpos = 0
_rlim = 0


def _get(n):
    global _rpos
    p = _rpos
    if p + n > _rlim:
        raise FrameError("frame truncated")
    v = 0
    buf = _rbuf
    while n > 0:
        i = p >> 3
        avail = 8 - (p & 7)
        take = avail if avail < n else n
        v = (v << take) | ((buf[i] >> (avail - take)) & ((1 << take) - 1))
        n -= take
        p += take
    _rpos = p
    return v


def _get_value(ch):
    sb = _SBITS[ch]
    if sb == 0:
        q = _get(_FULL[ch])
    elif _get(1) == 0:
        q = _SLO[ch] + _get(sb)
    else:
        q = _get(_FULL[ch])
    if q > _QMAX[ch]:
        raise FrameError("%s out of range" % S.KEYS[ch])
    return q


def _read_extension():
    """Read an extension list; return the boot id it carries (0: none). Channels added after
    this firmware are stepped over by their width."""
    boot = 0
    for _ in range(_get(3) + 1):
        ch = _get(6)
        if ch < S.N_CHANNELS:
            raise FrameError("extension channel id of a base channel")
        w = _get(5) + 1
        if ch != EXT_BOOT_ID:
            _get(w)
        elif w > 16:
            raise FrameError("boot id wider than 16 bits")
        else:
            boot = _get(w)
    return boot


def value_of(ch, q):
    """The channel value (float, int for 1-unit channels) of a quantised value."""
    scale = _MUL[ch] << _SHIFT[ch]
    if scale == 1:
        return q - _OFF[ch]
    return (q - _OFF[ch]) / scale


def decode_sample(frame, smp, now=None):
    """Fill smp from a single-sample frame (raises FrameError, leaving smp unchanged, if bad).

    Times: TIME_UNIX and TIME_UPTIME frames give their time as sent; an age frame gives
    `now - age` (now defaults to 0, so the time is minus the age).
    """
    global _rbuf, _rpos, _rlim
    _rbuf = frame
    _rpos = 0
    _rlim = len(frame) * 8
    h = _get(8)
    if h >> 5 != VERSION:
        raise FrameError("unknown frame version %d" % (h >> 5))
    if (h >> 3) & 3 != FRAME_SAMPLE:
        raise FrameError("not a single-sample frame (type %d)" % ((h >> 3) & 3))
    tk = (h >> 1) & 3
    seq = _get(8)
    if tk == TIME_NOW:
        t = 0
    elif tk == TIME_AGE16:
        t = _get(16)
    else:
        t = (_get(16) << 16) | _get(16)
    present = PRESET if h & 1 else _get(9)
    flags = S.FLAG_CLOCK_SYNCED if tk == TIME_UNIX else 0
    if not present & (1 << S.HUMIDITY):
        flags |= _get(1)  # FLAG_RH_HIGH
    fault = warm = impl = boot = 0
    if _get(1):
        which = _get(3)
        ext = which == 0  # extension channels follow the masks (spec 5.1)
        if ext:
            which = _get(3)
        if which & 4:
            fault = _get(9)
        if which & 2:
            warm = _get(9)
        if which & 1:
            impl = _get(9)
        if ext:
            boot = _read_extension()
    qs = _q
    for ch in range(S.N_CHANNELS):
        if present & (1 << ch):
            qs[ch] = _get_value(ch)
    if present & (1 << S.HUMIDITY) and qs[S.HUMIDITY] > RH_HIGH_Q:
        flags |= S.FLAG_RH_HIGH  # derived from the quantised humidity: above 70.0 %
    if (_rlim - _rpos) >= 8:
        raise FrameError("trailing bytes after the sample")
    if _rpos & 7 and _get(8 - (_rpos & 7)):
        raise FrameError("padding bits not zero")
    if tk < TIME_UNIX:
        t = (now if now is not None else 0) - t
    smp.clear()
    smp.seq = seq
    smp.time = t
    smp.flags = flags
    smp.fault = fault
    smp.warmup = warm
    smp.implausible = impl
    smp.boot = boot
    for ch in range(S.N_CHANNELS):
        if present & (1 << ch):
            smp.values[ch] = value_of(ch, qs[ch])
    return smp


# --- status and ack frames (byte-aligned after the header byte) ---
def encode_ack(buf, cmd_id, status, result=None):
    """Command-ack frame: header, cmd_id (0..255), status (0 = done, else an error code), and for
    commands that measure something a signed 16-bit result (calibrate_co2: the correction, ppm)."""
    if not 0 <= cmd_id <= 255 or not 0 <= status <= 255:
        raise ValueError("cmd_id and status must be 0..255")
    if result is not None and not -32768 <= result <= 32767:
        raise ValueError("ack result must be -32768..32767")
    buf[0] = (VERSION << 5) | (FRAME_ACK << 3)
    buf[1] = cmd_id
    buf[2] = status
    if result is None:
        return 3
    struct.pack_into(">h", buf, 3, result)
    return 5


def sensor_type_id(name):
    for i in range(1, len(SENSOR_TYPES)):
        if SENSOR_TYPES[i] == name:
            return i
    return 0


_STATUS_FIELDS = (
    "fw", "config", "reset", "uptime_s", "journal", "sensors", "faulty", "laser_h", "wifi",
    "dropped",
)  # fmt: skip
_STATUS_WIFI = const(0x80)  # byte 15 bit 7: the frame ends with the Wi-Fi block (rssi, network)
_STATUS_DROPPED = const(0x40)  # byte 15 bit 6: the dropped count (u32) follows the run hours
# sensors with a laser (rated ~8,000 h): the status frame may carry their run hours
LASER_TYPES = ("sps30", "sds011", "pms5003")


def encode_status(buf, **fields):
    """Status frame. Fields: fw "M.m.p", config (8 hex digits), reset (reset-cause name),
    uptime_s, journal (records waiting), sensors (sensor type names), faulty (bit per sensor),
    laser_h (optional: run hours of each laser sensor in `sensors`, in their order),
    wifi (optional: (rssi_dbm, network index) of the Wi-Fi link in use), dropped (optional:
    records the journal lost before delivery, cumulative).
    Raises ValueError for an unknown field or a bad value; buf is unchanged then."""
    for key in fields:
        if key not in _STATUS_FIELDS:
            raise ValueError("unknown status field %s" % key)
    fw = fields.get("fw", "0.0.0")
    parts = fw.split(".")
    if len(parts) != 3:
        raise ValueError("fw must be major.minor.patch")
    ver = [0, 0, 0]
    for i in range(3):
        try:
            ver[i] = int(parts[i])
        except ValueError:
            raise ValueError("fw must be major.minor.patch") from None
        if not 0 <= ver[i] <= 255:
            raise ValueError("fw parts must be 0..255")
    digest = fields.get("config", "00000000")
    if len(digest) != 8:
        raise ValueError("config digest must be 8 hex digits")
    try:
        dg = int(digest, 16)
    except ValueError:
        raise ValueError("config digest must be 8 hex digits") from None
    reset = fields.get("reset", "unknown")
    rc = _RESETS.index(reset) if reset in _RESETS else 0
    up = fields.get("uptime_s", 0)
    if up < 0:
        raise ValueError("uptime_s must be >= 0")
    up = int(up)
    if up > 0xFFFFFFFF:
        up = 0xFFFFFFFF
    jd = fields.get("journal", 0)
    if jd < 0:
        raise ValueError("journal must be >= 0")
    if jd > 0xFFFF:
        jd = 0xFFFF
    sensors = fields.get("sensors", ())
    if len(sensors) > 16:
        raise ValueError("at most 16 sensors")
    faulty = fields.get("faulty", 0)
    laser_h = fields.get("laser_h")
    n = 16 + len(sensors)
    if laser_h is not None:
        lasers = 0
        for name in sensors:
            if name in LASER_TYPES:
                lasers += 1
        if len(laser_h) != lasers:
            raise ValueError("laser_h needs one value per laser sensor (%d)" % lasers)
        for h in laser_h:
            if h < 0:
                raise ValueError("laser_h must be >= 0")
        n += 2 * lasers
    wifi = fields.get("wifi")
    if wifi is not None:
        rssi, net = wifi
        if not -128 <= rssi <= 0 or not 0 <= net <= 255:
            raise ValueError("wifi needs rssi -128..0 dBm and a network index 0..255")
        n += 2
    dropped = fields.get("dropped")
    if dropped is not None:
        if dropped < 0:
            raise ValueError("dropped must be >= 0")
        n += 4
    if len(buf) < n:
        raise ValueError("frame buffer too small")
    buf[0] = (VERSION << 5) | (FRAME_STATUS << 3)
    buf[1] = ver[0]
    buf[2] = ver[1]
    buf[3] = ver[2]
    flags = (_STATUS_WIFI if wifi else 0) | (_STATUS_DROPPED if dropped is not None else 0)
    struct.pack_into(">IBIHB", buf, 4, dg, rc, up, jd, len(sensors) | flags)
    for i in range(len(sensors)):
        buf[16 + i] = sensor_type_id(sensors[i]) | (0x80 if faulty & (1 << i) else 0)
    if laser_h is not None:
        for i in range(len(laser_h)):
            h = int(laser_h[i])
            struct.pack_into(">H", buf, 16 + len(sensors) + 2 * i, h if h < 0xFFFF else 0xFFFF)
    if dropped is not None:
        dropped = int(dropped)
        at = n - 6 if wifi is not None else n - 4  # before the Wi-Fi block
        struct.pack_into(">I", buf, at, dropped if dropped < 0xFFFFFFFF else 0xFFFFFFFF)
    if wifi is not None:
        buf[n - 2] = wifi[0] & 0xFF
        buf[n - 1] = wifi[1]
    return n


# --- Cayenne LPP (types the built-in decoders of The Things Stack and ChirpStack accept) ---
LPP_DIGITAL_IN = const(0)  # 1 byte: here the channels left out (LPP_LEFT_OUT_CHANNEL)
LPP_ANALOG_IN = const(2)  # 0.01 signed, 2 bytes
LPP_ILLUMINANCE = const(101)  # unsigned 16 bit, 1 unit (carries ppm and the VOC index here)
LPP_TEMPERATURE = const(103)  # 0.1 degC signed, 2 bytes
LPP_HUMIDITY = const(104)  # 0.5 %, 1 byte
LPP_BAROMETER = const(115)  # 0.1 hPa unsigned, 2 bytes

# per channel: LPP type (LPP channel number = channel index + 1)
LPP_TYPES = (
    LPP_TEMPERATURE,
    LPP_HUMIDITY,
    LPP_BAROMETER,
    LPP_ILLUMINANCE,
    LPP_ANALOG_IN,
    LPP_ANALOG_IN,
    LPP_ANALOG_IN,
    LPP_ILLUMINANCE,
    LPP_ANALOG_IN,
)
# LPP raw value = round(v * 10^dec) from the quantised value: (q - OFF) * LPP_MUL // LPP_DIV
_LPP_MUL = (1, 1, 1, 1, 10, 10, 10, 1, 1)
# LPP channel 10 (after the nine channels), digital input: bit i set = channel PM1 + i (PM above
# 327.67 ug/m3) did not fit its analog-input type and was left out. Sent only when one was.
LPP_LEFT_OUT_CHANNEL = const(10)


def encode_lpp(smp, buf):
    """Cayenne LPP of the sample's valid channels; values the LPP type cannot hold (PM above
    327.67) are left out and named in a digital input on LPP_LEFT_OUT_CHANNEL. Returns the
    length; sequence, time and health are not carried."""
    _scan(smp)
    n = 0
    left_out = 0
    p = _present
    for ch in range(S.N_CHANNELS):
        if not p & (1 << ch):
            continue
        t = LPP_TYPES[ch]
        raw = (_q[ch] - _OFF[ch]) * _LPP_MUL[ch]
        if t == LPP_HUMIDITY:
            size = 3
        else:
            size = 4
            if t == LPP_ANALOG_IN and raw > 32767:
                left_out |= 1 << (ch - S.PM1_0)
                continue
        if n + size > len(buf):
            raise ValueError("frame buffer too small")
        buf[n] = ch + 1
        buf[n + 1] = t
        if size == 3:
            buf[n + 2] = raw
        else:
            raw &= 0xFFFF  # temperature: two's complement
            buf[n + 2] = raw >> 8
            buf[n + 3] = raw & 0xFF
        n += size
    if left_out:
        if n + 3 > len(buf):
            raise ValueError("frame buffer too small")
        buf[n] = LPP_LEFT_OUT_CHANNEL
        buf[n + 1] = LPP_DIGITAL_IN
        buf[n + 2] = left_out
        n += 3
    return n
