"""Writes host_tools/payload/climate-station-codec.yaml from the golden vectors.

    .venv/bin/python tests/vectors/make_codec_yaml.py      (after make_golden.py)

The examples' expected outputs come from the Python decoder; tests/test_payload_js.py runs them
through the JavaScript formatter under Node and checks them against the Python decoder again.
"""

import datetime
import json
from pathlib import Path

from stationctl.payload import decoder as codec

REPO = Path(__file__).resolve().parents[2]


G = json.loads((REPO / "tests" / "vectors" / "golden.json").read_text())


def hexbytes(h):
    return "[" + ", ".join("0x%02X" % b for b in bytes.fromhex(h)) + "]"


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_ms(t):
    """As JavaScript's Date.toISOString() writes it (RFC 3339 with milliseconds)."""
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def normalized(samples, frame):
    """The Things Stack's normalized payload of decoded samples (the spec's section 12):
    air.temperature, relativeHumidity, pressure (900..1100 hPa only) and co2, with the time."""
    if frame not in ("sample", "batch", "lpp"):
        return {"data": [], "warnings": [frame + " frame: no measurements"], "errors": []}
    out, warnings = [], []
    for smp in samples:
        m, air = {}, {}
        if smp.get("time") is not None:
            m["time"] = iso_ms(smp["time"])
        for key, name in (("temperature_c", "temperature"), ("humidity_pct", "relativeHumidity"),
                          ("pressure_hpa", "pressure"), ("co2_ppm", "co2")):  # fmt: skip
            if key not in smp:
                continue
            if key == "pressure_hpa" and not 900 <= smp[key] <= 1100:
                warnings.append(
                    f"pressure {smp[key]:g} hPa is outside the normalized range 900..1100: left out"
                )
                continue
            air[name] = smp[key]
        if air:
            m["air"] = air
        out.append(m)
    return {"data": out, "warnings": warnings, "errors": []}


lines = [
    "# Codec of the city climate station, payload format v2 (docs/payload-format.md), in the",
    "# format of TheThingsNetwork lorawan-devices. Every example runs as a test under Node",
    "# (tests/test_payload_js.py). Values: JSON flow style, which is valid YAML.",
    "uplinkDecoder:",
    "  fileName: climate-station.js",
    "  examples:",
]
# every golden vector but the two RH-boundary twins and the 30-sample split (4 frames)
SKIP = ("RH boundary: 70.2", "range ends", "30 samples at EU868 DR0")
for v in G["vectors"]:
    if v["name"].startswith(SKIP):
        continue
    f = v["frames"][0]
    data = codec.decode(bytes.fromhex(f["hex"]), v["fport"], v["received_at"])
    warnings = []
    if v["kind"] in ("sample", "batch", "extension"):
        kind = bytes.fromhex(f["hex"])[0] >> 1 & 3
        if kind < 2 and v["received_at"] is None:
            warnings = ["no receive time: sample times left null (see age_s)"]
        for cid in sorted({e["id"] for smp in data for e in smp.get("unknown_channels", ())}):
            warnings.append(
                "channel %d is not known to this decoder (raw value in unknown_channels)" % cid
            )
        out = (
            dict(frame="sample", **data[0])
            if v["kind"] in ("sample", "extension")
            else {"frame": "batch", "samples": data}
        )
    elif v["kind"] == "lpp":
        out = dict(data[0], frame="lpp")
        for key in out.get("left_out", ()):
            warnings.append(f"{key} above 327.67 ug/m3 did not fit Cayenne LPP and was left out")
    else:
        out = data[0]
    frame = out.get("frame")
    norm = normalized(data if frame != "lpp" else [out], frame)
    lines.append("    - description: " + json.dumps(v["name"]))
    lines.append("      input:")
    lines.append("        fPort: %d" % v["fport"])
    lines.append("        bytes: " + hexbytes(f["hex"]))
    if v["received_at"] is not None:
        lines.append("        recvTime: '%s'" % iso(v["received_at"]))
    lines.append("      output:")
    lines.append("        data: " + json.dumps(out, ensure_ascii=False))
    lines.append("        warnings: " + json.dumps(warnings))
    lines.append("        errors: []")
    lines.append("      normalizedOutput:")
    lines.append("        data: " + json.dumps(norm["data"], ensure_ascii=False))
    lines.append("        warnings: " + json.dumps(norm["warnings"]))
    lines.append("        errors: []")
# the lorawan-devices schema wants at least one byte per example: no "empty frame" example
for b in [b for b in G["invalid"] if b["hex"]][:6]:
    lines.append("    - description: " + json.dumps("rejected: " + b["name"]))
    lines.append("      input:")
    lines.append("        fPort: %d" % b["fport"])
    lines.append("        bytes: " + hexbytes(b["hex"]))
    try:
        codec.decode(bytes.fromhex(b["hex"]), b["fport"])
    except codec.FrameError as e:
        msg = str(e)
    lines.append("      output:")
    lines.append("        data: {}")
    lines.append("        warnings: []")
    lines.append("        errors: " + json.dumps([msg]))
cmds = [
    (
        "Set the sampling interval to 15 minutes",
        {"command": "set_interval", "cmd_id": 1, "interval_s": 900},
    ),
    ("Send up to 12 samples per frame", {"command": "set_batch", "cmd_id": 2, "batch": 12}),
    (
        "Adaptive data rate on, DR0 as the floor",
        {"command": "set_datarate", "cmd_id": 3, "adr": True, "dr": 0},
    ),
    ("Ask for a status frame", {"command": "request_status", "cmd_id": 4}),
    ("Reboot after acknowledging", {"command": "reboot", "cmd_id": 5}),
    ("Clear the journal", {"command": "clear_journal", "cmd_id": 6}),
    (
        "Set a config key (log level)",
        {"command": "set_config", "cmd_id": 7, "key": "log_level", "value": "W"},
    ),
    (
        "Recalibrate the CO2 sensor to a 415 ppm reference",
        {"command": "calibrate_co2", "cmd_id": 8, "reference_ppm": 415},
    ),
]
lines += ["downlinkEncoder:", "  fileName: climate-station.js", "  examples:"]
for d, data in cmds:
    args = {k: v for k, v in data.items() if k not in ("command", "cmd_id")}
    bs = codec.encode_command(data["command"], data["cmd_id"], **args)
    lines += [
        "    - description: " + json.dumps(d),
        "      input:",
        "        data: " + json.dumps(data),
        "      output:",
        "        bytes: " + hexbytes(bs.hex()),
        "        fPort: 10",
        "        warnings: []",
        "        errors: []",
    ]
# without cmd_id: a CRC-8 of the command, so the ack names the command it answers
default_id = {"command": "set_interval", "interval_s": 600}
bs = codec.encode_command("set_interval", interval_s=600)
lines += [
    '    - description: "cmd_id left out: a CRC-8 of the command"',
    "      input:",
    "        data: " + json.dumps(default_id),
    "      output:",
    "        bytes: " + hexbytes(bs.hex()),
    "        fPort: 10",
    "        warnings: []",
    "        errors: []",
]
# what the station refuses is refused before a downlink is spent on it
refused = [
    ("unknown command", {"command": "self_destruct"}),
    ("interval below the station's 10 s", {"command": "set_interval", "interval_s": 5}),
    ("batch of 0", {"command": "set_batch", "batch": 0}),
    ("data rate 15", {"command": "set_datarate", "adr": False, "dr": 15}),
    ("a secret", {"command": "set_config", "key": "mqtt.password", "value": "x"}),
    ("log level not in the schema", {"command": "set_config", "key": "log_level", "value": "Q"}),
]
for d, data in refused:
    args = {k: v for k, v in data.items() if k != "command"}
    try:
        codec.encode_command(data["command"], **args)
    except codec.CommandError as exc:
        msg = str(exc)
    else:
        raise SystemExit(f"the Python encoder accepts {data}")
    lines += [
        "    - description: " + json.dumps("rejected: " + d),
        "      input:",
        "        data: " + json.dumps(data),
        "      output:",
        "        errors: " + json.dumps([msg]),
        "        warnings: []",
    ]
lines += [
    '    - description: "rejected: a port other than 10 (the station drops it)"',
    "      input:",
    "        fPort: 5",
    '        data: {"command": "reboot", "cmd_id": 9}',
    "      output:",
    '        errors: ["commands go on FPort 10 (the station drops other ports), not 5"]',
    "        warnings: []",
]
lines += ["downlinkDecoder:", "  fileName: climate-station.js", "  examples:"]
for d, data in cmds:
    args = {k: v for k, v in data.items() if k not in ("command", "cmd_id")}
    bs = codec.encode_command(data["command"], data["cmd_id"], **args)
    lines += [
        "    - description: " + json.dumps(d),
        "      input:",
        "        fPort: 10",
        "        bytes: " + hexbytes(bs.hex()),
        "      output:",
        "        data: " + json.dumps(codec.decode_command(bs)),
        "        warnings: []",
        "        errors: []",
    ]
lines += [
    '    - description: "rejected: set_interval cut short"',
    "      input:",
    "        fPort: 10",
    "        bytes: [0x21, 0x01, 0x00, 0x03]",
    "      output:",
    "        data: {}",
    "        warnings: []",
    '        errors: ["set_interval needs 3 argument byte(s), got 2"]',
]
(REPO / "host_tools" / "payload" / "climate-station-codec.yaml").write_text("\n".join(lines) + "\n")
