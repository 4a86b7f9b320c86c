"""`stationctl calibrate-co2`: forced recalibration of a station's SCD4x to a reference CO2 value.

    stationctl calibrate-co2 --ppm 415 --station st-0042 [--broker HOST] [--port 1883] [--prefix climate]
    stationctl calibrate-co2 --ppm 415 --print        the FPort-10 downlink, for a LoRaWAN server

Put the station's sensor in air of a known CO2 concentration (outdoors, or beside a reference
instrument) for at least 3 minutes of measuring, then run this. Over MQTT the command is
published on `<prefix>/<station>/cmd` (QoS 1: a station between cycles gets it at its next
connect) and the answer is awaited on `.../ack`: the correction the sensor applied, in ppm, or the
reason the station refused (not_ready: it has not measured long enough; unsupported: no SCD4x).
Exit status (stationctl.exitcodes): 0 done, 1 refused, 2 usage error, 3 no answer in time.
"""

from __future__ import annotations

import base64
import random
import sys
import threading
import time

from stationctl import exitcodes
from stationctl.payload import decoder as codec

MIN_PPM, MAX_PPM = 400, 5000  # firmware/commands.py: the SCD4x's reference range

HINTS = {
    "not_ready": "the SCD4x must measure for 3 minutes without a fault first; "
    "`stationctl monitor` shows the reason (COMMAND.REJECTED)",
    "unsupported": "this station has no SCD4x fitted",
    "out_of_range": f"the reference must be {MIN_PPM}..{MAX_PPM} ppm",
}


def register(sub) -> None:
    p = sub.add_parser(
        "calibrate-co2",
        help="recalibrate a station's CO2 sensor to a reference (forced recalibration)",
    )
    p.add_argument("--ppm", type=int, required=True, help="reference CO2 concentration, ppm")
    p.add_argument("--station", help="station id (its MQTT topics: PREFIX/STATION/cmd, /ack)")
    p.add_argument("--broker", default="127.0.0.1", help="MQTT broker host (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=1883, help="MQTT broker port (default 1883)")
    p.add_argument("--prefix", default="climate", help="topic prefix (config mqtt.prefix)")
    p.add_argument("--cmd-id", type=int, help="command id echoed in the ack (default: random)")
    p.add_argument(
        "--timeout", type=float, default=1200.0, help="seconds to wait for the ack (default 1200)"
    )
    p.add_argument(
        "--print",
        action="store_true",
        help="only print the downlink (hex and base64, FPort 10) for a LoRaWAN network server",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    if not MIN_PPM <= args.ppm <= MAX_PPM:
        print(f"stationctl calibrate-co2: --ppm must be {MIN_PPM}..{MAX_PPM}", file=sys.stderr)
        return exitcodes.USAGE
    cmd_id = random.randrange(256) if args.cmd_id is None else args.cmd_id
    if not 0 <= cmd_id <= 255:
        print("stationctl calibrate-co2: --cmd-id must be 0..255", file=sys.stderr)
        return exitcodes.USAGE
    payload = codec.encode_command("calibrate_co2", cmd_id, reference_ppm=args.ppm)
    if args.print:
        print(f"FPort 10  hex {payload.hex()}  base64 {base64.b64encode(payload).decode()}")
        return exitcodes.OK
    if not args.station:
        print("stationctl calibrate-co2: --station is needed (or --print)", file=sys.stderr)
        return exitcodes.USAGE
    ack = _send_and_wait(args, payload, cmd_id)
    if ack is None:
        print(
            f"no answer from {args.station} within {args.timeout:g} s (the command stays queued "
            "for its next connect; the ack then appears on its /ack topic)",
            file=sys.stderr,
        )
        return exitcodes.UNREACHABLE
    if ack["result"] == "ok":
        print(
            f"{args.station}: CO2 recalibrated to {args.ppm} ppm, correction {ack['value']:+d} ppm"
        )
        return exitcodes.OK
    hint = HINTS.get(ack["result"], "")
    print(f"{args.station}: refused: {ack['result']}" + (f" ({hint})" if hint else ""))
    return exitcodes.FAILED


def _send_and_wait(args, payload: bytes, cmd_id: int) -> dict | None:
    import paho.mqtt.client as mqtt

    base = f"{args.prefix}/{args.station}"
    got: dict = {}
    done = threading.Event()
    subscribed = threading.Event()

    def on_connect(client, userdata, flags, reason, properties=None):
        client.subscribe(base + "/ack", qos=1)

    def on_subscribe(client, userdata, mid, reasons, properties=None):
        subscribed.set()

    def on_message(client, userdata, msg):
        try:
            ack = codec.decode(msg.payload, 4)[0]
        except codec.FrameError:
            return  # not an ack frame: someone else's traffic on the topic
        if ack.get("cmd_id") == cmd_id and not done.is_set():
            got.update(ack)
            done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"stationctl-frc-{cmd_id}")
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect(args.broker, args.port)
    client.loop_start()
    try:
        if not subscribed.wait(10):
            return None
        client.publish(base + "/cmd", payload, qos=1).wait_for_publish(10)
        deadline = time.monotonic() + args.timeout
        while not done.wait(0.1):
            if time.monotonic() > deadline:
                return None
        return got
    finally:
        client.loop_stop()
        client.disconnect()
