"""Prove that a station is set up right: one report of checks, each PASS or FAIL.

Checks: MicroPython on the station and the platform its board config is for; every firmware
file against this laptop's firmware build (what `deploy` would send; sha256 computed on the
station); the board config against the firmware's schema; station config (valid, and equal to
an expected config when given); secrets (form and presence, never values); the lifecycle state
from the breadcrumbs (safe mode, last crash, resets in the crash-loop window); an on-station
self-test: every configured sensor answers with values inside the firmware's valid ranges, the
modem answers, and the uplink is reachable when asked; finally (`cycle_check`) that the firmware,
restarted, boots and takes a sample.
"""

from __future__ import annotations

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
    dev: Session,
    port: str,
    expected_digest: str | None = None,
    check_uplink: bool = False,
    expected_files: dict[str, bytes] | None = None,
) -> Report:
    """Every check on a connected station. `expected_files`: the firmware build to compare
    with (default: this laptop's, as `deploy` would send it)."""
    rep = Report(port=port, time_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    info = dev.info()
    rep.micropython = f"MicroPython {'.'.join(map(str, info.get('impl', ())))}"
    rep.add("micropython", True, f"{info.get('version')} on {info.get('platform')}")
    board = _check_board(rep, dev, info.get("platform"))
    _check_files(rep, dev, expected_files)
    if board is None:
        return rep
    dev.load_code("selftest.py")
    st = dev.call(f"_scselftest({bool(check_uplink)})", timeout=120)
    rep.firmware = st.get("firmware")
    if st.get("error"):
        rep.add("board", False, st["error"] + " (run `stationctl deploy --board ...`)")
        return rep
    rep.uid = st.get("uid")
    _check_config(rep, st.get("config", {}), expected_digest)
    rep.reset_cause = st.get("reset")
    _check_lifecycle(rep, st.get("lifecycle", {}), rep.reset_cause)
    _check_sensors(rep, st)
    _check_modem(rep, st.get("modem"))
    if check_uplink:
        u = st.get("uplink", {})
        w = u.get("wifi")
        if w is not None:
            detail = (
                f"joined {w.get('ssid')} at {w.get('rssi')} dBm" if w.get("ok") else "none joined"
            )
            rep.add("wifi", bool(w.get("ok")), detail)
        rep.add(
            "uplink",
            u.get("ok", False),
            f"{u.get('kind')}: " + (u.get("error") or u.get("detail") or "reachable"),
        )
    return rep


def _check_board(rep: Report, dev: Session, platform: str | None):
    """The station's /board.json against the schema, and the platform it is for."""
    from stationctl.station import boardconfig

    text = dev.get_text("/board.json")
    if text is None:
        rep.add("board", False, "no /board.json: run `stationctl deploy --board ...`")
        return None
    try:
        board = boardconfig.parse(text.encode(), "/board.json")
    except boardconfig.BoardError as exc:
        rep.add("board", False, f"{exc} (run `stationctl deploy --board ...`)".replace("\n", " "))
        return None
    rep.board = board.name
    if board.platform != platform:
        rep.add(
            "board",
            False,
            f"{board.name} is a {board.cfg.get('family')} board ({board.platform}), but the "
            f"station runs MicroPython for {platform}: deploy the board config of this station",
        )
        return None
    fitted = [s.get("name", s.get("type")) for s in board.cfg["sensors"]]
    if board.cfg.get("modem"):
        fitted.append(f"modem {board.cfg['modem'].get('type')}")
    rep.add("board", True, f"{board.name} on {platform}: {', '.join(fitted)}")
    return board


def _check_files(rep: Report, dev: Session, expected: dict[str, bytes] | None) -> None:
    """Every firmware file against the laptop's build: a file changed on the station, even with
    its hash written into the station's manifest, is found."""
    from stationctl.station import deploy as dp

    if expected is None:
        try:
            expected = dp.build_files(None)
        except Exception as exc:  # noqa: BLE001 (mpy-cross, libraries): say it, check the rest
            rep.add("files", False, f"cannot build the firmware on this laptop to compare: {exc}")
            return
    paths = sorted(expected)
    got = dev.hashes(paths)
    missing = [p for p in paths if got.get(p) is None]
    differ = [p for p in paths if got.get(p) not in (None, dp.sha256(expected[p]))]
    manifest = dev.hashes([dp.MANIFEST]).get(dp.MANIFEST)
    parts = []
    if differ:
        parts.append("differ from this laptop's firmware build: " + ", ".join(differ))
    if missing:
        parts.append("missing: " + ", ".join(missing))
    if manifest is None and not parts:
        parts.append("no /manifest.json: a deploy was cut off")
    if parts:
        rep.add("files", False, "; ".join(parts) + " (run `stationctl deploy`)")
    else:
        rep.add("files", True, f"{len(paths)} files equal this laptop's firmware build")


def _check_config(rep: Report, cfg: dict, expected_digest: str | None) -> None:
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


def _utc(unix_s: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(unix_s))


def _check_lifecycle(rep: Report, life: dict, reset_cause) -> None:
    """Safe mode and crash loops from the firmware's breadcrumbs (RTC memory)."""
    if life.get("error"):
        rep.add("lifecycle", False, f"breadcrumbs unreadable: {life['error']}")
        return
    cause = f"last reset {reset_cause}"
    if life.get("safe"):
        until = life.get("safe_until") or 0
        left = max(0, until - life.get("now", 0))
        rep.add(
            "lifecycle",
            False,
            f"SAFE MODE (crash loop: the cycle does not run) until {_utc(until)} ({left} s "
            f"left); last reason {life.get('reason')}, {life.get('recent_resets')} unexpected "
            f"resets in {life.get('window_s')} s; {cause}. Read `stationctl monitor`, fix, "
            "then `import station; station.resume()` at the REPL",
        )
        return
    n, limit = life.get("recent_resets", 0), life.get("max_resets", 3)
    if n:
        rep.add(
            "lifecycle",
            False,
            f"{n} unexpected reset(s) in the last {life.get('window_s')} s (safe mode at "
            f"{limit}); last reason {life.get('reason')} in phase {life.get('phase')}; {cause}",
        )
        return
    rep.add("lifecycle", True, f"no crash or watchdog reset in the window; {cause}")


def _check_sensors(rep: Report, st: dict) -> None:
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


def _check_modem(rep: Report, modem: dict | None) -> None:
    if modem is None:
        return
    rep.add(
        "modem",
        modem.get("ok", False),
        f"{modem.get('type')} answers"
        if modem.get("ok")
        else f"{modem.get('type')} does not answer: {modem.get('error', 'no reply')}",
    )


# diagnostics codes that say the firmware's cycle is not running after a restart
_NOT_RUNNING = ("BOOT.FAILED", "BOARD.INVALID", "CRASH", "SAFE.ENTER", "SAFE.ACTIVE")


def cycle_check(rep: Report, transport, timeout_s: float = 90.0) -> None:
    """Restart the firmware and watch it: PASS when it boots and takes a sample (the cycle
    runs), FAIL with the line that says why it does not."""
    from stationctl.station.monitor import TRACEBACK_START, parse_line

    transport.soft_reset(run_main=True)
    deadline = time.monotonic() + timeout_s
    buf = b""
    booted = False
    while time.monotonic() < deadline:
        buf += transport.read_some()
        while b"\n" in buf:
            raw, buf = buf.split(b"\n", 1)
            text = raw.decode("utf-8", "replace").strip()
            d = parse_line(text)
            if d is not None and d.code == "BOOT":
                booted = True
            elif d is not None and d.code == "SAMPLE":
                rep.add("cycle", True, f"restarted and sampled (seq {d.fields.get('seq')})")
                return
            elif (d is not None and d.code in _NOT_RUNNING) or text.startswith(TRACEBACK_START):
                rep.add("cycle", False, f"the firmware does not run its cycle: {text[:200]}")
                return
        if buf.endswith(b">>> "):
            rep.add("cycle", False, "the firmware stopped at the REPL prompt after the restart")
            return
    what = "booted but took no sample" if booted else "printed no BOOT line"
    rep.add("cycle", False, f"after the restart the firmware {what} within {timeout_s:g} s")
