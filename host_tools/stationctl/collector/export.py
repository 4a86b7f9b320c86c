"""Open-data outputs of the stored readings (docs/collector.md, "Exports"):

- CSV, one station and period: one row per reading, times ISO 8601 UTC, units in the column names;
- FIWARE smart data models as NGSI-LD entities (normalized form): `WeatherObserved`
  (temperature, relative humidity, pressure) and `AirQualityObserved` (CO2, particulate matter,
  temperature and humidity). The models' units: relativeHumidity is a fraction 0..1,
  atmosphericPressure in hPa, dateObserved ISO 8601 UTC, refDevice the station's Device entity;
  each property carries its UN/CEFACT unitCode;
- OGC SensorThings API (v1.1) JSON: a Thing per station, a Datastream per station and quantity
  (with its Sensor and ObservedProperty), Observations.

Readings whose station clock was not synced (time_kind "uptime") have no date: they are left out
of every export and counted in `skipped`.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from stationctl.collector.store import COLUMNS
from stationctl.payload.decoder import KEYS

NGSI_LD_CONTEXT = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"
SDM_CONTEXT = "https://raw.githubusercontent.com/smart-data-models/dataModel.Environment/master/context.jsonld"

# channel key -> (model attribute, scale to the model's unit, UN/CEFACT unit code)
WEATHER = {
    "temperature_c": ("temperature", 1, "CEL"),
    "humidity_pct": ("relativeHumidity", 0.01, "C62"),  # the model: a fraction 0..1
    "pressure_hpa": ("atmosphericPressure", 1, "A97"),  # the model: hectopascal
}
AIR_QUALITY = {
    "co2_ppm": ("co2", 1, "59"),
    "pm1_0_ugm3": ("pm1", 1, "GQ"),
    "pm2_5_ugm3": ("pm25", 1, "GQ"),
    "pm10_ugm3": ("pm10", 1, "GQ"),
    "temperature_c": ("temperature", 1, "CEL"),
    "humidity_pct": ("relativeHumidity", 0.01, "C62"),
}
# SensorThings: channel key -> (observed property, unit name, symbol, definition)
QUANTITIES = {
    "temperature_c": ("air temperature", "degree Celsius", "°C", "http://qudt.org/vocab/unit/DEG_C"),
    "humidity_pct": ("relative humidity", "percent", "%", "http://qudt.org/vocab/unit/PERCENT"),
    "pressure_hpa": ("air pressure", "hectopascal", "hPa", "http://qudt.org/vocab/unit/HectoPA"),
    "co2_ppm": ("CO2 concentration", "parts per million", "ppm", "http://qudt.org/vocab/unit/PPM"),
    "pm1_0_ugm3": ("PM1", "microgram per cubic metre", "µg/m³", "http://qudt.org/vocab/unit/MicroGM-PER-M3"),
    "pm2_5_ugm3": ("PM2.5", "microgram per cubic metre", "µg/m³", "http://qudt.org/vocab/unit/MicroGM-PER-M3"),
    "pm10_ugm3": ("PM10", "microgram per cubic metre", "µg/m³", "http://qudt.org/vocab/unit/MicroGM-PER-M3"),
    "voc_index": ("VOC index (Sensirion)", "index", "1", "http://qudt.org/vocab/unit/UNITLESS"),
    "battery_v": ("battery voltage", "volt", "V", "http://qudt.org/vocab/unit/V"),
}  # fmt: skip
OM_MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"


@dataclass
class Row:
    """One stored reading, by column name."""

    station: str
    seq: int
    time_s: int
    values: dict  # channel key -> value (only the channels sent)
    detail: dict


def iso_utc(unix_s: int) -> str:
    return datetime.fromtimestamp(unix_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rows(raw: list[tuple], start_s: int | None = None, end_s: int | None = None):
    """Readings (store.readings() tuples) with a date in [start_s, end_s): (rows, skipped)."""
    out, skipped = [], 0
    for r in raw:
        d = dict(zip(COLUMNS, r, strict=True))
        if d["time_kind"] != "unix":
            skipped += 1
            continue
        t = int(d["time_s"])
        if (start_s is not None and t < start_s) or (end_s is not None and t >= end_s):
            continue
        values = {k: d[k] for k in KEYS if d[k] is not None}
        out.append(Row(d["station"], int(d["seq"]), t, values, json.loads(d["detail"])))
    return out, skipped


def to_csv(readings: list[Row]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["station", "seq", "time_utc", *KEYS, "fault", "implausible"])
    for r in readings:
        health = r.detail.get("health", {})
        w.writerow(
            [r.station, r.seq, iso_utc(r.time_s)]
            + ["" if r.values.get(k) is None else r.values[k] for k in KEYS]
            + [" ".join(health.get("fault", [])), " ".join(health.get("implausible", []))]
        )
    return buf.getvalue()


def device_urn(station: str) -> str:
    return f"urn:ngsi-ld:Device:{station}"


def _usable(r: Row, key: str) -> bool:
    # a channel the station flagged as faulty or implausible is not published as an observation
    health = r.detail.get("health", {})
    return (
        key in r.values
        and key not in health.get("fault", ())
        and key not in health.get("implausible", ())
    )


def ngsi_ld(r: Row, model: str) -> dict | None:
    """The reading as an NGSI-LD entity of `model` (WeatherObserved or AirQualityObserved) in
    normalized form; None when it has none of the model's quantities."""
    table = {"WeatherObserved": WEATHER, "AirQualityObserved": AIR_QUALITY}[model]
    when = iso_utc(r.time_s)
    entity: dict = {
        "id": f"urn:ngsi-ld:{model}:{r.station}:{when}",
        "type": model,
        "dateObserved": {"type": "Property", "value": {"@type": "DateTime", "@value": when}},
        "refDevice": {"type": "Relationship", "object": device_urn(r.station)},
    }
    found = False
    for key, (attr, scale, unit) in table.items():
        if not _usable(r, key):
            continue
        value = r.values[key] * scale
        entity[attr] = {"type": "Property", "value": round(value, 4), "unitCode": unit}
        found = True
    if not found:
        return None
    entity["@context"] = [SDM_CONTEXT, NGSI_LD_CONTEXT]
    return entity


def key_values(entity: dict) -> dict:
    """An NGSI-LD entity in key-values form (what the smart data models' schemas describe)."""
    out = {}
    for k, v in entity.items():
        if k == "@context":
            continue
        if isinstance(v, dict) and v.get("type") == "Property":
            val = v["value"]
            out[k] = val["@value"] if isinstance(val, dict) and "@value" in val else val
        elif isinstance(v, dict) and v.get("type") == "Relationship":
            out[k] = v["object"]
        else:
            out[k] = v
    return out


def sensorthings(readings: list[Row]) -> dict:
    """Things with their Datastreams (each with Sensor and ObservedProperty) and Observations,
    as the deep-insert JSON of the SensorThings API (POST /Things)."""
    things: dict[str, dict] = {}
    streams: dict[tuple[str, str], dict] = {}
    for r in readings:
        thing = things.get(r.station)
        if thing is None:
            thing = things[r.station] = {
                "name": r.station,
                "description": f"city climate station {r.station}",
                "properties": {"refDevice": device_urn(r.station)},
                "Datastreams": [],
            }
        for key in KEYS:
            if not _usable(r, key):
                continue
            ds = streams.get((r.station, key))
            if ds is None:
                prop, unit, symbol, definition = QUANTITIES[key]
                ds = streams[(r.station, key)] = {
                    "name": f"{r.station} {prop}",
                    "description": f"{prop} measured by station {r.station}",
                    "observationType": OM_MEASUREMENT,
                    "unitOfMeasurement": {"name": unit, "symbol": symbol, "definition": definition},
                    "ObservedProperty": {
                        "name": prop,
                        "definition": f"urn:climate-station:quantity:{key}",
                        "description": prop,
                    },
                    "Sensor": {
                        "name": f"{r.station} {key}",
                        "description": f"the sensor of station {r.station} for {prop}",
                        "encodingType": "text/plain",
                        "metadata": "docs/sensors.md of the climate station project",
                    },
                    "Observations": [],
                }
                thing["Datastreams"].append(ds)
            when = iso_utc(r.time_s)
            ds["Observations"].append(
                {"phenomenonTime": when, "resultTime": when, "result": r.values[key]}
            )
    return {"value": list(things.values())}
