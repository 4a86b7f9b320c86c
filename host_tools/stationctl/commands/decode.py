"""`stationctl decode`: hex frames (arguments, or lines on stdin) -> one JSON object per sample
(seq, time, channel keys, health), or per status/ack frame. Exit 2 on a bad frame.

    stationctl decode 2004d2ffc4e96d3c9060a43f188ca8e0
    stationctl decode --fport 2 01670104        (Cayenne LPP)
"""

from __future__ import annotations

import json
import sys

from stationctl.payload import decoder as codec


def register(sub) -> None:
    p = sub.add_parser("decode", help="decode hex frames into JSON lines (Python decoder)")
    p.add_argument("frames", nargs="*", metavar="HEX", help="frames in hex (default: stdin lines)")
    p.add_argument("--fport", type=int, help="LoRaWAN FPort the frame came on (2: Cayenne LPP)")
    p.add_argument(
        "--received-at",
        type=int,
        metavar="UNIX_S",
        help="receive time: turns sample ages into unix times",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    items = args.frames or [ln.strip() for ln in sys.stdin if ln.strip()]
    for n, text in enumerate(items, 1):
        try:
            frame = bytes.fromhex(text)
        except ValueError:
            print(f"stationctl decode: frame {n}: not hex: {text[:40]!r}", file=sys.stderr)
            return 2
        try:
            for d in codec.decode(frame, args.fport, args.received_at):
                print(json.dumps(d))
        except codec.FrameError as exc:
            print(f"stationctl decode: frame {n}: {exc}", file=sys.stderr)
            return 2
    return 0
