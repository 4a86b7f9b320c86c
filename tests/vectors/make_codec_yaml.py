"""Writes host_tools/payload/climate-station-codec.yaml from the golden vectors.

    .venv/bin/python tests/vectors/make_codec_yaml.py      (after make_golden.py)

The examples' expected outputs come from the Python decoder; tests/test_payload_js.py runs them
through the JavaScript formatter under Node and checks them against the Python decoder again.
"""

import datetime
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "host_tools"))

from stationctl.payload import decoder as codec  # noqa: E402

G = json.loads((REPO / "tests" / "vectors" / "golden.json").read_text())


def hexbytes(h):
    return "[" + ", ".join("0x%02X" % b for b in bytes.fromhex(h)) + "]"


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
    else:
        out = data[0]
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
lines += [
    '    - description: "rejected: unknown command"',
    "      input:",
    '        data: {"command": "self_destruct"}',
    "      output:",
    '        errors: ["unknown command \\"self_destruct\\" (one of set_interval, set_batch, set_datarate, request_status, reboot, clear_journal, set_config)"]',
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
