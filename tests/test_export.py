"""Exports of the collector's readings: CSV per station and period, FIWARE NGSI-LD entities
checked against the smart data models' attribute definitions shipped by pysmartdatamodels
(offline), OGC SensorThings JSON checked against the entity rules of the SensorThings API 1.1."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from datetime import datetime

import jsonschema
import pytest
from stationctl.collector import export
from stationctl.collector.collector import Collector
from stationctl.collector.store import SqliteStore
from stationctl.payload.firmware_codec import FirmwareCodec

T0 = 1767225600  # 2026-01-01T00:00:00Z
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _samples(station_k: int, n: int) -> list[dict]:
    out = []
    for i in range(n):
        s = {
            "seq": i,
            "time": T0 + 600 * i,
            "temperature_c": 3.5 + station_k + 0.1 * i,
            "humidity_pct": 81.5,
            "pressure_hpa": 1003.4,
            "co2_ppm": 455,
            "pm1_0_ugm3": 2.1,
            "pm2_5_ugm3": 4.2,
            "pm10_ugm3": 7.9,
            "voc_index": 100,
            "battery_v": 3.8,
            "health": {"clock_synced": True},
        }
        out.append(s)
    return out


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("export") / "r.sqlite")
    c = Collector(SqliteStore(path), log=lambda s: None, receipts=False)
    with FirmwareCodec() as fw:
        for k in range(2):
            for frame, _ in fw.encode(_samples(k, 12), batch=4):
                c.take(f"climate/st-{k}/up", frame, T0)
        # a station whose clock was not synced: uptime times, no date to export
        up = _samples(0, 1)
        up[0]["time"] = 4000
        up[0]["health"] = {"clock_synced": False}
        c.take("climate/st-9/up", fw.encode(up)[0][0], T0)
    return SqliteStore(path)


def test_csv_one_station_one_period(db):
    rows, skipped = export.rows(db.readings("st-1"), T0 + 600, T0 + 6 * 600)
    text = export.to_csv(rows)
    got = list(csv.DictReader(io.StringIO(text)))
    assert [r["seq"] for r in got] == ["1", "2", "3", "4", "5"]
    assert got[0]["time_utc"] == "2026-01-01T00:10:00Z"
    assert {r["station"] for r in got} == {"st-1"}
    assert float(got[0]["temperature_c"]) == 4.6 and float(got[0]["humidity_pct"]) == 81.5
    assert skipped == 0
    _, skipped = export.rows(db.readings("st-9"))
    assert skipped == 1


def _model_schema(model: str) -> tuple[dict, set[str]]:
    """A JSON Schema (key-values form) from the model's attribute definitions in
    pysmartdatamodels: each attribute's JSON type and format; plus the rules the model states
    in words (relativeHumidity "between 0 and 1"). Returns the schema and the known names."""
    import pysmartdatamodels.pysmartdatamodels as sdm

    attrs = [a for a in sdm.load_all_attributes() if a.get("dataModel") == model]
    assert attrs, f"pysmartdatamodels has no attributes for {model}"
    props: dict = {}
    for a in attrs:
        rule: dict = {}
        if a.get("type") in ("number", "string", "object", "array", "boolean", "integer"):
            rule["type"] = a["type"]
        if a.get("format"):
            rule["format"] = a["format"]
        props[a["property"]] = rule
    hum = [a for a in attrs if a["property"] == "relativeHumidity"]
    assert hum
    props["relativeHumidity"].update({"minimum": 0, "maximum": 1})
    props["type"] = {"const": model}
    schema = {"type": "object", "required": ["id", "type"], "properties": props}
    return schema, set(props)


@pytest.mark.parametrize("model", ["WeatherObserved", "AirQualityObserved"])
def test_ngsi_ld_entities_follow_the_smart_data_model(db, model):
    schema, known = _model_schema(model)
    rows, _ = export.rows(db.readings())
    entities = [e for r in rows if (e := export.ngsi_ld(r, model))]
    assert len(entities) == 24
    check = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    for e in entities:
        assert e["@context"][-1] == export.NGSI_LD_CONTEXT
        assert e["id"].startswith(f"urn:ngsi-ld:{model}:")
        kv = export.key_values(e)
        errors = [f"{list(x.path)}: {x.message}" for x in check.iter_errors(kv)]
        assert errors == [], (kv, errors)
        assert set(kv) <= known, set(kv) - known  # nothing the model does not define
        assert ISO_UTC.match(kv["dateObserved"]), kv["dateObserved"]
        assert kv["refDevice"].startswith("urn:ngsi-ld:Device:st-")
        for k, v in e.items():
            if isinstance(v, dict) and v.get("type") == "Property" and k != "dateObserved":
                assert v["unitCode"], k
    first = export.key_values(entities[0])
    assert first["relativeHumidity"] == pytest.approx(0.815)  # 81.5 % as the model's fraction
    assert first["dateObserved"] == "2026-01-01T00:00:00Z"
    if model == "WeatherObserved":
        assert first["atmosphericPressure"] == pytest.approx(1003.4)
    else:
        assert first["pm25"] == pytest.approx(4.2) and first["co2"] == 455


def test_ngsi_ld_rejects_a_percentage_humidity():
    """The check has teeth: humidity in percent breaks the model's rule."""
    schema, _ = _model_schema("WeatherObserved")
    bad = {"id": "urn:x", "type": "WeatherObserved", "relativeHumidity": 81.5}
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(bad))


def test_faulty_channels_are_not_published(db):
    row = export.rows(db.readings("st-0"))[0][0]
    row.detail = {"health": {"fault": ["humidity_pct"], "implausible": ["co2_ppm"]}}
    kv = export.key_values(export.ngsi_ld(row, "AirQualityObserved"))
    assert "relativeHumidity" not in kv and "co2" not in kv and "pm25" in kv


# SensorThings API 1.1 (OGC 18-088), section 8.2: the mandatory properties of each entity
_UNIT = {
    "type": "object",
    "required": ["name", "symbol", "definition"],
    "properties": {k: {"type": "string"} for k in ("name", "symbol", "definition")},
}
_NAMED = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "description": {"type": "string"}},
}
STA = {
    "type": "object",
    "required": ["value"],
    "properties": {
        "value": {
            "type": "array",
            "items": {
                **_NAMED,
                "required": ["name", "description", "Datastreams"],
                "properties": {
                    **_NAMED["properties"],
                    "properties": {"type": "object"},
                    "Datastreams": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": [
                                "name", "description", "unitOfMeasurement", "observationType",
                                "Sensor", "ObservedProperty",
                            ],
                            "properties": {
                                "unitOfMeasurement": _UNIT,
                                "observationType": {"const": export.OM_MEASUREMENT},
                                "Sensor": {
                                    **_NAMED,
                                    "required": ["name", "description", "encodingType", "metadata"],
                                },
                                "ObservedProperty": {
                                    **_NAMED,
                                    "required": ["name", "definition", "description"],
                                },
                                "Observations": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["phenomenonTime", "result", "resultTime"],
                                        "properties": {
                                            "phenomenonTime": {"type": "string", "format": "date-time"},
                                            "resultTime": {"type": ["string", "null"]},
                                            "result": {"type": "number"},
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        }
    },
}  # fmt: skip


def test_sensorthings_things_datastreams_observations(db):
    rows, _ = export.rows(db.readings())
    doc = export.sensorthings(rows)
    errors = list(jsonschema.Draft202012Validator(STA).iter_errors(doc))
    assert errors == [], errors[:3]
    things = {t["name"]: t for t in doc["value"]}
    assert set(things) == {"st-0", "st-1"}
    streams = things["st-1"]["Datastreams"]
    assert len(streams) == 9  # every channel of the full station
    temp = next(d for d in streams if d["unitOfMeasurement"]["symbol"] == "°C")
    assert len(temp["Observations"]) == 12
    obs = temp["Observations"][1]
    assert obs["result"] == pytest.approx(4.6)
    assert (
        datetime.fromisoformat(obs["phenomenonTime"].replace("Z", "+00:00")).timestamp() == T0 + 600
    )


def test_export_command(db, tmp_path):
    def run(*a):
        return subprocess.run(
            [sys.executable, "-m", "stationctl.cli", "export", "--db", db.url, *a],
            capture_output=True,
            text=True,
        )

    out = run("--station", "st-0", "--from", "2026-01-01T00:30:00Z", "--to", "2026-01-01T01:00")
    assert out.returncode == 0, out.stderr
    assert [ln.split(",")[1] for ln in out.stdout.splitlines()[1:]] == ["3", "4", "5"]
    out = run("--format", "ngsi-ld")
    assert out.returncode == 0 and len(json.loads(out.stdout)) == 48
    assert "1 reading(s) without a synced clock left out" in out.stderr
    out = run("--format", "csv")
    assert out.returncode == 2 and "give --station" in out.stderr
    out = run("--station", "st-0", "--from", "yesterday")
    assert out.returncode == 2 and "not an ISO 8601" in out.stderr
