"""The Things Stack (v3) end-device import: one JSON object per device, the `EndDevice` message
that `ttn-lw-cli end-devices create` reads and the Console's "Import end devices" accepts in its
"The Things Stack JSON" format (objects one after another; we write one per line).

Field names and enum values from The Things Stack API reference (lorawan-stack
api/protobuf: end_device.proto `EndDevice`, identifiers.proto `EndDeviceIdentifiers`,
lorawan.proto `MACVersion` / `PHYVersion`, messages.proto `MessagePayloadFormatters`) and the
frequency plan ids of lorawan-frequency-plans (EU_863_870_TTN).
"""

from __future__ import annotations

import json
import re

from stationctl.registration.record import Registration, formatter_js

MAC_VERSION = {"1.0.2": "MAC_V1_0_2", "1.0.3": "MAC_V1_0_3", "1.0.4": "MAC_V1_0_4"}
PHY_VERSION = {"1.0.2-B": "PHY_V1_0_2_REV_B", "1.0.3-A": "PHY_V1_0_3_REV_A"}
FREQUENCY_PLAN = {"EU868": "EU_863_870_TTN"}


def device_id(station_id: str) -> str:
    """TTS ids: 2-36 lowercase letters, digits and single dashes, not starting with a dash."""
    d = re.sub(r"[^a-z0-9]+", "-", station_id.lower()).strip("-")
    return d[:36] or "station"


def end_device(reg: Registration, application_id: str, with_formatter: bool = True) -> dict:
    dev = {
        "ids": {
            "device_id": device_id(reg.station_id),
            "application_ids": {"application_id": application_id},
            "dev_eui": reg.dev_eui,
            "join_eui": reg.join_eui,
        },
        "name": reg.station_id,
        "description": f"climate station {reg.station_id} ({reg.board}, {reg.modem})",
        "attributes": {"station_id": reg.station_id, "board": reg.board},
        "lorawan_version": MAC_VERSION[reg.mac_version],
        "lorawan_phy_version": PHY_VERSION[reg.phy_version],
        "frequency_plan_id": FREQUENCY_PLAN[reg.region],
        "supports_join": True,
        "supports_class_b": False,
        "supports_class_c": False,
    }
    if reg.app_key:
        dev["root_keys"] = {"app_key": {"key": reg.app_key}}
    if with_formatter:
        dev["formatters"] = {
            "up_formatter": "FORMATTER_JAVASCRIPT",
            "up_formatter_parameter": formatter_js(),
            "down_formatter": "FORMATTER_JAVASCRIPT",
            "down_formatter_parameter": formatter_js(),
        }
    return dev


def export(regs: list[Registration], application_id: str) -> str:
    return "".join(json.dumps(end_device(r, application_id)) + "\n" for r in regs)
