"""Where a frame came from: the topic layouts the collector understands, and the uplink frame
each message carries.

- a station's own MQTT uplink: `<prefix>/<station_id>/up`, the payload is the frame itself
  (firmware/uplink_mqtt.py); the receive time is the collector's clock.
- The Things Stack v3: `v3/<app>/devices/<device_id>/up`, JSON with
  `uplink_message.frm_payload` (base64), `uplink_message.f_port` and `received_at` (RFC 3339).
- ChirpStack v4: `application/<id>/device/<dev_eui>/event/up`, JSON with `data` (base64),
  `fPort` and `time` (RFC 3339).

`downlink()` is the reverse way for the LoRaWAN ones: the topic and JSON that queue a downlink
through the same integration (TTS: `.../down/replace`, ChirpStack: `.../command/down`).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

STATION_UP = "+/+/up"  # relative to the station prefix
TTS_UP = "v3/+/devices/+/up"
CHIRPSTACK_UP = "application/+/device/+/event/up"


class MessageError(ValueError):
    """A message on a collected topic that does not carry an uplink frame we can read."""


@dataclass(frozen=True)
class Uplink:
    station: str
    frame: bytes
    fport: int | None  # None: MQTT (no port; the frame header says what it is)
    received_at: int  # unix seconds
    source: str  # "mqtt", "tts", "chirpstack"
    app: str = ""  # the network server's application id as the topic names it (tts, chirpstack)
    device: str = ""  # the network server's device id / DevEUI as the topic names it
    confirmed: bool = False  # a confirmed uplink (a LoRaWAN station's link check)


def downlink(up: Uplink, fport: int, payload: bytes) -> tuple[str, bytes]:
    """The topic and JSON message that queue `payload` on `fport` (unconfirmed) for the device
    an uplink from The Things Stack or ChirpStack came from, through the same MQTT integration.
    TTS: `replace` drops what waits in the device's queue (a newer receipt reaches as far)."""
    data = base64.b64encode(payload).decode()
    if up.source == "tts":
        topic = f"v3/{up.app}/devices/{up.device}/down/replace"
        msg = {"downlinks": [{"f_port": fport, "frm_payload": data, "priority": "NORMAL"}]}
    elif up.source == "chirpstack":
        topic = f"application/{up.app}/device/{up.device}/command/down"
        msg = {"devEui": up.device.lower(), "confirmed": False, "fPort": fport, "data": data}
    else:
        raise ValueError(f"no downlink integration for source {up.source!r}")
    return topic, json.dumps(msg, separators=(",", ":")).encode()


def topics(prefix: str, tts: bool, chirpstack: bool) -> list[str]:
    out = [f"{prefix}/+/up"]
    if tts:
        out.append(TTS_UP)
    if chirpstack:
        out.append(CHIRPSTACK_UP)
    return out


def _unix_s(text, what: str) -> int:
    if not isinstance(text, str):
        raise MessageError(f"{what} missing or not a string")
    t = text.strip()
    # RFC 3339 with nanoseconds ("2026-12-02T05:00:00.123456789Z"): fromisoformat takes 6 digits
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    head, dot, rest = t.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        t = head + "." + rest[: min(digits, 6)] + rest[digits:]
    try:
        dt = datetime.fromisoformat(t)
    except ValueError:
        raise MessageError(f"{what} {text[:40]!r} is not an RFC 3339 time") from None
    if dt.tzinfo is None:
        raise MessageError(f"{what} {text[:40]!r} has no time zone")
    return int(dt.timestamp())


def _json(payload: bytes) -> dict:
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise MessageError("payload is not JSON") from None
    if not isinstance(doc, dict):
        raise MessageError("payload is not a JSON object")
    return doc


def _b64(text, what: str) -> bytes:
    if not isinstance(text, str) or not text:
        raise MessageError(f"{what} missing")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise MessageError(f"{what} is not base64") from None


def _port(value, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 223:
        raise MessageError(f"{what} missing or not an FPort 1..223")
    return value


def parse(topic: str, payload: bytes, prefix: str, now_s: int) -> Uplink | None:
    """The uplink a message carries; None for topics that carry none (status, ack, cmd, join
    events...); MessageError for a message on an uplink topic that cannot be read."""
    parts = topic.split("/")
    if len(parts) == 5 and parts[0] == "v3" and parts[2] == "devices" and parts[4] == "up":
        doc = _json(payload)
        up = doc.get("uplink_message")
        if not isinstance(up, dict):
            raise MessageError("uplink_message missing")
        if "frm_payload" not in up:
            return None  # MAC-only uplink (no application payload)
        frame = _b64(up.get("frm_payload"), "uplink_message.frm_payload")
        port = _port(up.get("f_port"), "uplink_message.f_port")
        at = _unix_s(doc.get("received_at") or up.get("received_at"), "received_at")
        confirmed = up.get("confirmed") is True
        return Uplink(parts[3], frame, port, at, "tts", parts[1], parts[3], confirmed)
    if (
        len(parts) == 6
        and parts[0] == "application"
        and parts[2] == "device"
        and parts[4:] == ["event", "up"]
    ):
        doc = _json(payload)
        if "data" not in doc:
            return None  # an uplink without application payload
        frame = _b64(doc.get("data"), "data")
        port = _port(doc.get("fPort"), "fPort")
        at = _unix_s(doc.get("time"), "time")
        confirmed = doc.get("confirmed") is True
        return Uplink(
            parts[3].lower(), frame, port, at, "chirpstack", parts[1], parts[3], confirmed
        )
    pre = prefix.split("/")
    if len(parts) == len(pre) + 2 and parts[: len(pre)] == pre and parts[-1] == "up":
        if not payload:
            raise MessageError("empty frame")
        return Uplink(parts[-2], bytes(payload), None, now_s, "mqtt")
    return None
