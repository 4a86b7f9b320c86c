"""Prove that a station is set up right: one report of checks, each PASS or FAIL.

Checks: MicroPython on the station, files against the deploy manifest (sha256 computed on the
station), board config, station config (valid, and equal to an expected config when given),
secrets (form and presence, never values), reset cause, and an on-station self-test: every
configured sensor answers with values inside the firmware's valid ranges, the modem answers,
and the uplink is reachable when asked.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

from stationctl.station.session import Session

# laser particle sensors' rated life (PMS5003 / SDS011 data sheets: about 8,000 h of operation)
LASER_RATED_H = 8000

REQUIRED_SECRETS = {
    "lorawan": ("lorawan_deveui", "lorawan_joineui", "lorawan_appkey"),
    "mqtt": (),
}


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Report:
    port: str
    station_id: str | None = None
    board: str | None = None
    micropython: str | None = None
    firmware: str | None = None
    config_digest: str | None = None
    reset_cause: str | None = None
    uid: str | None = None
    time_utc: str = ""
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name, bool(ok), detail))

    def to_json(self) -> dict:
        d = asdict(self)
        d["ok"] = self.ok
        return d

    def text(self) -> str:
        head = (
            f"station {self.station_id or '?'} on {self.port}: board {self.board or '?'}, "
            f"{self.micropython or '?'}, firmware {self.firmware or '?'}"
        )
        w = max((len(c.name) for c in self.checks), default=4)
        lines = [head]
        for c in self.checks:
            lines.append(f"  {'PASS' if c.ok else 'FAIL'}  {c.name.ljust(w)}  {c.detail}")
        bad = sum(1 for c in self.checks if not c.ok)
        lines.append(
            "RESULT: PASS"
            if not bad
            else f"RESULT: FAIL ({bad} of {len(self.checks)} checks failed)"
        )
        return "\n".join(lines)


def _in_range(values: dict, ranges: dict) -> list[str]:
    bad = []
    for k, v in values.items():
        lo, hi = ranges.get(k, (None, None))
        if lo is not None and not (lo <= v <= hi):
            bad.append(f"{k}={v:g} outside {lo:g}..{hi:g}")
    return bad


def run_checks(
    dev: Session, port: str, expected_digest: str | None = None, check_uplink: bool = False
) -> Report:
    rep = Report(port=port, time_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    info = dev.info()
    rep.micropython = f"MicroPython {'.'.join(map(str, info.get('impl', ())))}"
    rep.add("micropython", True, f"{info.get('version')} on {info.get('platform')}")

    manifest_text = dev.get_text("/manifest.json")
    if manifest_text is None:
        rep.add(
            "files",
            False,
            "no /manifest.json: never deployed, or a deploy was cut off (run `stationctl deploy`)",
        )
    else:
        try:
            listed = json.loads(manifest_text)["files"]
        except (ValueError, KeyError, TypeError):
            listed = None
        if not isinstance(listed, dict):
            rep.add("files", False, "/manifest.json is unreadable: run `stationctl deploy`")
        else:
            got = dev.hashes(sorted(listed))
            missing = [p for p in sorted(listed) if got.get(p) is None]
            differ = [p for p in sorted(listed) if got.get(p) not in (None, listed[p])]
            if missing or differ:
                parts = []
                if differ:
                    parts.append("changed since deploy: " + ", ".join(differ))
                if missing:
                    parts.append("missing: " + ", ".join(missing))
                rep.add("files", False, "; ".join(parts) + " (run `stationctl deploy`)")
            else:
                rep.add("files", True, f"{len(listed)} files match the manifest")

    dev.load_code("selftest.py")
    st = dev.call(f"_scselftest({bool(check_uplink)})", timeout=120)
    rep.firmware = st.get("firmware")
    if st.get("error"):
        rep.add("board", False, st["error"] + " (run `stationctl deploy --board ...`)")
        return rep
    rep.board = st.get("board")
    rep.uid = st.get("uid")
    rep.add("board", True, f"{rep.board} (uid {rep.uid})")
    cfg = st.get("config", {})
    rep.station_id = cfg.get("station_id")
    rep.config_digest = cfg.get("digest")
    if cfg.get("source") != "file":
        why = "; ".join(cfg.get("problems", [])) or "no config.json"
        rep.add(
            "config",
            False,
            f"station runs on {cfg.get('source')} config ({why}): run `stationctl configure`",
        )
    elif expected_digest and cfg.get("digest") != expected_digest:
        rep.add(
            "config",
            False,
            f"digest {cfg.get('digest')} differs from the expected {expected_digest}",
        )
    else:
        rep.add("config", True, f"digest {cfg.get('digest')}, uplink {cfg.get('uplink')}")
    need = REQUIRED_SECRETS.get(cfg.get("uplink"), ())
    have = set(cfg.get("secrets_set", []))
    lacking = [k for k in need if k not in have]
    if cfg.get("secrets_problems"):
        rep.add("secrets", False, "invalid: " + "; ".join(cfg["secrets_problems"]))
    elif lacking:
        rep.add("secrets", False, "missing for the uplink: " + ", ".join(lacking))
    else:
        rep.add("secrets", True, "set: " + (", ".join(sorted(have)) or "none") + " (values hidden)")
    rep.reset_cause = st.get("reset")
    rep.add("reset cause", True, str(rep.reset_cause))
    ranges = {k: tuple(v) for k, v in st.get("ranges", {}).items()}
    sensors = st.get("sensors", [])
    if not sensors:
        rep.add("sensors", False, "the board config lists no sensors")
    for s in sensors:
        name = f"sensor {s['name']}"
        if not s["ok"]:
            rep.add(
                name,
                False,
                f"does not answer ({s.get('error') or 'no reading'}): check "
                "wiring, address and power",
            )
            continue
        bad = _in_range(s["values"], ranges)
        vals = " ".join(f"{k}={v:.6g}" for k, v in sorted(s["values"].items()))
        if bad:
            rep.add(name, False, "implausible: " + ", ".join(bad))
        elif not s["values"]:
            rep.add(name, False, "answered without values")
        else:
            rep.add(name, True, vals)
    for s in sensors:
        if s.get("laser_h") is None:
            continue
        hours = s["laser_h"]
        worn = hours >= LASER_RATED_H
        rep.add(
            f"laser {s['name']}",
            not worn,
            f"{hours} h of ~{LASER_RATED_H} h rated"
            + (": plan a replacement (readings drift as the laser ages)" if worn else ""),
        )
    modem = st.get("modem")
    if modem is not None:
        rep.add(
            "modem",
            modem.get("ok", False),
            f"{modem.get('type')} answers"
            if modem.get("ok")
            else f"{modem.get('type')} does not answer: {modem.get('error', 'no reply')}",
        )
    if check_uplink:
        u = st.get("uplink", {})
        rep.add(
            "uplink", u.get("ok", False), f"{u.get('kind')}: " + (u.get("error") or "reachable")
        )
    return rep
