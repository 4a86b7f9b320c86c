"""`stationctl encode`: JSON-line samples on stdin -> one hex frame per line, made by the
firmware encoder running inside unix MicroPython (the code that ships on the board).

    echo '{"seq": 1, "temperature_c": 21.4, "health": {"clock_synced": false}}' | stationctl encode

Keys as `stationctl decode` prints them: seq, time (unix seconds when health.clock_synced, else
uptime seconds), the channel keys of firmware/sample.py, health. `--batch N` packs up to N
samples per frame within `--max-len` bytes; `--live` encodes times as ages relative to the
newest sample (the cheapest frames for live sending).
"""

from __future__ import annotations

import json
import sys

from stationctl.payload.firmware_codec import EncoderError, FirmwareCodec


def register(sub) -> None:
    p = sub.add_parser("encode", help="encode JSON-line samples into frames (firmware encoder)")
    p.add_argument("--batch", type=int, default=1, help="samples per frame, at most (default 1)")
    p.add_argument(
        "--format",
        choices=["compact", "lpp"],
        default="compact",
        help="compact payload format v1 (default) or Cayenne LPP",
    )
    p.add_argument(
        "--max-len",
        type=int,
        default=242,
        help="maximum frame bytes for batches (51: EU868 DR0-2, 242: DR5)",
    )
    p.add_argument("--live", action="store_true", help="send ages instead of absolute times")
    p.add_argument(
        "--count",
        action="store_true",
        help="append the number of samples in each frame after its hex",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    if not 1 <= args.batch <= 64:
        print("stationctl encode: --batch must be 1..64", file=sys.stderr)
        return 2
    if not 11 <= args.max_len <= 4096:
        print("stationctl encode: --max-len must be 11..4096", file=sys.stderr)
        return 2
    samples = []
    for lineno, line in enumerate(sys.stdin, 1):
        line = line.strip()
        if not line:
            continue
        try:
            d = json.loads(line)
        except ValueError as exc:
            print(f"stationctl encode: line {lineno}: not JSON ({exc})", file=sys.stderr)
            return 2
        if not isinstance(d, dict):
            print(f"stationctl encode: line {lineno}: expected a JSON object", file=sys.stderr)
            return 2
        samples.append(d)
    if not samples:
        return 0
    try:
        with FirmwareCodec() as fw:
            frames = fw.encode(
                samples, batch=args.batch, fmt=args.format, max_len=args.max_len, live=args.live
            )
    except EncoderError as exc:
        print(f"stationctl encode: {exc}", file=sys.stderr)
        return 2
    for frame, n in frames:
        print(f"{frame.hex()} {n}" if args.count else frame.hex())
    return 0
