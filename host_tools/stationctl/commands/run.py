"""`stationctl run`: the virtual station. Real firmware, simulated board, unix MicroPython.

Starts `sim/vstation.py` inside the pinned MicroPython, shows the station's diagnostics, decodes
every frame the station sends with the host decoder, and ends with
`summary: samples=N uplinked=N lost=N`. `lost` counts sequence numbers the station produced
(SAMPLE lines) that never arrived decoded at the far end.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from stationctl import exitcodes
from stationctl.mpenv import REPO_ROOT, spawn
from stationctl.payload import decoder as codec
from stationctl.virtual import vstation

_TX = re.compile(r"\bUPLINK\.TX\b.*\bhex=([0-9a-f]+)")
_PORT = re.compile(r"\bport=(\d+)")
_CONFIG_INVALID = re.compile(r"\bCONFIG\.INVALID\b(.*)")


def _positive(kind):
    """argparse type: a number above zero (0 or less would silently mean something else)."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value > 0 or value == float("inf"):
            raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
        return value

    return parse


def register(sub) -> None:
    p = sub.add_parser("run", help="run the virtual station (real firmware on the simulated board)")
    p.add_argument(
        "--board",
        default=str(REPO_ROOT / "board_configs" / "unix-sim.json"),
        help="board config (default: board_configs/unix-sim.json)",
    )
    p.add_argument("--config", help="station config JSON to install on the virtual station")
    p.add_argument("--secrets", help="secrets JSON to install on the virtual station")
    dur = p.add_mutually_exclusive_group()
    dur.add_argument("--days", type=_positive(float), help="simulated days (default 1)")
    dur.add_argument("--hours", type=_positive(float), help="simulated hours")
    dur.add_argument("--cycles", type=_positive(int), help="number of sampling cycles")
    p.add_argument(
        "--interval",
        type=_positive(int),
        help="sampling interval in seconds (default from config: 600)",
    )
    p.add_argument(
        "--uplink",
        choices=["console", "file", "mqtt", "lorawan"],
        default="mqtt",
        help="uplink for this run (default mqtt: a local broker is started and a "
        "subscriber decodes what arrives; lorawan: simulated modem and network "
        "server)",
    )
    p.add_argument(
        "--modem-firmware",
        metavar="VERSION",
        help="with --uplink lorawan: the simulated modem answers as this firmware (RAK3172 RUI3 "
        "3.4.2, 3.5.3, 4.0.1, 4.0.6 (default), 4.2.0; LoRa-E5 4.0.11)",
    )
    p.add_argument(
        "--rtc-drift-ppm",
        type=float,
        metavar="PPM",
        help="the station's RTC runs PPM parts per million fast (negative: slow); the clock's "
        "error from the true time is printed daily and at the end (sim: clock ...)",
    )
    p.add_argument(
        "--no-time-sync",
        action="store_true",
        help="with --uplink lorawan: never ask the network for the time (lorawan.time_sync_h=0), "
        "to compare the drift with and without sync",
    )
    p.add_argument(
        "--broker",
        choices=["auto", "amqtt", "mosquitto"],
        default="auto",
        help="MQTT broker for --uplink mqtt (auto: Mosquitto if installed, else amqtt)",
    )
    p.add_argument(
        "--trace",
        default="stonehaven",
        choices=["stonehaven", "office", "synthetic"],
        help="environment: a real trace from ../shared/data, or the synthetic model",
    )
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SENSOR:KIND[@START[+DUR]]",
        help="inject a fault, e.g. bme280:nack@3600+1800 (repeatable)",
    )
    p.add_argument(
        "--fs",
        default=str(REPO_ROOT / ".run" / "station"),
        help="the virtual station's flash folder (default .run/station)",
    )
    p.add_argument("--keep", action="store_true", help="keep the station's flash from the last run")
    p.add_argument(
        "--heapsize",
        default=None,
        help="MicroPython heap (default: the board config's sim_heapsize, else 256K)",
    )
    p.add_argument(
        "--romfs",
        action="store_true",
        help="run all code from a ROMFS image (code in flash, as on a board)",
    )
    p.add_argument(
        "--heap",
        action="store_true",
        help="measure the heap: bytes per cycle (no GC inside a cycle) and live heap",
    )
    p.add_argument(
        "--heap-every",
        type=int,
        metavar="N",
        help="print the live heap every N cycles (does anything accumulate?)",
    )
    p.add_argument(
        "--quiet", action="store_true", help="print only decoded readings and the summary"
    )
    p.add_argument("--json", action="store_true", help="decoded readings as JSON lines")
    p.set_defaults(func=run)


def board_heapsize(board: str) -> str:
    """The heap a board config asks for under the unix port (code compiled from source lives in
    the heap there, unlike a board's frozen or ROMFS code), or the 256K default."""
    try:
        cfg = json.loads(Path(board).read_text())
    except (OSError, ValueError):
        return "256K"  # the virtual station reports the bad board config itself
    heap = cfg.get("sim_heapsize") if isinstance(cfg, dict) else None
    return heap if isinstance(heap, str) and heap[:-1].isdigit() else "256K"


def _parse_size(text: str) -> int:
    t = text.strip().upper()
    mult = 1
    if t.endswith("K"):
        mult, t = 1024, t[:-1]
    elif t.endswith("M"):
        mult, t = 1024 * 1024, t[:-1]
    return int(t) * mult


def build_command(args) -> list[str]:
    heapsize = args.heapsize or board_heapsize(args.board)
    image = None
    if getattr(args, "romfs", False):
        from stationctl.station import romfs

        image = romfs.build_image()
        # the image stands for flash: it gets heap of its own on top of the station's heap
        heapsize = str(_parse_size(heapsize) + image.stat().st_size + 4096)
    if args.cycles is not None:
        duration = {"cycles": args.cycles}
    elif args.hours is not None:
        duration = {"hours": args.hours}
    else:
        duration = {"days": args.days if args.days is not None else 1}
    options = vstation.flags(
        board=Path(args.board).resolve(),
        fs=args.fs,
        trace=args.trace,
        fresh=not args.keep,
        config=Path(args.config).resolve() if args.config else None,
        secrets=Path(args.secrets).resolve() if args.secrets else None,
        **duration,
        interval=args.interval or None,
        uplink=args.uplink or None,
        modem_firmware=getattr(args, "modem_firmware", None),
        set=list(getattr(args, "set", None) or ())
        + (["lorawan.time_sync_h=0"] if getattr(args, "no_time_sync", False) else []),
        rtc_drift_ppm=getattr(args, "rtc_drift_ppm", None),
        fault=args.fault,
        heap=getattr(args, "heap", False),
        heap_every=getattr(args, "heap_every", None) or None,
    )
    return vstation.command(*options, heapsize=heapsize, romfs_image=image)


def format_reading(d: dict) -> str:
    keys = [
        ("temperature_c", "T", "°C"),
        ("humidity_pct", "RH", "%"),
        ("pressure_hpa", "p", "hPa"),
        ("co2_ppm", "CO2", "ppm"),
        ("pm1_0_ugm3", "PM1", ""),
        ("pm2_5_ugm3", "PM2.5", ""),
        ("pm10_ugm3", "PM10", ""),
        ("voc_index", "VOC", ""),
        ("battery_v", "bat", "V"),
    ]
    parts = [f"seq={d.get('seq')}"]
    for k, label, unit in keys:
        if k in d:
            parts.append(f"{label}={d[k]:g}{unit}")
    return "  ".join(parts)


def run(args) -> int:
    from stationctl.virtual import far_end

    link = far_end.prepare(args)
    try:
        return _run(args, link)
    finally:
        link.close()


def _run(args, link) -> int:
    cmd = build_command(args)
    proc = spawn(cmd)
    produced: set[int] = set()
    delivered: set[int] = set()
    decode_errors = 0
    sim_end = ""
    config_rejected = ""
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip("\n")
        if line.startswith("@@SIM"):
            if line.startswith("@@SIM end"):
                sim_end = line
            if not args.quiet or " heap " in line or "rom_bytes=" in line or " clock " in line:
                print(line.replace("@@SIM", "sim:"))
            continue
        if line.startswith("@@NS") or line.startswith("@@RF"):
            link.feed_line(line)
            if not args.quiet and line.startswith("@@NS"):
                print(line.replace("@@NS", "network-server:"))
        for frame, port in link.frames():
            decode_errors += _show(frame, port, produced, delivered, args, link)
        if line.startswith("@@"):
            continue
        seq = vstation.sample_seq(line)
        if seq is not None:
            produced.add(seq)
        m = _CONFIG_INVALID.search(line)
        if m and not config_rejected:
            config_rejected = m.group(1).strip()
        if not args.quiet:
            print(line)
        m = _TX.search(line)
        if m and link.kind not in ("mqtt", "lorawan"):
            pm = _PORT.search(line)
            decode_errors += _show(
                bytes.fromhex(m.group(1)),
                int(pm.group(1)) if pm else None,
                produced,
                delivered,
                args,
                link,
            )
    rc = proc.wait()
    for frame, port in link.frames(final=True):
        decode_errors += _show(frame, port, produced, delivered, args, link)
    lost = len(produced - delivered)
    far_end = link.summary()
    if far_end:
        print(f"far end ({link.kind}):{far_end}")
    print(f"summary: samples={len(produced)} uplinked={len(delivered & produced)} lost={lost}")
    if rc != 0:
        print(f"stationctl run: the virtual station exited with code {rc}", file=sys.stderr)
        return exitcodes.FAILED
    if not sim_end:
        print("stationctl run: the virtual station did not finish its run", file=sys.stderr)
        return exitcodes.FAILED
    failed = []
    if args.config and config_rejected:
        failed.append(f"the station rejected --config {args.config} ({config_rejected})")
    if lost:
        failed.append(f"{lost} sample(s) never reached the far end")
    if decode_errors:
        failed.append(f"{decode_errors} frame(s) could not be decoded")
    for why in failed:
        print(f"stationctl run: FAILED: {why}", file=sys.stderr)
    return exitcodes.FAILED if failed else exitcodes.OK


def _show(
    frame: bytes, port: int | None, produced: set[int], delivered: set[int], args, link
) -> int:
    """Decode and print one frame that reached the far end; 1 if it could not be decoded."""
    try:
        samples = codec.decode(frame, port)
    except codec.FrameError as exc:
        print(f"decode error: {exc}")
        return 1
    for d in samples:
        if "seq" in d:
            full = link.unwrap(d["seq"], produced - delivered)
            delivered.add(full)
            link.seen[full] += 1
            print(json.dumps(d) if args.json else "  decoded: " + format_reading(d))
    return 0
