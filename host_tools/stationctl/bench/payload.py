"""Payload benchmark on the real traces in ../shared/data at 10-minute sampling.

Every frame is made by the firmware encoder inside unix MicroPython (stationctl.payload.firmware_codec).
Reported per trace: bytes per sample for JSON, Cayenne LPP, the compact format single-sample and
batched; LoRa time on air (Semtech formula) at SF7..SF12 and the samples per day deliverable
within 30 s of airtime; bits per sample against the zeroth-order entropy of the quantised
deltas per channel; encode time per sample as a ratio to `json.dumps` of the same sample in the
same MicroPython run.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from stationctl.mpenv import SHARED_DATA
from stationctl.payload import decoder as codec
from stationctl.payload.firmware_codec import FirmwareCodec

INTERVAL_S = 600
PER_DAY = 86400 // INTERVAL_S
AIRTIME_S = 30.0  # The Things Network fair-use policy: 30 s of uplink airtime per day
LORAWAN_OVERHEAD = 13  # MHDR 1 + FHDR 7 + FPort 1 + MIC 4
# EU868 data rates: (DR, SF, maximum application payload N, without repeater)
EU868 = [(5, 7, 242), (4, 8, 242), (3, 9, 115), (2, 10, 51), (1, 11, 51), (0, 12, 51)]


def time_on_air_s(payload: int, sf: int, bw_hz: int = 125_000, cr: int = 1,
                  preamble: int = 8, explicit_header: bool = True, crc: bool = True) -> float:  # fmt: skip
    """Semtech SX127x/SX126x formula; low-data-rate optimisation at SF11/12 on 125 kHz."""
    pl = payload + LORAWAN_OVERHEAD
    de = 1 if sf >= 11 and bw_hz == 125_000 else 0
    ih = 0 if explicit_header else 1
    t_sym = (2**sf) / bw_hz
    num = 8 * pl - 4 * sf + 28 + 16 * (1 if crc else 0) - 20 * ih
    n_payload = 8 + max(math.ceil(num / (4 * (sf - 2 * de))) * (cr + 4), 0)
    return (preamble + 4.25) * t_sym + n_payload * t_sym


def _ts(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp())


def _resample(rows: list[tuple[int, dict]], start: int, end: int) -> dict[int, dict]:
    """The first reading at or after each 10-minute boundary, within its slot."""
    out: dict[int, dict] = {}
    for t, row in rows:
        slot = start + ((t - start) // INTERVAL_S) * INTERVAL_S
        if start <= slot < end and slot not in out:
            out[slot] = row
    return out


def _read(path: Path, delim: str, time_col: str) -> list[tuple[int, dict]]:
    with path.open(newline="") as f:
        return [(_ts(r[time_col]), r) for r in csv.DictReader(f, delimiter=delim)]


def _trace(slots: list[int], columns: list[tuple[dict[int, dict], str, str, float]]) -> list[dict]:
    samples = []
    for i, t in enumerate(slots):
        s: dict = {"seq": i + 1, "time": t, "health": {"clock_synced": True}}
        fault = []
        for table, col, key, scale in columns:
            row = table.get(t)
            if row is None or row[col] in ("", None):
                fault.append(key)
            else:
                s[key] = round(float(row[col]) * scale, 6)
        s["health"]["fault"] = fault
        samples.append(s)
    return samples


def load_traces(data: Path = SHARED_DATA) -> dict[str, list[dict]]:
    """name -> samples (decoder-style dicts) at 10-minute sampling."""
    bme = _read(data / "scomm_stonehaven_bme280.csv", ";", "timestamp")
    sds = _read(data / "scomm_stonehaven_sds011.csv", ";", "timestamp")
    start = (min(bme[0][0], sds[0][0]) // INTERVAL_S) * INTERVAL_S
    end = max(bme[-1][0], sds[-1][0])
    b, s = _resample(bme, start, end), _resample(sds, start, end)
    slots = sorted(set(b) | set(s))
    stonehaven = _trace(slots, [
        (b, "temperature", "temperature_c", 1), (b, "humidity", "humidity_pct", 1),
        (b, "pressure", "pressure_hpa", 0.01), (s, "P2", "pm2_5_ugm3", 1),
        (s, "P1", "pm10_ugm3", 1)])  # fmt: skip
    office = _read(data / "uci_occupancy_office.csv", ",", "Date")
    start = (office[0][0] // INTERVAL_S + 1) * INTERVAL_S
    o = _resample(office, start, office[-1][0])
    office_samples = _trace(sorted(o), [
        (o, "Temperature", "temperature_c", 1), (o, "Humidity", "humidity_pct", 1),
        (o, "CO2", "co2_ppm", 1)])  # fmt: skip
    return {"stonehaven (BME280 + SDS011, outdoor)": stonehaven,
            "office (UCI occupancy: T, RH, CO2)": office_samples}  # fmt: skip


def quantise(key: str, v: float) -> int:
    """The encoder's quantisation (round half away from zero), in Python for the entropy."""
    ch = codec.KEYS.index(key)
    x = v * codec.SCALE[ch]
    q = math.floor(abs(x) + 0.5) * (1 if x >= 0 else -1)
    return q + codec.OFF[ch]


def entropy_bits(samples: list[dict]) -> dict[str, float]:
    """Zeroth-order entropy of the quantised deltas per channel (bits per sample)."""
    out = {}
    for key in codec.KEYS:
        qs = [quantise(key, s[key]) for s in samples if key in s]
        if len(qs) < 2:
            continue
        deltas = Counter(b - a for a, b in zip(qs, qs[1:], strict=False))
        n = sum(deltas.values())
        out[key] = -sum(c / n * math.log2(c / n) for c in deltas.values())
    return out


# how consumer loggers report: pressure in whole hPa, RH in whole %, PM in whole ug/m3
COARSE_STEPS = {"pressure_hpa": 1.0, "humidity_pct": 1.0, "pm1_0_ugm3": 1.0, "pm2_5_ugm3": 1.0,
                "pm10_ugm3": 1.0}  # fmt: skip


def requantise(samples: list[dict], steps: dict[str, float] = COARSE_STEPS) -> list[dict]:
    """The trace as a logger with coarser steps would report it (values rounded to the step)."""
    out = []
    for s in samples:
        c = dict(s)
        for key, step in steps.items():
            if key in c:
                c[key] = round(round(c[key] / step) * step, 6)
        out.append(c)
    return out


def _batched_bits(fw: FirmwareCodec, samples: list[dict], max_len: int) -> float:
    """Bits per sample of the whole trace sent as full batches built when their newest sample
    is taken."""
    frames = fw.encode(samples, batch=64, max_len=max_len, live=True)
    return 8 * sum(len(f) for f, _ in frames) / sum(n for _, n in frames)


def channel_bits(fw: FirmwareCodec, samples: list[dict], max_len: int) -> tuple[float, dict]:
    """Total batched bits per sample, and per channel the bits it adds: the total minus the
    total of the same trace without that channel (frame overhead stays with the total)."""
    total = _batched_bits(fw, samples, max_len)
    keys = [k for k in codec.KEYS if any(k in s for s in samples)]
    per = {}
    for key in keys:
        without = [{k: v for k, v in s.items() if k != key} for s in samples]
        for s in without:
            s["health"] = dict(s["health"], fault=[f for f in s["health"]["fault"] if f != key])
        per[key] = total - _batched_bits(fw, without, max_len)
    return total, per


def entropy_table(fw: FirmwareCodec, traces: dict[str, list[dict]]) -> tuple[str, list[dict]]:
    """Bits per sample against the entropy per trace and channel, fine-grained and re-quantised
    (COARSE_STEPS), in 242-byte and 51-byte batches."""
    rows = []
    for name, samples in traces.items():
        for grain, data in (("fine", samples), ("coarse", requantise(samples))):
            h = entropy_bits(data)
            for max_len in (242, 51):
                total, per = channel_bits(fw, data, max_len)
                rows.append({"trace": name, "grain": grain, "max_len": max_len, "entropy": h,
                             "bits": total, "per": per})  # fmt: skip
    out = ["## Bits per sample against the entropy, per channel: fine and coarse data", "",
           "Fine: the traces as recorded. Coarse: re-quantised the way consumer loggers report "
           "(pressure to 1 hPa, RH to 1 %, PM to 1 ug/m3; temperature and CO2 unchanged). Per "
           "channel: the bits the channel adds to the batched frames (total minus the total "
           "without it) / the entropy of its quantised deltas. Totals include every frame's "
           "overhead.", "",
           "| trace | data | batch B | per channel: bits / entropy | total bits | entropy "
           "| ratio |", "| --- | --- | ---: | --- | ---: | ---: | ---: |"]  # fmt: skip
    for r in rows:
        h = r["entropy"]
        per = ", ".join(f"{k.rsplit('_', 1)[0]} {r['per'][k]:.2f} / {h[k]:.2f}" for k in h)
        total_h = sum(h.values())
        out.append(f"| {r['trace']} | {r['grain']} | {r['max_len']} | {per} | {r['bits']:.1f} | "
                   f"{total_h:.2f} | {r['bits'] / total_h:.2f} |")  # fmt: skip
    return "\n".join(out) + "\n", rows


def _days(samples: list[dict]) -> list[list[dict]]:
    return [samples[i:i + PER_DAY] for i in range(0, len(samples) - PER_DAY + 1, PER_DAY)]  # fmt: skip


def _deliverable(frames: list[tuple[bytes, int]], sf: int) -> tuple[int, float]:
    """Samples delivered before the day's airtime runs out, and the airtime used."""
    used = 0.0
    delivered = 0
    for frame, n in frames:
        t = time_on_air_s(len(frame), sf)
        if used + t > AIRTIME_S:
            break
        used += t
        delivered += n
    return delivered, used


def measure(fw: FirmwareCodec, name: str, samples: list[dict]) -> dict:
    n = len(samples)
    res: dict = {"name": name, "samples": n,
                 "channels": sorted({k for s in samples for k in codec.KEYS if k in s},
                                    key=codec.KEYS.index)}  # fmt: skip
    single_live = fw.encode(samples, live=True)
    single_unix = fw.encode(samples)
    lpp = fw.encode(samples, fmt="lpp")
    timing = fw.timing(samples, repeat=5)
    res["bytes"] = {
        "json": timing["json_bytes"],
        "lpp": sum(len(f) for f, _ in lpp) / n,
        "single_live": sum(len(f) for f, _ in single_live) / n,
        "single_unix": sum(len(f) for f, _ in single_unix) / n,
    }
    res["timing"] = timing
    res["entropy"] = entropy_bits(samples)
    days = _days(samples)
    res["days"] = len(days)
    res["sf"] = []
    for dr, sf, max_len in EU868:
        best = None
        # the uplink may fill frames to less than the maximum when that saves airtime per
        # sample (time on air grows in steps of 4 * (SF - 2 * DE) bits): try the last steps
        for limit in range(max_len, max_len - 13, -1):
            per_day = []
            frames_all: list[tuple[bytes, int]] = []
            for day in days:
                frames = fw.encode(day, batch=64, max_len=limit, live=True)
                frames_all += frames
                per_day.append(_deliverable(frames, sf))
            key = (min(d for d, _ in per_day), -max(u for _, u in per_day))
            if best is None or key > best[0]:
                best = (key, limit, per_day, frames_all)
        _, limit, per_day, frames_all = best
        # steady state: the whole trace as one stream (frames may span midnight)
        stream = fw.encode(samples, batch=64, max_len=limit, live=True)
        per_sample_s = sum(time_on_air_s(len(f), sf) for f, _ in stream) / n
        single = [_deliverable(fw.encode(day, live=True), sf)[0] for day in days]
        nbytes = sum(len(f) for f, _ in frames_all)
        nsamp = sum(k for _, k in frames_all)
        res["sf"].append({
            "dr": dr, "sf": sf, "max_len": max_len, "limit": limit,
            "frames_per_day": len(frames_all) / len(days),
            "bytes_per_sample": nbytes / nsamp,
            "toa_full_ms": 1000 * time_on_air_s(limit, sf),
            "airtime_s": max(u for _, u in per_day),
            "samples_per_day_min": min(d for d, _ in per_day),
            "samples_per_day_steady": min(PER_DAY, int(AIRTIME_S / per_sample_s)),
            "capacity_steady": int(AIRTIME_S / per_sample_s),
            "single_per_day_min": min(single),
        })  # fmt: skip
    return res


def table(results: list[dict]) -> str:
    out = ["# Payload benchmark", "",
           f"Real traces from `../shared/data` at {INTERVAL_S // 60}-minute sampling (first reading "
           "in each slot); every frame made by the firmware encoder in unix MicroPython. EU868, "
           f"BW125, CR 4/5, {LORAWAN_OVERHEAD} bytes of LoRaWAN overhead, explicit header, CRC, "
           "low-data-rate optimisation at SF11/12; airtime budget 30 s/day; a batch is sent when "
           "full: each frame is built when the sample that fills it is taken (its newest sample "
           "goes out with time kind 0, no time field). Worst day: each calendar day of the trace encoded on its "
           "own; steady state: the whole trace as one stream, 30 s divided by the airtime per "
           "sample.", ""]  # fmt: skip
    out += ["## Bytes per sample", "",
            "| trace | channels | samples | JSON | Cayenne LPP | single (live) | single (unix time) "
            "| batched 51 B | batched 115 B | batched 242 B |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for r in results:
        b = r["bytes"]
        by_len = {x["max_len"]: x["bytes_per_sample"] for x in r["sf"]}
        out.append(f"| {r['name']} | {len(r['channels'])} | {r['samples']} | {b['json']:.1f} | "
                   f"{b['lpp']:.1f} | {b['single_live']:.1f} | {b['single_unix']:.1f} | "
                   f"{by_len[51]:.2f} | {by_len[115]:.2f} | {by_len[242]:.2f} |")  # fmt: skip
    out += ["", "## Time on air and samples per day within 30 s", "",
            "| trace | DR | SF | max payload B | frames filled to B | ToA of such a frame ms "
            "| frames/day | airtime s/day (worst day) | samples/day batched (worst day) "
            "| samples/day batched (steady state) | samples/day single frames |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for r in results:
        for x in r["sf"]:
            out.append(f"| {r['name']} | {x['dr']} | SF{x['sf']} | {x['max_len']} | "
                       f"{x['limit']} | {x['toa_full_ms']:.0f} | {x['frames_per_day']:.1f} | {x['airtime_s']:.1f} "
                       f"| {x['samples_per_day_min']} / {PER_DAY} | {x['samples_per_day_steady']} "
                       f"(room for {x['capacity_steady']}) "
                       f"| {x['single_per_day_min']} |")  # fmt: skip
    out += ["", "## Bits per sample against the entropy bound", "",
            "Zeroth-order entropy of the quantised deltas per channel, summed: the practical "
            "limit for a delta coder without context. Batched bits include every frame's header, "
            "seq, time, masks and per-channel parameters.", "",
            "| trace | entropy per channel (bits) | sum | batched 242 B | ratio | batched 51 B "
            "| ratio |", "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for r in results:
        h = r["entropy"]
        total = sum(h.values())
        by_len = {x["max_len"]: 8 * x["bytes_per_sample"] for x in r["sf"]}
        per = ", ".join(f"{k.rsplit('_', 1)[0]} {v:.2f}" for k, v in h.items())
        out.append(f"| {r['name']} | {per} | {total:.2f} | {by_len[242]:.1f} | "
                   f"{by_len[242] / total:.2f} | {by_len[51]:.1f} | {by_len[51] / total:.2f} |")  # fmt: skip
    out += ["", "## Encode time on unix MicroPython", "",
            "Best of three rounds; `json.dumps` of the sample's `as_dict()` in the same run.", "",
            "| trace | samples timed | encode_sample µs | json.dumps µs | ratio | JSON bytes |",
            "| --- | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for r in results:
        t = r["timing"]
        out.append(f"| {r['name']} | {t['samples']} | {t['encode_us']:.1f} | {t['json_us']:.1f} | "
                   f"{t['encode_us'] / t['json_us']:.2f} | {t['json_bytes']:.1f} |")  # fmt: skip
    return "\n".join(out) + "\n"


# the spec's worked example (docs/payload-format.md, section 6): the eight sensor channels
EIGHT = {"temperature_c": 21.4, "humidity_pct": 45.5, "pressure_hpa": 1013.2, "co2_ppm": 612,
         "pm1_0_ugm3": 4.1, "pm2_5_ugm3": 6.3, "pm10_ugm3": 9.8, "voc_index": 102}  # fmt: skip


def frame_sizes(fw: FirmwareCodec) -> list[tuple[str, int, int, int]]:
    """(sample, bytes sent live, bytes with an age of 300 s, bytes with a unix time)."""
    t = 1767225600
    rows = []
    for name, vals in [("eight sensor channels (the spec's worked example)", EIGHT),
                       ("full station: eight channels and battery", dict(EIGHT, battery_v=3.71)),
                       ("BME280 only (T, RH, p)", {k: EIGHT[k] for k in codec.KEYS[:3]})]:  # fmt: skip
        smp = dict(vals, seq=2, time=t, health={"clock_synced": True})
        sizes = [len(fw.encode([smp], live=True)[0][0]), len(fw.encode([smp], now=t + 300)[0][0]),
                 len(fw.encode([smp])[0][0])]  # fmt: skip
        rows.append((name, *sizes))
    return rows


def sizes_table(rows: list[tuple[str, int, int, int]]) -> str:
    out = ["## Single-sample frame sizes", "",
           "| sample | sent at once (time kind 0) B | 300 s after sampling (age) B "
           "| journal record (unix time) B |", "| --- | ---: | ---: | ---: |"]  # fmt: skip
    out += [f"| {name} | {live} | {age} | {unix} |" for name, live, age, unix in rows]
    return "\n".join(out) + "\n"


def run() -> str:
    traces = load_traces()
    with FirmwareCodec() as fw:
        results = [measure(fw, name, samples) for name, samples in traces.items()]
        sizes = frame_sizes(fw)
        entropy, _ = entropy_table(fw, traces)
    return table(results) + "\n" + entropy + "\n" + sizes_table(sizes)
