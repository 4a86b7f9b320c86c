"""Python decoder for station frames (interim layout, mirrors firmware/codec.py)."""

from __future__ import annotations

import struct

KEYS = ("temperature_c", "humidity_pct", "pressure_hpa", "co2_ppm", "pm1_0_ugm3", "pm2_5_ugm3",
        "pm10_ugm3", "voc_index", "battery_v")


class FrameError(ValueError):
    """A frame cannot be decoded; the message says why."""


def decode(frame: bytes, fport: int | None = None) -> list[dict]:
    if len(frame) < 16:
        raise FrameError(f"frame too short: {len(frame)} bytes")
    ver, seq, t, present, fault, warmup, impl, flags = struct.unpack_from(">BHIHHHHB", frame, 0)
    if ver != 0xF0:
        raise FrameError(f"unknown frame version 0x{ver:02x}")
    out = {"seq": seq, "time": t, "fault": fault, "warmup": warmup, "implausible": impl, "flags": flags}
    n = 16
    for i, key in enumerate(KEYS):
        if present & (1 << i):
            if n + 4 > len(frame):
                raise FrameError("frame truncated")
            out[key] = struct.unpack_from(">i", frame, n)[0] / 100
            n += 4
    return [out]
