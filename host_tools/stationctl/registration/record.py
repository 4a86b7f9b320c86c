"""One station's LoRaWAN registration: identifiers (shown anywhere) and its AppKey (secret).

DevEUI and JoinEUI identify a device; they go on labels and reports. The AppKey is a root key:
it is generated from the OS's secure random source when none is given, written only to the
station's secrets file (mode 0600) and to export files the operator asked for.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from stationctl.mpenv import REPO_ROOT

FORMATTER_JS = REPO_ROOT / "host_tools" / "payload" / "climate-station.js"
ZERO_EUI = "0000000000000000"

# LoRaWAN MAC version / Regional Parameters revision each supported modem implements
# (RAK3172 RUI3 and Seeed LoRa-E5 data sheets: LoRaWAN 1.0.3, Regional Parameters 1.0.3 rev A)
MODEM_LORAWAN = {
    "rak3172": ("1.0.3", "1.0.3-A"),
    "lora_e5": ("1.0.3", "1.0.3-A"),
}
REGIONS = {"EU868"}

_HEX16 = re.compile(r"^[0-9A-F]{16}$")
_HEX32 = re.compile(r"^[0-9A-F]{32}$")


class RegistrationError(Exception):
    """A station cannot be registered as asked; the message says why."""


@dataclass(frozen=True)
class Registration:
    station_id: str
    board: str
    modem: str
    dev_eui: str
    join_eui: str
    region: str = "EU868"
    app_key: str | None = None  # secret: only for export files

    @property
    def mac_version(self) -> str:
        return MODEM_LORAWAN[self.modem][0]

    @property
    def phy_version(self) -> str:
        return MODEM_LORAWAN[self.modem][1]

    def identifiers(self) -> dict:
        """Everything but the key (for reports and labels)."""
        return {
            "station_id": self.station_id,
            "board": self.board,
            "modem": self.modem,
            "dev_eui": self.dev_eui,
            "join_eui": self.join_eui,
            "region": self.region,
            "lorawan_version": self.mac_version,
            "regional_parameters": self.phy_version,
            "class": "A",
        }


def eui(value: str, what: str) -> str:
    h = re.sub(r"[:\-\s]", "", str(value or "")).upper()
    if not _HEX16.match(h):
        raise RegistrationError(f"{what} {value!r} is not 16 hex digits")
    return h


def check_app_key(value: str) -> str:
    h = str(value or "").upper()
    if not _HEX32.match(h):
        raise RegistrationError("the AppKey in the secrets is not 32 hex digits")
    return h


def new_app_key() -> str:
    """A fresh 128-bit AppKey from the OS's secure random source."""
    return secrets.token_hex(16).upper()


def write_secrets_text(path: Path, text: str) -> None:
    """Atomically, readable by the owner only (secrets files, exports holding keys)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def write_secrets(path: Path, data: dict) -> None:
    write_secrets_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def formatter_js() -> str:
    return FORMATTER_JS.read_text()
