"""`stationctl encode`: JSON-line samples on stdin -> one hex frame per line, made by the
firmware encoder running inside unix MicroPython (the code that ships on the board).

    echo '{"seq": 1, "temperature_c": 21.4, "health": {"clock_synced": false}}' | stationctl encode

Keys as `stationctl decode` prints them: seq, time (unix seconds when health.clock_synced, else
uptime seconds), the channel keys of firmware/sample.py, health. `--batch N` packs up to N
samples per frame within `--max-len` bytes; `--live` encodes times as ages relative to the
newest sample (the cheapest frames for live sending). Samples without `seq` are numbered on
from the previous line (0 first); a batch needs each sample's time. Input of any size streams
through the encoder in chunks. Values that are not numbers (`true`, text), NaN/Infinity,
negative times and times of 2**32 or more (milliseconds) are refused with the line number.
"""

from __future__ import annotations

import json
import sys

from stationctl.exitcodes import OK, USAGE
from stationctl.payload import decoder as codec
from stationctl.payload.firmware_codec import EncoderError, FirmwareCodec


def register(sub) -> None:
    p = sub.add_parser("encode", help="encode JSON-line samples into frames (firmware encoder)")
    p.add_argument("--batch", type=int, default=1, help="samples per frame, at most (default 1)")
    p.add_argument(
        "--format",
        choices=["compact", "lpp"],
        default="compact",
        help="compact payload format v2 (default) or Cayenne LPP",
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


# samples sent to the MicroPython encoder per request: its heap holds a few hundred samples
# easily, and any input size streams through in bounded memory
CHUNK = 200
MAX_TIME = 2**32 - 1  # frames carry 32-bit unix or uptime seconds


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a measured value")


def _problem(d: dict) -> str | None:
    """What is wrong with one input sample (None: nothing)."""
    seq = d.get("seq")
    if seq is not None and (type(seq) is not int or seq < 0):
        return f"seq must be a whole number >= 0, got {json.dumps(seq)}"
    for key in ("time", "uptime_s"):
        t = d.get(key)
        if t is None:
            continue
        if type(t) is not int:
            return f"{key} must be whole seconds, got {json.dumps(t)}"
        if t < 0:
            return f"{key} {t} is negative"
        if t > MAX_TIME:
            hint = " (milliseconds? the format carries seconds)" if t > 10**11 else ""
            return f"{key} {t} does not fit 32 bits{hint}"
    for key in codec.KEYS:
        v = d.get(key)
        if v is not None and (type(v) not in (int, float)):
            return f"{key} must be a number or null, got {json.dumps(v)}"
    if d.get("health") is not None and not isinstance(d["health"], dict):
        return "health must be an object"
    return None


def _samples(stream, batch: int):
    """Checked samples from JSON lines; those without seq are numbered on from the previous
    one (a batch needs consecutive seq numbers). Raises ValueError('line N: ...')."""
    next_seq = 0
    for lineno, line in enumerate(stream, 1):
        line = line.strip()
        if not line:
            continue
        try:
            d = json.loads(line, parse_constant=_reject_constant)
        except ValueError as exc:
            raise ValueError(f"line {lineno}: not JSON ({exc})") from None
        if not isinstance(d, dict):
            raise ValueError(f"line {lineno}: expected a JSON object")
        problem = _problem(d)
        if problem is None and batch > 1 and d.get("time") is None and d.get("uptime_s") is None:
            problem = "--batch needs each sample's time (unix or uptime seconds)"
        if problem:
            raise ValueError(f"line {lineno}: {problem}")
        if d.get("seq") is None:
            d["seq"] = next_seq
        next_seq = d["seq"] + 1
        yield d


def run(args) -> int:
    if not 1 <= args.batch <= 64:
        print("stationctl encode: --batch must be 1..64", file=sys.stderr)
        return USAGE
    if not 11 <= args.max_len <= 4096:
        print("stationctl encode: --max-len must be 11..4096", file=sys.stderr)
        return USAGE
    opts = {"batch": args.batch, "fmt": args.format, "max_len": args.max_len, "live": args.live}
    pending: list[dict] = []
    try:
        with FirmwareCodec() as fw:
            for d in _samples(sys.stdin, args.batch):
                pending.append(d)
                if len(pending) >= CHUNK:
                    frames = fw.encode(pending, **opts)
                    # the last frame may be a batch the next samples would have extended:
                    # its samples start the next request (frames depend only on later samples)
                    keep = frames[-1][1] if args.batch > 1 and args.format == "compact" else 0
                    _emit(frames[:-1] if keep else frames, args.count)
                    pending = pending[len(pending) - keep :] if keep else []
            if pending:
                _emit(fw.encode(pending, **opts), args.count)
    except ValueError as exc:
        print(f"stationctl encode: {exc}", file=sys.stderr)
        return USAGE
    except EncoderError as exc:
        print(f"stationctl encode: {exc}", file=sys.stderr)
        return USAGE
    return OK


def _emit(frames: list[tuple[bytes, int]], count: bool) -> None:
    for frame, n in frames:
        print(f"{frame.hex()} {n}" if count else frame.hex())
    sys.stdout.flush()
