# Firmware codec inside MicroPython: zero allocation on the hot path, range handling, batching
# limits, the journal inverse (decode_sample) and fuzzing of it.
# mp-heapsize: 256K
# mp-ports: unix wasm32
import micropython

import codec
import sample as S
from mptest import eq, raises

T0 = 1767225600
FULL = (21.43, 45.5, 1013.21, 612, 4.1, 6.3, 9.8, 102, 3.71)
BUF = bytearray(256)


def make(seq=1, t=T0, vals=FULL, synced=True):
    s = S.Sample()
    for i in range(S.N_CHANNELS):
        if vals[i] is not None:
            s.set(i, vals[i])
    s.seq = seq
    s.time = t
    s.flags = S.FLAG_CLOCK_SYNCED if synced else 0
    return s


def series(n, step=600, synced=True):
    out = []
    for k in range(n):
        vals = [v + (k % 4) * 0.1 if v is not None else None for v in FULL]
        out.append(make(100 + k, T0 + step * k, vals, synced))
    return out


def locked(fn):
    """Call fn() with the heap locked: any allocation raises MemoryError.

    fn is made before locking; no star-args call and no `return` inside try/finally here,
    as those allocate in the test harness itself."""
    micropython.heap_lock()
    try:
        r = fn()
    finally:
        micropython.heap_unlock()
    return r


def test_encode_sample_allocates_nothing():
    s = make()
    n0 = codec.encode_sample(s, BUF)
    for now in (None, T0, T0 + 77):
        s.seq += 1
        n = locked(lambda: codec.encode_sample(s, BUF, now))  # noqa: B023 - called at once
        if now is None:
            eq(n, n0, "same sample, same length")
    s.flags = 0  # unsynced: uptime time kind
    locked(lambda: codec.encode_sample(s, BUF))


def test_encode_batch_allocates_nothing():
    ss = series(32)
    out = bytearray(242)
    for max_len in (11, 51, 115, 242):
        res = locked(lambda: codec.encode_batch(ss, 32, out, max_len))  # noqa: B023 - called at once
        n, used = res[0], res[1]
        if max_len == 11:
            eq(used, 0, "a full station sample does not fit 11 bytes")
        else:
            if not 1 <= used <= 32 or n > max_len:
                raise AssertionError("max_len %d: %d bytes, %d used" % (max_len, n, used))
    now = T0 + 600 * 32  # made before locking: above 2**30 it is a heap int on 32-bit ports
    locked(lambda: codec.encode_batch(ss, 32, out, 242, now))


def test_batch_of_coarse_readings_uses_steps_and_allocates_nothing():
    """Whole hPa, whole % RH, whole ug/m3: deltas go in units of 10, 2 and 10 quanta (the
    'stepped' bit after the Rice parameters); finding the steps allocates nothing either."""
    ss = []
    for k in range(24):
        vals = (20.0 + (k % 5) * 0.1, 60.0 + k % 3, 1008.0 + k // 8, None,
                None, 7.0 + k % 4, 12.0 + k % 6, None, None)  # fmt: skip
        ss.append(make(200 + k, T0 + 600 * k, vals))
    out = bytearray(242)
    now = T0 + 600 * 23
    res = locked(lambda: codec.encode_batch(ss, 24, out, 242, now))
    eq(res[1], 24, "all 24 samples in one frame")
    eq(codec._step[S.PRESSURE], 10, "pressure step: 1 hPa")
    eq(codec._step[S.HUMIDITY], 2, "humidity step: 1 %")
    eq(codec._step[S.PM2_5], 10, "PM2.5 step: 1 ug/m3")
    eq(codec._step[S.TEMPERATURE], 1, "temperature: no step")
    eq(codec._modefit[S.PRESSURE], 1, "pressure changes every 8th sample: zero-run mode")
    eq(codec._modefit[S.TEMPERATURE], 0, "temperature changes all the time: plain Rice")
    fine = series(24)  # fine-grained: no step, the frame pays the one 'stepped' bit
    locked(lambda: codec.encode_batch(fine, 24, out, 242, now))
    eq(codec._step[S.PRESSURE], 1, "fine pressure: no step")


def test_quantisation_without_floats_matches_rounding():
    # _quant reads IEEE-754 bits; compare with float rounding away from ties
    cases = (
        (0, 21.43, 614),
        (0, -39.96, 0),
        (0, 84.96, 1250),
        (1, 45.74, 91),
        (2, 300.0, 0),
        (2, 1100.0, 8000),
        (3, 39999.6, 40000),
        (4, 0.04, 0),
        (7, 1, 0),
        (8, 4.996, 500),
        (8, 13.2, 1320),  # a 12 V lead-acid or LiFePO4 station
        (8, 39.996, 4000),
        (0, -3.25, 367),
        (8, 3.706, 371),
    )
    for ch, v, q in cases:
        eq(codec._quant(ch, v), q, "%s %r" % (S.KEYS[ch], v))
    for ch, v in (
        (0, -40.06),
        (0, 85.06),
        (2, 299.9),
        (3, 40000.6),
        (7, 0.4),
        (8, 40.006),
        (4, -0.06),
        (0, float("nan")),
        (0, float("inf")),
        (3, 1e30),
    ):
        eq(codec._quant(ch, v), -1, "%s %r out of range" % (S.KEYS[ch], v))


def test_out_of_range_value_is_sent_invalid_and_flagged():
    s = make()
    s.values[S.CO2] = 45000.0  # bypassing Sample.set: the encoder must still refuse it
    n = codec.encode_sample(s, BUF)
    d = S.Sample()
    codec.decode_sample(memoryview(BUF)[:n], d)
    eq(d.values[S.CO2], None, "co2 not sent")
    eq(d.implausible, 1 << S.CO2, "co2 flagged")
    eq(d.values[S.TEMPERATURE], 21.4, "others kept")


def test_decode_sample_round_trip_and_time_kinds():
    s = make(seq=70000)
    s.fault = 1 << S.PM10
    s.warmup = 1 << S.VOC
    s.flags |= S.FLAG_RH_HIGH  # not sent: humidity (45.5 %) is, and says "not high"
    d = S.Sample()
    n = codec.encode_sample(s, BUF)
    codec.decode_sample(BUF[:n], d)
    eq(d.seq, 70000 & 0xFF, "seq is sent modulo 256")
    eq(d.time, T0, "unix time")
    eq((d.fault, d.warmup, d.flags), (s.fault, s.warmup, S.FLAG_CLOCK_SYNCED), "health")
    for i in range(S.N_CHANNELS):
        res = (0.1, 0.5, 0.1, 1, 0.1, 0.1, 0.1, 1, 0.01)[i]
        if abs(d.values[i] - s.values[i]) > res / 2 + 1e-4:
            raise AssertionError("%s %r -> %r" % (S.KEYS[i], s.values[i], d.values[i]))
    n = codec.encode_sample(s, BUF, T0 + 300)  # live: age 300 s
    codec.decode_sample(BUF[:n], d, T0 + 300)
    eq(d.time, T0, "age relative to now")
    u = make(t=5000, synced=False)
    n = codec.encode_sample(u, BUF)
    codec.decode_sample(BUF[:n], d)
    eq(d.time, 5000, "uptime kind keeps the uptime")
    eq(d.flags, 0, "kind 3: clock not synced")
    eq(codec.encode_sample(u, BUF, 4000), n, "sample after now: absolute time (clock stepped back)")
    eq(BUF[0] >> 1 & 3, codec.TIME_UPTIME, "kind 3")
    eq(codec.encode_sample(u, BUF, 5000 + 65536), n, "older than 65535 s: absolute time")
    eq(codec.encode_sample(u, BUF, 5000), n - 4, "age 0: no time field")


def test_time_kind_follows_the_age():
    s = make()
    for age, kind, nbytes in (
        (0, 0, 15),
        (1, 0, 15),
        (2, 0, 15),
        (3, 1, 17),
        (65535, 1, 17),
        (65536, 2, 19),
        (-1, 2, 19),
    ):
        eq(codec.encode_sample(s, BUF, T0 + age), nbytes, "age %d: length" % age)
        eq(BUF[0] >> 1 & 3, kind, "age %d: time kind" % age)


def test_rh_flag_sent_only_without_humidity_and_derived_from_the_quantised_value():
    d = S.Sample()
    for rh, high in ((70.0, 0), (70.2, 0), (70.24, 0), (70.25, 1), (70.5, 1), (99.0, 1)):
        for station_flag in (0, S.FLAG_RH_HIGH):
            s = make(vals=(18.0, rh, None, None, None, None, None, None, None))
            s.flags |= station_flag
            n = codec.encode_sample(s, BUF)
            codec.decode_sample(BUF[:n], d)
            eq(d.flags & S.FLAG_RH_HIGH, high, "rh %r: decoded %r" % (rh, d.values[S.HUMIDITY]))
    for rh, high in (
        (70.0, False),
        (70.2, False),
        (70.24, False),
        (70.25, True),
        (100.0, True),
        (0.0, False),
        (150.0, False),
    ):
        eq(codec.rh_high(rh), high, "rh_high(%r)" % rh)
    eq(locked(lambda: codec.rh_high(70.3)), True, "rh_high allocates nothing")
    no_rh = make(vals=(18.0, None, None, None, None, None, None, None, None))
    n0 = codec.encode_sample(no_rh, BUF)
    no_rh.flags |= S.FLAG_RH_HIGH
    eq(codec.encode_sample(no_rh, BUF), n0, "one flag bit, padded either way")
    codec.decode_sample(BUF[:n0], d)
    eq(d.flags, S.FLAG_RH_HIGH | S.FLAG_CLOCK_SYNCED, "the flag travels without humidity")


def test_preset_bit_and_twelve_byte_live_frame():
    eight = make(vals=FULL[:8] + (None,))
    eq(codec.encode_sample(eight, BUF, T0), 12, "eight channels live: 12 bytes")
    eq(BUF[0] & 1, 1, "preset bit")
    eq(codec.encode_sample(make(), BUF, T0), 15, "nine channels: mask, no preset")
    eq(BUF[0] & 1, 0, "no preset bit with battery")
    d = S.Sample()
    codec.encode_sample(eight, BUF)
    codec.decode_sample(BUF[:16], d)
    eq(d.present(), 0xFF, "preset decodes as channels 0..7")


def test_batch_stops_at_gaps_and_uses_single_frame_for_one():
    ss = series(10)
    ss[4].seq += 5  # a seq gap after four samples
    out = bytearray(242)
    n, used = codec.encode_batch(ss, 10, out, 242)
    eq(used, 4, "batch ends at the seq gap")
    eq(out[0] >> 3 & 3, codec.FRAME_BATCH, "batch frame")
    n, used = codec.encode_batch(ss[4:], 1, out, 242)
    eq((used, out[0] >> 3 & 3), (1, codec.FRAME_SAMPLE), "one sample: single frame")
    eq(n, codec.encode_sample(ss[4], BUF), "same bytes as encode_sample")
    eq(codec.encode_batch(series(2), 5, out, 242)[1], 2, "count beyond the list is clamped")
    eq(codec.encode_batch([], 0, out, 242)[1], 0, "nothing to send")
    mixed = series(3)
    mixed[2].flags = 0
    eq(codec.encode_batch(mixed, 3, out, 242)[1], 2, "clock kind change ends the batch")


def test_batch_fills_but_never_exceeds_max_len():
    ss = series(64)
    out = bytearray(242)
    last = 0
    for max_len in range(16, 243, 7):
        n, used = codec.encode_batch(ss, 64, out, max_len)
        if n > max_len or used < last:
            raise AssertionError("max_len %d: %d bytes, %d samples" % (max_len, n, used))
        last = used
    eq(codec.encode_batch(ss, 64, out, 242)[1] > 40, True, "a slow series packs densely")


def test_batch_round_trips_through_decode_of_each_record():
    # re-pack journal records: single frames -> decode_sample -> encode_batch
    src = series(12, synced=False)
    recs = []
    for s in src:
        n = codec.encode_sample(s, BUF)
        recs.append(bytes(BUF[:n]))
    back = [S.Sample() for _ in recs]
    for i in range(len(recs)):
        codec.decode_sample(recs[i], back[i])
        eq(back[i].time, src[i].time, "uptime survives the journal")
    out = bytearray(242)
    n, used = codec.encode_batch(back, 12, out, 242)
    eq(used, 12, "all re-packed")


def test_small_buffer_raises():
    raises(ValueError, codec.encode_sample, make(), bytearray(8))
    raises(ValueError, codec.encode_lpp, make(), bytearray(10))
    raises(ValueError, codec.encode_status, bytearray(64), colour="red")
    raises(ValueError, codec.encode_status, bytearray(64), config="xyz")
    raises(ValueError, codec.encode_ack, bytearray(3), 256, 0)


def test_status_frame_carries_the_dropped_count_after_the_run_hours():
    buf = bytearray(70)
    n = codec.encode_status(buf, sensors=["bme280"], dropped=70000)
    eq((buf[15], n), (0x40 | 1, 16 + 1 + 4), "flag bit 6; the count follows the inventory")
    eq(bytes(buf[17:21]), bytes([0, 1, 0x11, 0x70]), "u32 big-endian")
    n = codec.encode_status(buf, sensors=["sps30", "bme280"], laser_h=[7], dropped=1 << 40)
    eq(n, 16 + 2 + 2 + 4, "after the laser's run hours")
    eq(bytes(buf[18:24]), bytes([0, 7, 0xFF, 0xFF, 0xFF, 0xFF]), "hours, then saturated")
    n = codec.encode_status(buf, sensors=["bme280"], dropped=5, wifi=(-60, 0))
    eq((buf[15], n), (0xC0 | 1, 16 + 1 + 4 + 2), "both flags")
    eq(bytes(buf[17:23]), bytes([0, 0, 0, 5, 0xC4, 0]), "the count, then the Wi-Fi block")
    eq(codec.encode_status(buf, sensors=["bme280"]), 17, "no count given: none sent")
    eq(buf[15], 1, "no flag")
    before = bytes(buf)
    raises(ValueError, codec.encode_status, buf, sensors=["bme280"], dropped=-1)
    eq(bytes(buf), before, "unchanged")


def test_decode_sample_rejects_other_frames():
    out = bytearray(242)
    n, _ = codec.encode_batch(series(3), 3, out, 242)
    raises(codec.FrameError, codec.decode_sample, out[:n], S.Sample())
    raises(codec.FrameError, codec.decode_sample, b"\xf0\x00\x01", S.Sample())
    raises(codec.FrameError, codec.decode_sample, b"", S.Sample())


def test_fuzz_decode_sample_raises_only_frame_error():
    # 12,000 cases: random bytes, truncations and single-bit flips of a valid frame
    import random

    random.seed(4)
    good = bytearray(BUF[: codec.encode_sample(make(), BUF)])
    d = S.Sample()
    d.seq = 4242
    ok = bad = 0
    for i in range(12000):
        kind = i % 3
        if kind == 0:
            f = bytes(random.getrandbits(8) for _ in range(random.getrandbits(5)))
        elif kind == 1:
            f = bytes(good[: random.getrandbits(5) % len(good)])
        else:
            f = bytearray(good)
            bit = random.getrandbits(8) % (len(f) * 8)
            f[bit >> 3] ^= 0x80 >> (bit & 7)
        before = d.seq
        try:
            codec.decode_sample(f, d)
            ok += 1
        except codec.FrameError:
            bad += 1
            eq(d.seq, before, "a rejected frame changes nothing")
    eq(ok + bad, 12000, "all cases ran")
    if bad < 4000:
        raise AssertionError("too few rejections: %d" % bad)


def test_uptime_samples_carry_their_boot_id_without_allocating():
    u = make(t=5000, synced=False)
    n0 = codec.encode_sample(u, BUF)
    u.boot = 1234
    n = locked(lambda: codec.encode_sample(u, BUF))
    eq(BUF[0] >> 1 & 3, codec.TIME_UPTIME, "kind 3")
    d = S.Sample()
    codec.decode_sample(BUF[:n], d)
    eq((d.time, d.flags, d.boot), (5000, 0, 1234), "the uptime and its boot")
    # `which` 0 + the masks' `which` + entries + id + width: 20 bits of framing, 11 of value
    if not 3 <= n - n0 <= 4:
        raise AssertionError("the boot id costs 31 bits: %d -> %d bytes" % (n0, n))
    s = make()
    s.boot = 1234  # a synced time stands on its own: no boot id travels
    n = codec.encode_sample(s, BUF)
    codec.decode_sample(BUF[:n], d)
    eq((d.boot, n), (0, codec.encode_sample(make(), BUF)), "synced: no boot id")
    ss = series(16, synced=False)
    plain = codec.encode_batch(ss, 16, bytearray(242), 242)[0]
    for x in ss:
        x.boot = 1234
    out = bytearray(242)
    res = locked(lambda: codec.encode_batch(ss, 16, out, 242))
    eq(res[1], 16, "one boot: one batch")
    if not plain < res[0] <= plain + 5:
        raise AssertionError("the boot id is sent once per batch state: %d vs %d" % (res[0], plain))
