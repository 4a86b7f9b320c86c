"""Provision a fleet from a CSV: station after station, flash / deploy / configure / verify.

Fleet CSV (header row; empty cells mean "default"):

    station_id,board,uplink,interval_s,mqtt_host,mqtt_port,mqtt_user,mqtt_password,
    lorawan_region,lorawan_deveui,lorawan_joineui,lorawan_appkey,port
    (optional: wifi_ssid,wifi_password,wifi_country for Wi-Fi boards, mqtt_prefix, log_level)

Every row is checked completely before any station is touched (board config exists; config and
secrets pass the firmware's own validation inside MicroPython; the uplink's keys are present);
a bad row is reported and skipped, never half-applied. Good rows wait for the next board to be
plugged in (a board already provisioned in this run is recognised by its unique id), then go
through flash (with --firmware), deploy, configure and verify on one connection.

The report CSV is rewritten atomically after every row; a station reported `ok` is skipped on
the next run, so an interrupted session resumes where it stopped. Secrets never reach the
report or the screen.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from stationctl.mpenv import REPO_ROOT
from stationctl.station import stationconfig as sc

CONFIG_COLUMNS = {
    "station_id": "station_id",
    "uplink": "uplink",
    "interval_s": "interval_s",
    "log_level": "log_level",
    "mqtt_host": "mqtt.host",
    "mqtt_port": "mqtt.port",
    "mqtt_user": "mqtt.user",
    "mqtt_prefix": "mqtt.prefix",
    "lorawan_region": "lorawan.region",
    "wifi_country": "wifi.country",
}
SECRET_COLUMNS = (
    "mqtt_password",
    "lorawan_deveui",
    "lorawan_joineui",
    "lorawan_appkey",
    "wifi_ssid",
    "wifi_password",
)
OTHER_COLUMNS = ("board", "port")
REPORT_COLUMNS = (
    "row",
    "station_id",
    "board",
    "status",
    "detail",
    "uid",
    "port",
    "config_digest",
    "time_utc",
)
REQUIRED_SECRETS = {"lorawan": ("lorawan_deveui", "lorawan_joineui", "lorawan_appkey")}


class FleetError(Exception):
    """The fleet file as a whole is unusable (nothing was done)."""


@dataclass
class Row:
    number: int  # data row number, 1 = first line after the header
    station_id: str
    board: Path | None
    port: str | None
    config_text: str
    secrets_text: str | None
    problems: list[str] = field(default_factory=list)
    checked: sc.Checked | None = None
    secrets: list[str] = field(default_factory=list)


def _cell_value(text: str):
    try:
        return int(text)
    except ValueError:
        return text


def _board_path(name: str, board_dir: Path) -> Path | None:
    if not name:
        return None
    cand = Path(name)
    if cand.suffix == ".json" and cand.is_file():
        return cand
    cand = board_dir / (name if name.endswith(".json") else f"{name}.json")
    return cand if cand.is_file() else None


def _has_wifi(board: Path | None) -> bool:
    """The board config has a Wi-Fi interface (its `wifi` entry)."""
    if board is None:
        return False
    try:
        return "wifi" in json.loads(board.read_text())
    except (OSError, ValueError):
        return False


def read_fleet(path: Path, board_dir: Path = REPO_ROOT / "board_configs") -> list[Row]:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise FleetError(f"cannot read {path}: {exc.strerror}") from None
    reader = csv.DictReader(io.StringIO(text))
    cols = [c.strip() for c in (reader.fieldnames or [])]
    known = set(CONFIG_COLUMNS) | set(SECRET_COLUMNS) | set(OTHER_COLUMNS)
    unknown = [c for c in cols if c not in known]
    if "station_id" not in cols or "board" not in cols:
        raise FleetError(f"{path}: the header needs at least station_id and board columns")
    if unknown:
        raise FleetError(
            f"{path}: unknown column(s) {', '.join(unknown)}; known: " + ", ".join(sorted(known))
        )
    rows = []
    for n, raw in enumerate(reader, start=1):
        cells = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k}
        if not any(cells.values()):
            continue
        cfg: dict = {}
        for col, key in CONFIG_COLUMNS.items():
            if cells.get(col):
                node = cfg
                parts = key.split(".")
                for part in parts[:-1]:
                    node = node.setdefault(part, {})
                node[parts[-1]] = _cell_value(cells[col])
        secrets = {c: cells[c] for c in SECRET_COLUMNS if cells.get(c)}
        board = _board_path(cells.get("board", ""), board_dir)
        row = Row(
            n,
            cells.get("station_id", ""),
            board,
            cells.get("port") or None,
            json.dumps(cfg),
            json.dumps(secrets) if secrets else None,
        )
        row.secrets = sc.secret_values(row.secrets_text)
        if board is None:
            row.problems.append(f"board {cells.get('board') or '(empty)'}: no such board config")
        rows.append(row)
    return rows


def check_rows(rows: list[Row], ids_from_modem: bool = False) -> None:
    """Fill problems/checked for every row (firmware validation inside MicroPython).
    `ids_from_modem`: LoRaWAN identifiers and AppKey may be missing (setup's identity step reads
    the DevEUI from the modem and generates the AppKey)."""
    for row in rows:
        c = sc.validate(row.config_text, row.secrets_text)
        row.checked = c
        row.problems += c.problems + [f"secrets {p}" for p in c.secret_problems]
        if c.ok and not ids_from_modem:
            need = REQUIRED_SECRETS.get(c.uplink, ())
            missing = [k for k in need if k not in c.secrets_set]
            if missing:
                row.problems.append(f"uplink {c.uplink} needs {', '.join(missing)}")
            if c.uplink == "mqtt" and _has_wifi(row.board) and "wifi_ssid" not in c.secrets_set:
                # the station would never reach its broker (WIFI.NO_CREDENTIALS at every boot)
                row.problems.append(
                    "uplink mqtt on a Wi-Fi board needs wifi_ssid (and wifi_password)"
                )


def load_report(path: Path) -> dict[str, dict]:
    """station_id -> last report entry."""
    if not Path(path).exists():
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        return {r["station_id"]: r for r in csv.DictReader(f)}


def write_report(path: Path, entries: dict[str, dict]) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=REPORT_COLUMNS)
        w.writeheader()
        for entry in sorted(entries.values(), key=lambda e: int(e.get("row") or 0)):
            w.writerow({k: entry.get(k, "") for k in REPORT_COLUMNS})
    os.replace(tmp, path)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Provisioner:
    def __init__(
        self,
        report_path: Path,
        port: str = "auto",
        baud: int = 115200,
        firmware: list[Path] | None = None,  # one image per board type (mixed fleets)
        wait_timeout: float | None = None,
        say=print,
        poll_s: float = 0.3,
        records: Path | None = None,
    ):
        self.report_path = Path(report_path)
        # with a records folder every row goes through `stationctl setup`'s steps there (state,
        # LoRaWAN identity from the modem, report, label, registration exports)
        self.records = Path(records) if records else None
        self.port = port
        self.baud = baud
        self.firmware = [Path(f) for f in firmware] if firmware else []
        self.wait_timeout = wait_timeout
        self.say = say
        self.poll_s = poll_s
        self.entries = load_report(self.report_path)
        self.last_port: str | None = None
        self.last_station = ""
        self.done_uids = {
            e["uid"]: sid
            for sid, e in self.entries.items()
            if e.get("status") == "ok" and e.get("uid")
        }

    def record(self, row: Row, status: str, detail: str = "", **extra) -> None:
        entry = {
            "row": row.number,
            "station_id": row.station_id,
            "board": row.board.stem if row.board else "",
            "status": status,
            "detail": sc.mask(detail, row.secrets),
            "time_utc": _now(),
        }
        entry.update(extra)
        self.entries[row.station_id or f"row{row.number}"] = entry
        write_report(self.report_path, self.entries)

    # --- waiting for boards ---
    def _port_for(self, row: Row) -> str | None:
        from stationctl.station.ports import PortNotFoundError, resolve_port

        spec = row.port or self.port
        try:
            port = resolve_port(spec)
        except PortNotFoundError:
            return None
        return port if os.path.exists(port) else None

    def wait_for_port(self, row: Row) -> str | None:
        """A newly plugged board's port (no REPL needed: it may have no MicroPython yet)."""
        deadline = time.monotonic() + self.wait_timeout if self.wait_timeout else None
        need_unplug = self.last_port is not None
        told = False
        while deadline is None or time.monotonic() < deadline:
            port = self._port_for(row)
            if need_unplug and port == self.last_port:
                if not told:
                    self.say(f"  unplug station {self.last_station} and plug in the next board")
                    told = True
            elif port is not None:
                return port
            else:
                need_unplug = False
            time.sleep(self.poll_s)
        return None

    def wait_for_board(self, row: Row):
        """Connect to a board that was not provisioned in this run; None on timeout."""
        from stationctl.station.session import connect
        from stationctl.station.transport import PortBusyError, TransportError

        deadline = time.monotonic() + self.wait_timeout if self.wait_timeout else None
        told = None
        # the board we just finished must go away first (unplugged) before the next counts
        need_unplug = self.last_port is not None
        while deadline is None or time.monotonic() < deadline:
            port = self._port_for(row)
            if need_unplug:
                if port is None or port != self.last_port:
                    need_unplug = False
                else:
                    if told != "unplug":
                        self.say(
                            f"  unplug station {self.last_station} and plug in the board "
                            f"for {row.station_id}"
                        )
                        told = "unplug"
                    time.sleep(self.poll_s)
                    continue
            if port is None:
                if told != "plug":
                    self.say(f"  waiting for the board for {row.station_id} to be plugged in")
                    told = "plug"
                time.sleep(self.poll_s)
                continue
            try:
                dev = connect(port, self.baud)
            except PortBusyError as exc:
                self.say(f"  {exc}")
                time.sleep(1)
                continue
            except TransportError:
                time.sleep(self.poll_s)
                continue
            try:
                uid = dev.info().get("uid")
            except TransportError as exc:
                self.say(f"  the board on {port} does not answer like MicroPython: {exc}")
                dev.close()
                time.sleep(1)
                continue
            owner = self.done_uids.get(uid) if uid else None
            if owner and owner != row.station_id:
                self.say(
                    f"  the board on {port} (uid {uid}) is already station {owner}: "
                    "plug in a new board"
                )
                dev.t.soft_reset(run_main=True)
                dev.close()
                self.last_port, self.last_station = port, owner
                need_unplug = True
                continue
            return dev, port, uid
        return None

    # --- one station ---
    def provision(self, row: Row) -> bool:
        from stationctl.station import deploy as dp
        from stationctl.station.stationconfig import apply
        from stationctl.station.transport import TransportError
        from stationctl.station.verify import run_checks

        if self.firmware:
            port = self.wait_for_port(row)
            if port is None:
                raise TimeoutError(f"no board for {row.station_id} within {self.wait_timeout:g} s")
            from stationctl.station import flash as fl
            from stationctl.station import images

            try:
                # mixed fleets: the row's board config picks its image (never esptool on UF2)
                board_cfg = fl.load_board(row.board)
                image = images.choose(board_cfg, self.firmware)
                plan = fl.plan(board_cfg, image)
                fl.check_image(plan)
                if plan.method == "uf2":
                    self.say(f"  copying {image.name} to the board's RPI-RP2 drive")
                    fl.flash_uf2(plan, None)
                else:
                    self.say(f"  flashing {image.name} at {plan.offset:#x} on {port}")
                    fl.flash_esptool(plan, port, say=lambda m: None)
            except fl.FlashError as exc:
                self.record(row, "failed", str(exc).replace("\n", " "), port=port)
                self.say(f"  FAILED {row.station_id}: {exc}")
                self.last_port, self.last_station = port, row.station_id
                return False
            self.last_port = None  # the same board comes back as MicroPython
        got = self.wait_for_board(row)
        if got is None:
            raise TimeoutError(f"no board for {row.station_id} within {self.wait_timeout:g} s")
        dev, port, uid = got
        self.say(f"  {row.station_id}: board on {port} (uid {uid})")
        if self.records is not None:
            dev.close()
            return self._setup_row(row, port, uid)
        try:
            files = dp.build_files(row.board)
            rep = dp.deploy(dev, files)
            self.say(f"  deployed: {len(rep.sent_files)} sent, {rep.unchanged} unchanged")
            back = apply(dev, row.checked)
            if back.get("digest") != row.checked.digest:
                raise RuntimeError(
                    f"config read back {back.get('digest')}, expected {row.checked.digest}"
                )
            # the uplink check too (LoRaWAN: the modem answers; MQTT: the broker is reachable):
            # a station that cannot deliver is not provisioned
            report = run_checks(dev, port, row.checked.digest, check_uplink=True)
            dev.t.soft_reset(run_main=True)
        except (TransportError, dp.DeployError, RuntimeError) as exc:
            self.record(row, "failed", str(exc), uid=uid or "", port=port)
            self.say(sc.mask(f"  FAILED {row.station_id}: {exc}", row.secrets))
            dev.close()
            self.last_port, self.last_station = port, row.station_id
            return False
        dev.close()
        self.last_port, self.last_station = port, row.station_id
        failed = [f"{c.name}: {c.detail}" for c in report.checks if not c.ok]
        status = "ok" if not failed else "failed"
        self.record(
            row,
            status,
            "; ".join(failed) or "verified",
            uid=uid or "",
            port=port,
            config_digest=report.config_digest or "",
        )
        if status == "ok" and uid:
            self.done_uids[uid] = row.station_id
        self.say(
            f"  {status.upper()} {row.station_id}" + (f": {'; '.join(failed)}" if failed else "")
        )
        return status == "ok"

    def _setup_row(self, row: Row, port: str, uid: str | None) -> bool:
        """The row through setup's steps (the same code as `stationctl setup`)."""
        from stationctl.registration.record import write_secrets
        from stationctl.station.setup import Inputs, Setup

        folder = self.records / row.station_id
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "config.json"
        config.write_text(row.config_text)
        secrets_path = folder / "secrets.json"
        secrets = json.loads(secrets_path.read_text()) if secrets_path.exists() else {}
        secrets.update(json.loads(row.secrets_text) if row.secrets_text else {})  # the CSV wins
        if secrets:
            write_secrets(secrets_path, secrets)
        inp = Inputs(board=row.board, config=config, out=self.records, secrets=secrets_path,
                     port=port, baud=self.baud)  # fmt: skip
        setup = Setup(inp, say=lambda m: self.say("  " + m))
        code = setup.run()
        self.last_port, self.last_station = port, row.station_id
        ok = code == 0
        state = setup.state
        self.record(
            row,
            "ok" if ok else "failed",
            "verified" if ok else setup.outcome,
            uid=uid or "",
            port=port,
            config_digest=state.get("config_digest", ""),
        )
        if ok and uid:
            self.done_uids[uid] = row.station_id
        self.say(f"  {'OK' if ok else 'FAILED'} {row.station_id}")
        return ok

    def run(self, rows: list[Row], flash_fn=None) -> dict[str, int]:
        counts = {"ok": 0, "failed": 0, "skipped": 0, "already": 0}
        for row in rows:
            self.say(f"row {row.number}: {row.station_id or '(no station_id)'}")
            prev = self.entries.get(row.station_id)
            if prev and prev.get("status") == "ok" and not row.problems:
                self.say("  already provisioned (report): skipped")
                counts["already"] += 1
                continue
            if row.problems:
                self.record(row, "skipped", "; ".join(row.problems))
                self.say(
                    sc.mask(
                        "  SKIPPED (bad row, nothing done): " + "; ".join(row.problems), row.secrets
                    )
                )
                counts["skipped"] += 1
                continue
            ok = self.provision(row)
            counts["ok" if ok else "failed"] += 1
        return counts
