"""Writes tests/vectors/golden.json: inputs, the firmware encoder's frames, the decoded result.

    .venv/bin/python tests/vectors/make_golden.py

Run only on a deliberate format change (then bump the format version, as v2 did: see the spec's
history). The vectors
are checked three ways by tests/test_payload_golden.py: the firmware encoder must reproduce
every frame, the Python and JavaScript decoders must give `decoded`, and frames are assembled
bit by bit from docs/payload-format.md in the test itself, independently of any encoder.
"""

from __future__ import annotations

import json
from pathlib import Path

from stationctl.payload import decoder as codec
from stationctl.payload.firmware_codec import FirmwareCodec

REPO = Path(__file__).resolve().parents[2]


T0 = 1767225600  # 2026-01-01T00:00:00Z
SYNC = {"clock_synced": True}


def s(seq, t, health=None, **vals):
    d = {"seq": seq, "time": t}
    d.update(vals)
    d["health"] = health if health is not None else dict(SYNC)
    return d


FULL = dict(
    temperature_c=21.43,
    humidity_pct=45.5,
    pressure_hpa=1013.21,
    co2_ppm=612,
    pm1_0_ugm3=4.1,
    pm2_5_ugm3=6.3,
    pm10_ugm3=9.8,
    voc_index=102,
    battery_v=3.71,
)
EIGHT = {k: v for k, v in FULL.items() if k != "battery_v"}

SAMPLE_VECTORS = [
    ("full station, clock synced (unix time)", [s(1, T0, **FULL)], {}),
    ("eight sensor channels, live frame (age 0)", [s(2, T0 + 600, **EIGHT)], {"live": True}),
    (
        "eight sensor channels, sent 300 s after sampling (age)",
        [s(3, T0 + 1200, **EIGHT)],
        {"now": T0 + 1500},
    ),
    (
        "BME280 only, clock not synced (uptime)",
        [
            s(
                7,
                4200,
                {"clock_synced": False},
                temperature_c=-3.25,
                humidity_pct=88.0,
                pressure_hpa=987.6,
            )
        ],
        {},
    ),
    (
        "uptime of boot 3, BME280 only (boot id: extension 62)",
        [
            s(
                8,
                4800,
                {"clock_synced": False},
                boot_id=3,
                temperature_c=-3.25,
                humidity_pct=88.0,
                pressure_hpa=987.6,
            )
        ],
        {},
    ),
    (
        "health: fault, warm-up, out-of-range CO2, RH high",
        [
            s(
                65535,
                T0 + 1200,
                {
                    "clock_synced": True,
                    "rh_high": True,
                    "fault": ["pm1_0_ugm3"],
                    "warmup": ["co2_ppm", "voc_index"],
                },
                temperature_c=12.0,
                humidity_pct=93.5,
                co2_ppm=52000,
                voc_index=1,
            )
        ],
        {},
    ),
    (
        "range ends: full-width value forms",
        [
            s(
                300,
                T0 + 1800,
                temperature_c=-40.0,
                humidity_pct=100.0,
                pressure_hpa=1100.0,
                co2_ppm=40000,
                pm1_0_ugm3=0.0,
                pm2_5_ugm3=1000.0,
                pm10_ugm3=999.9,
                voc_index=500,
                battery_v=5.0,
            )
        ],
        {},
    ),
    (
        "RH boundary: 70.2 % quantises to 70.0 %, not high",
        [
            s(
                40,
                T0 + 3000,
                {"clock_synced": True, "rh_high": True},
                temperature_c=18.0,
                humidity_pct=70.2,
            )
        ],
        {},
    ),
    (
        "RH boundary: 70.3 % quantises to 70.5 %, high",
        [s(41, T0 + 3600, temperature_c=18.0, humidity_pct=70.3)],
        {},
    ),
    (
        "humidity absent: the RH-high flag is sent",
        [
            s(
                42,
                T0 + 4200,
                {"clock_synced": True, "rh_high": True, "fault": ["humidity_pct"]},
                temperature_c=18.0,
                pm2_5_ugm3=12.5,
                pm10_ugm3=20.1,
            )
        ],
        {},
    ),
    (
        "no channel at all (every sensor failed)",
        [
            s(
                301,
                T0 + 2400,
                {"clock_synced": True, "fault": ["temperature_c", "humidity_pct", "pressure_hpa"]},
            )
        ],
        {},
    ),
]


def coarse_batch():
    """A logger that reports whole hPa, whole % RH and whole ug/m3: deltas in steps."""
    return [
        s(
            60 + i,
            T0 + 600 * i,
            temperature_c=8.0 + (0.1, 0.2, 0.2, 0.4, 0.3, 0.5)[i],
            humidity_pct=(81, 82, 82, 80, 79, 79)[i],
            pressure_hpa=(1009, 1009, 1010, 1010, 1010, 1011)[i],
            pm2_5_ugm3=(7, 6, 9, 8, 8, 12)[i],
            pm10_ugm3=(11, 11, 14, 13, 12, 19)[i],
        )
        for i in range(6)
    ]


# A frame from a station with a channel added after format v2 (id 9, 10 bits, raw 623), built
# bit by bit from the spec (5.1): today's decoders must step over it and report it.
EXTENSION_FRAME_BITS = (
    "010 00 10 0",  # v2, single sample, unix time, presence mask follows
    "00000101",  # seq 5
    format(T0, "032b"),
    "000000111",  # T, RH, p
    "1 000 000",  # a block follows; which 0: extended; then which 0: no health masks
    "000 001001 01001 1001101111",  # one extension channel: id 9, 10 bits, raw 623
    "0 100111010",  # 21.4 degC, short form
    "01011011",  # 45.5 %
    "0 1001111000",  # 1013.2 hPa, short form
)


def batch_samples():
    out = []
    temps = [14.2, 14.3, 14.3, 14.1, 13.9, 18.9, 18.7, 18.8]
    for i, t in enumerate(temps):
        vals = dict(
            temperature_c=t,
            humidity_pct=70.5 + i * 0.5,
            pressure_hpa=1002.4 - 0.1 * i,
            pm2_5_ugm3=3.2 + (i % 3) * 0.4,
            pm10_ugm3=5.0 + (i % 2) * 1.1,
        )
        health = dict(SYNC)
        if i == 3:
            vals.pop("pm2_5_ugm3")
            vals.pop("pm10_ugm3")
            health["fault"] = ["pm2_5_ugm3", "pm10_ugm3"]
        if vals["humidity_pct"] > 70:
            health["rh_high"] = True
        jitter = 1 if i == 5 else 0
        out.append(s(1000 + i, T0 + 600 * i + jitter, health, **vals))
    return out


def live_batch():
    return [
        s(
            20 + i,
            5000 + 600 * i,
            {"clock_synced": False},
            temperature_c=20.0 + i / 10,
            co2_ppm=800 + 37 * i,
        )
        for i in range(5)
    ]


def two_boots_batch():
    """Journal records across a power cut 45 min after boot 41 started: boot 41's uptimes, then
    boot 42's; one batch, the state (its boot id) restated where boot 42 begins."""
    return [
        s(
            60 + i,
            (1200 + 600 * i) if i < 3 else (300 + 600 * (i - 3)),
            {"clock_synced": False},
            boot_id=41 if i < 3 else 42,
            temperature_c=18.0 + i / 10,
            humidity_pct=60.0,
        )
        for i in range(5)
    ]


def long_batch():
    return [
        s(
            400 + i,
            T0 + 600 * i,
            **{k: (v + (i % 5) * 0.3 if isinstance(v, float) else v + i) for k, v in FULL.items()},
        )
        for i in range(30)
    ]


def _bits(*fields: str) -> bytes:
    """A frame from bit strings (spaces ignored), zero-padded to whole bytes."""
    b = "".join(fields).replace(" ", "")
    b += "0" * (-len(b) % 8)
    return bytes(int(b[i : i + 8], 2) for i in range(0, len(b), 8))


def main() -> None:
    vectors = []
    with FirmwareCodec() as fw:
        for name, samples, opts in SAMPLE_VECTORS:
            live, now = opts.get("live", False), opts.get("now")
            frames = fw.encode(samples, live=live, now=now)
            vectors.append(("sample", name, samples, 1, 242, live, frames, now))
        for name, samples, batch, max_len, live in [
            (
                "batch of 8: jitter, PM dropout and return, temperature jump",
                batch_samples(),
                8,
                242,
                False,
            ),
            ("batch, clock not synced, live (first sample's age)", live_batch(), 5, 242, True),
            ("30 samples at EU868 DR0 (51 bytes): split into frames", long_batch(), 30, 51, False),
            (
                "uptime batch across a power cut: boot 41, then boot 42 (boot ids)",
                two_boots_batch(),
                5,
                242,
                False,
            ),
            (
                "batch of coarse readings (whole hPa, %, ug/m3): deltas in steps",
                coarse_batch(),
                6,
                242,
                False,
            ),
        ]:
            frames = fw.encode(samples, batch=batch, max_len=max_len, live=live)
            vectors.append(("batch", name, samples, batch, max_len, live, frames, None))
        status_fields = {
            "fw": "0.1.0",
            "config": "6c2c7406",
            "reset": "watchdog",
            "uptime_s": 86399,
            "journal": 17,
            "sensors": ["bme280", "scd4x", "sps30"],
            "faulty": 2,
        }
        status = fw.status(**status_fields)
        laser_fields = {
            "fw": "0.1.0",
            "config": "6c2c7406",
            "reset": "power_on",
            "uptime_s": 3600,
            "journal": 0,
            "sensors": ["sht4x", "pms5003", "sds011"],
            "faulty": 0,
            "laser_h": [1234, 8001],
        }
        laser_status = fw.status(**laser_fields)
        wifi_fields = {
            "fw": "0.1.0",
            "config": "6c2c7406",
            "reset": "power_on",
            "uptime_s": 600,
            "journal": 3,
            "sensors": ["bme280", "sds011"],
            "faulty": 0,
            "laser_h": [120],
            "wifi": [-67, 1],
        }
        wifi_status = fw.status(**wifi_fields)
        # a station whose journal lost records (flash full during an outage): the count comes
        # after the run hours of its laser sensor, before the Wi-Fi block
        dropped_fields = {
            "fw": "0.1.0",
            "config": "6c2c7406",
            "reset": "power_on",
            "uptime_s": 432000,
            "journal": 512,
            "sensors": ["bme280", "sps30"],
            "faulty": 0,
            "laser_h": [100],
            "wifi": [-71, 0],
            "dropped": 312,
        }
        dropped_status = fw.status(**dropped_fields)
        ack = fw.ack(42, 4)
        frc_ack = fw.ack(43, 0, -70)
        lpp = fw.encode([s(1, T0, **FULL)], fmt="lpp")
        smog = [s(2, T0, temperature_c=-2.5, pm2_5_ugm3=412.3, pm10_ugm3=566.0, co2_ppm=455)]
        lpp_smog = fw.encode(smog, fmt="lpp")
    out = {
        "format_version": codec.VERSION,
        "comment": __doc__.strip().splitlines()[0],
        "vectors": [],
        "invalid": [],
    }
    for kind, name, samples, batch, max_len, live, frames, now in vectors:
        recv = samples[-1]["time"] + 5 if live else now
        inp = {"samples": samples, "batch": batch, "max_len": max_len, "live": live}
        if now is not None:
            inp["now"] = now
        for frame, _ in frames:
            codec.decode(frame, 1, recv)  # must decode
        out["vectors"].append(
            {
                "name": name,
                "kind": kind,
                "fport": 1,
                "input": inp,
                "received_at": recv,
                "frames": [
                    {"hex": f.hex(), "samples": n, "decoded": codec.decode(f, 1, recv)}
                    for f, n in frames
                ],
            }
        )
    out["vectors"].append(
        {
            "name": "status frame",
            "kind": "status",
            "fport": 3,
            "input": status_fields,
            "received_at": None,
            "frames": [{"hex": status.hex(), "samples": 0, "decoded": codec.decode(status, 3)}],
        }
    )
    out["vectors"].append(
        {
            "name": "status frame with laser run hours",
            "kind": "status",
            "fport": 3,
            "input": laser_fields,
            "received_at": None,
            "frames": [
                {"hex": laser_status.hex(), "samples": 0, "decoded": codec.decode(laser_status, 3)}
            ],
        }
    )
    out["vectors"].append(
        {
            "name": "status frame of a Wi-Fi station (RSSI, network in use)",
            "kind": "status",
            "fport": 3,
            "input": wifi_fields,
            "received_at": None,
            "frames": [
                {"hex": wifi_status.hex(), "samples": 0, "decoded": codec.decode(wifi_status, 3)}
            ],
        }
    )
    out["vectors"].append(
        {
            "name": "status frame with the dropped count (and run hours, Wi-Fi)",
            "kind": "status",
            "fport": 3,
            "input": dropped_fields,
            "received_at": None,
            "frames": [
                {
                    "hex": dropped_status.hex(),
                    "samples": 0,
                    "decoded": codec.decode(dropped_status, 3),
                }
            ],
        }
    )
    out["vectors"].append(
        {
            "name": "ack with a result: calibrate_co2 done, correction -70 ppm",
            "kind": "ack",
            "fport": 4,
            "input": {"cmd_id": 43, "status": 0, "result": -70},
            "received_at": None,
            "frames": [{"hex": frc_ack.hex(), "samples": 0, "decoded": codec.decode(frc_ack, 4)}],
        }
    )
    out["vectors"].append(
        {
            "name": "ack: out_of_range for command 42",
            "kind": "ack",
            "fport": 4,
            "input": {"cmd_id": 42, "status": 4},
            "received_at": None,
            "frames": [{"hex": ack.hex(), "samples": 0, "decoded": codec.decode(ack, 4)}],
        }
    )
    lf = lpp[0][0]
    out["vectors"].append(
        {
            "name": "Cayenne LPP of the full station",
            "kind": "lpp",
            "fport": 2,
            "input": {"samples": [s(1, T0, **FULL)]},
            "received_at": None,
            "frames": [{"hex": lf.hex(), "samples": 1, "decoded": codec.decode(lf, 2)}],
        }
    )
    lf = lpp_smog[0][0]
    out["vectors"].append(
        {
            "name": "Cayenne LPP, PM above 327.67 ug/m3 left out and named",
            "kind": "lpp",
            "fport": 2,
            "input": {"samples": smog},
            "received_at": None,
            "frames": [{"hex": lf.hex(), "samples": 1, "decoded": codec.decode(lf, 2)}],
        }
    )
    ext = _bits(*EXTENSION_FRAME_BITS)
    out["vectors"].append(
        {
            "name": "a channel unknown to this format's decoders (extension id 9)",
            "kind": "extension",
            "fport": 1,
            "input": {"bits": list(EXTENSION_FRAME_BITS)},
            "received_at": None,
            "frames": [{"hex": ext.hex(), "samples": 1, "decoded": codec.decode(ext, 1)}],
        }
    )
    battery = [s(70, T0 + 3000, temperature_c=11.5, humidity_pct=77.0, battery_v=13.2)]
    with FirmwareCodec() as fw:
        bf = fw.encode(battery)
    out["vectors"].append(
        {
            "name": "12 V station: battery 13.2 V (full form)",
            "kind": "sample",
            "fport": 1,
            "input": {"samples": battery, "batch": 1, "max_len": 242, "live": False},
            "received_at": None,
            "frames": [
                {"hex": f.hex(), "samples": n, "decoded": codec.decode(f, 1)} for f, n in bf
            ],
        }
    )
    full = bytes.fromhex(out["vectors"][0]["frames"][0]["hex"])
    by_kind = {}
    for v in out["vectors"]:
        by_kind.setdefault(v["kind"], v)
    batch = bytes.fromhex(by_kind["batch"]["frames"][0]["hex"])
    bad = [
        ("empty frame", b"", 1, "empty frame"),
        ("version 0", bytes([full[0] & 0x1F]) + full[1:], 1, "unknown frame version 0"),
        ("version 3", bytes([(full[0] & 0x1F) | 0x60]) + full[1:], 1, "unknown frame version 3"),
        (
            "the interim layout (0xF0)",
            bytes.fromhex("f00001") + full[3:],
            1,
            "unknown frame version 7",
        ),
        ("truncated sample", full[:-3], 1, "truncated"),
        ("trailing byte", full + b"\x00", 1, "trailing"),
        (
            "temperature full form above 85 degC",
            _bits("010 00 00 0", "00000000", "000000001", "0", "0", "1 11111111111"),
            1,
            "temperature_c out of range",
        ),
        (
            "batch interval of 0 minutes",
            _bits("010 01 00 0", "000001", "00000000", "1 0000 10100", "0" * 40),
            1,
            "batch interval not positive",
        ),
        ("truncated batch", batch[:-2], 1, "truncated"),
        (
            "status frame too short",
            bytes.fromhex(by_kind["status"]["frames"][0]["hex"])[:12],
            3,
            "status frame truncated",
        ),
        ("ack with unknown status", bytes([0x58, 1, 200]), 4, "unknown ack status"),
        ("ack of 4 bytes", bytes([0x58, 1, 0, 0]), 4, "ack frame must be 3 or 5 bytes"),
        (
            "status frame with half the laser hours",
            laser_status[:-2],
            3,
            "does not match",
        ),
        (
            "Wi-Fi status frame one byte short",
            wifi_status[:-1],
            3,
            "does not match",
        ),
        (
            "status frame with the dropped flag but not the count",
            dropped_status[:-6] + dropped_status[-2:],
            3,
            "does not match",
        ),
        (
            "LPP type not accepted",
            bytes([1, 0x88, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            2,
            "unsupported LPP type",
        ),
        ("FPort without frames", full, 7, "FPort"),
        (
            "format version 1 (pre-release)",
            bytes([(full[0] & 0x1F) | 0x20]) + full[1:],
            1,
            "format version 1",
        ),
        (
            "extension list naming a base channel",
            _bits("010 00 00 0", "00000000", "000000000", "0", "1 000 000", "000 000011 00000 1"),
            1,
            "extension channel id 3 is a base channel",
        ),
    ]
    for name, frame, port, msg in bad:
        try:
            codec.decode(frame, port)
        except codec.FrameError as exc:
            assert msg in str(exc), (name, str(exc))
        else:
            raise SystemExit(f"invalid vector {name!r} decodes")
        out["invalid"].append({"name": name, "hex": frame.hex(), "fport": port, "error": msg})
    path = Path(__file__).with_name("golden.json")
    path.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {path}: {len(out['vectors'])} vectors, {len(out['invalid'])} invalid frames")


if __name__ == "__main__":
    main()
