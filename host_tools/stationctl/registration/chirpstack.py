"""ChirpStack v4: the REST API request bodies that register a batch of stations.

One file with what an operator (or a script with `curl`) posts, in order:
  POST /api/device-profiles            {"deviceProfile": ...}       (once: EU868, class A, codec)
  POST /api/devices                    {"device": ...}              (per station)
  POST /api/devices/{devEui}/keys      {"deviceKeys": ...}          (per station)

Field names and enum values from ChirpStack's API definitions (chirpstack/api/proto:
api/device_profile.proto `DeviceProfile`, api/device.proto `Device` and `DeviceKeys`,
common/common.proto `Region`, `MacVersion`, `RegParamsRevision`), in the JSON names the REST
gateway uses (lowerCamelCase). For LoRaWAN 1.0.x the AppKey goes in `nwkKey` (device.proto:
"For LoRaWAN 1.0.x, use this field for the LoRaWAN 1.0.x 'AppKey'").
"""

from __future__ import annotations

import json

from stationctl.registration.record import Registration, formatter_js

MAC_VERSION = {"1.0.2": "LORAWAN_1_0_2", "1.0.3": "LORAWAN_1_0_3", "1.0.4": "LORAWAN_1_0_4"}
REG_PARAMS = {"1.0.2-B": "B", "1.0.3-A": "A"}
TENANT_PLACEHOLDER = "<tenant id>"
APPLICATION_PLACEHOLDER = "<application id>"
PROFILE_PLACEHOLDER = "<device profile id returned by POST /api/device-profiles>"


def device_profile(reg: Registration, uplink_interval_s: int, tenant_id: str) -> dict:
    return {
        "deviceProfile": {
            "tenantId": tenant_id,
            "name": f"climate-station {reg.modem} {reg.region}",
            "description": "City climate station (class A, OTAA)",
            "region": reg.region,
            "macVersion": MAC_VERSION[reg.mac_version],
            "regParamsRevision": REG_PARAMS[reg.phy_version],
            "adrAlgorithmId": "default",
            "payloadCodecRuntime": "JS",
            "payloadCodecScript": formatter_js(),
            "uplinkInterval": uplink_interval_s,
            "supportsOtaa": True,
            "supportsClassB": False,
            "supportsClassC": False,
        }
    }


def device(reg: Registration, application_id: str, profile_id: str) -> dict:
    return {
        "device": {
            "devEui": reg.dev_eui.lower(),
            "joinEui": reg.join_eui.lower(),
            "name": reg.station_id,
            "description": f"climate station {reg.station_id} ({reg.board})",
            "applicationId": application_id,
            "deviceProfileId": profile_id,
            "skipFcntCheck": False,
            "isDisabled": False,
            "tags": {"board": reg.board},
        }
    }


def device_keys(reg: Registration) -> dict:
    return {"deviceKeys": {"nwkKey": (reg.app_key or "").lower()}}


def export(
    regs: list[Registration],
    uplink_interval_s: int = 900,
    tenant_id: str = TENANT_PLACEHOLDER,
    application_id: str = APPLICATION_PLACEHOLDER,
    profile_id: str = PROFILE_PLACEHOLDER,
) -> str:
    if not regs:
        return json.dumps({"deviceProfiles": [], "devices": []}, indent=1) + "\n"
    profiles = {}
    for r in regs:
        key = (r.modem, r.region)
        profiles.setdefault(key, device_profile(r, uplink_interval_s, tenant_id))
    out = {
        "deviceProfiles": list(profiles.values()),
        "devices": [
            {
                **device(r, application_id, profile_id),
                "keys": {"path": f"/api/devices/{r.dev_eui.lower()}/keys", **device_keys(r)},
            }
            for r in regs
        ],
    }
    return json.dumps(out, indent=1) + "\n"
