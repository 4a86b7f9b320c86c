"""`stationctl setup`: one command from an unboxed board to a registered, labelled, documented
station.

Steps, each shown as it runs and each saying what to do when it fails:

    port         find the board (by USB id, `--serial` to choose among several) or use --port
    micropython  MicroPython answers, in the version the board config asks for; otherwise flash
                 the board's image (esptool for ESP32, a checked UF2 copy for the Pico W)
    deploy       the firmware files (incremental: only what differs is sent)
    identity     LoRaWAN: the modem's factory DevEUI (and JoinEUI where set) read over AT; an
                 AppKey generated when none is given, stored in the station's secrets file
    configure    config and secrets, validated by the firmware's own code, read back
    verify       every check of `stationctl verify`, the uplink included
    records      report (HTML + JSON), label (SVG + QR), network-server registration exports

The state of every station lives in <out>/<station_id>/setup-state.json: the same command run
again (after a pulled cable, a failed check put right) skips what is done on the same board and
finishes the job. Secrets never reach the screen, the state file, or the report.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from stationctl import exitcodes
from stationctl.registration import chirpstack, tts
from stationctl.registration import record as rg
from stationctl.station import label as lb
from stationctl.station import report as rp
from stationctl.station import stationconfig as sc

STEPS = ("port", "micropython", "deploy", "identity", "configure", "verify", "records")
# done on the same board in an earlier run: not repeated (verify always runs: it is the proof)
RESUMABLE = ("deploy", "identity", "configure")
WAIT_MICROPYTHON_S = 60.0


# in the secrets file, but identifiers: shown on labels and reports (only the keys are secret)
IDENTIFIERS = ("lorawan_deveui", "lorawan_joineui")


def _secret_values(secrets: dict) -> list[str]:
    return sc.secret_values(json.dumps({k: v for k, v in secrets.items() if k not in IDENTIFIERS}))


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class Inputs:
    board: Path
    config: Path
    out: Path
    secrets: Path | None = None
    port: str = "auto"
    serial: str | None = None
    baud: int = 115200
    firmware: Path | None = None
    join_eui: str | None = None
    profile_id: str = "00000000"
    operator: str = ""
    application_id: str = "climate-stations"


class StepFailed(Exception):
    def __init__(self, message: str, advice: str, code: int = exitcodes.FAILED):
        super().__init__(message)
        self.advice = advice
        self.code = code


class Setup:
    def __init__(self, inp: Inputs, say=print):
        self.inp = inp
        self.say = say
        self.dev = None
        self.port: str | None = None
        self.info: dict = {}
        self.verify_report = None
        self.secret_values: list[str] = []
        self.state: dict = {}  # read from the station's state file by preflight
        self.outcome = "not started"  # the last run's outcome, one line (for provision's report)

    # --- inputs, checked before any station is touched ---
    def preflight(self) -> None:
        inp = self.inp
        try:
            self.board_cfg = json.loads(Path(inp.board).read_text())
        except (OSError, ValueError) as exc:
            raise StepFailed(
                f"cannot read the board config {inp.board}: {exc}",
                "give --board a file from board_configs/",
                exitcodes.USAGE,
            ) from None
        try:
            self.config_text = Path(inp.config).read_text()
        except OSError as exc:
            raise StepFailed(
                f"cannot read the station config {inp.config}: {exc.strerror}",
                "give --config the station's config JSON",
                exitcodes.USAGE,
            ) from None
        checked = sc.validate(self.config_text, None)
        if checked.problems:
            raise StepFailed(
                "the station config is invalid: " + "; ".join(checked.problems),
                "fix the config file; nothing was changed on the station",
                exitcodes.USAGE,
            )
        self.station_id = checked.station_id
        self.uplink = checked.uplink
        try:
            self.config = json.loads(self.config_text)
        except ValueError:
            self.config = {}
        self.dir = Path(inp.out) / self.station_id
        self.secrets_path = Path(inp.secrets) if inp.secrets else self.dir / "secrets.json"
        self.secrets = self._read_secrets()
        self.state_path = self.dir / "setup-state.json"
        self.state = self._load_state()

    def _read_secrets(self) -> dict:
        if not self.secrets_path.exists():
            return {}
        try:
            data = json.loads(self.secrets_path.read_text())
        except (OSError, ValueError):
            raise StepFailed(
                f"the secrets file {self.secrets_path} is not readable JSON",
                "fix or remove it; nothing was changed on the station",
                exitcodes.USAGE,
            ) from None
        if not isinstance(data, dict):
            raise StepFailed(
                f"the secrets file {self.secrets_path} is not a JSON object",
                "fix it",
                exitcodes.USAGE,
            )
        self.secret_values = _secret_values(data)
        return data

    def _inputs_digest(self) -> str:
        h = hashlib.sha256()
        h.update(Path(self.inp.board).read_bytes())
        h.update(self.config_text.encode())
        return h.hexdigest()[:16]

    def _load_state(self) -> dict:
        fresh = {"station_id": self.station_id, "steps": {}, "attempts": [], "uid": None}
        if not self.state_path.exists():
            return fresh
        try:
            state = json.loads(self.state_path.read_text())
        except ValueError:
            self.say(f"note: {self.state_path} is damaged; starting over")
            return fresh
        if state.get("inputs") != self._inputs_digest():
            self.say("note: board or config changed since the last run: every step runs again")
            state["steps"] = {}
        return state

    def _save_state(self) -> None:
        self.state["inputs"] = self._inputs_digest()
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_name(self.state_path.name + ".part")
        tmp.write_text(json.dumps(self.state, indent=1) + "\n")
        tmp.replace(self.state_path)

    def _mask(self, text: str) -> str:
        return sc.mask(text, self.secret_values)

    # --- the run ---
    def run(self) -> int:
        t0 = self._t_attempt = time.monotonic()
        try:
            self.preflight()
        except StepFailed as exc:
            self.say(f"stationctl setup: {self._mask(str(exc))}\n  what to do: {exc.advice}")
            self.outcome = self._mask(str(exc))
            return exc.code
        self.say(f"setting up station {self.station_id} (state: {self.state_path})")
        attempt = {"started_utc": _now(), "outcome": "running"}
        self.state["attempts"].append(attempt)
        code = exitcodes.OK
        try:
            run = {
                "port": self.step_port,
                "micropython": self.step_micropython,
                "deploy": self.step_deploy,
                "identity": self.step_identity,
                "configure": self.step_configure,
                "verify": self.step_verify,
                "records": self.step_records,
            }
            for n, name in enumerate(STEPS, start=1):
                self._step(n, name, run[name])
            attempt["outcome"] = "verified" if self.verify_report.ok else "verify failed"
            code = exitcodes.OK if self.verify_report.ok else exitcodes.FAILED
        except StepFailed as exc:
            step = self.state.get("failed_step")
            why = self._mask(str(exc)).removeprefix(f"lost the station during {step}: ")
            attempt["outcome"] = f"stopped at {step}: {why}"
            self.say(f"FAILED: {self._mask(str(exc))}\n  what to do: {exc.advice}")
            self.say("  then run the same command again: it resumes where it stopped")
            code = exc.code
        finally:
            attempt["seconds"] = round(time.monotonic() - t0, 1)
            self.outcome = attempt["outcome"]
            self._save_state()
            if self.dev is not None:
                try:
                    self.dev.t.soft_reset(run_main=True)
                except Exception:  # noqa: BLE001 - the cable may be gone: nothing to restart
                    pass
                self.dev.close()
        if code == exitcodes.OK:
            self.say(f"station {self.station_id}: VERIFIED in {attempt['seconds']:.1f} s")
        return code

    def _step(self, n: int, name: str, fn) -> None:
        from stationctl.station.transport import TransportError

        steps = self.state["steps"]
        prev = steps.get(name)
        tag = f"[{n}/{len(STEPS)}] {name}"
        if (
            name in RESUMABLE
            and prev
            and prev["status"] == "done"
            and self.state.get("uid") == self.info.get("uid")
        ):
            self.say(f"{tag}: done in an earlier run ({prev['detail']})")
            return
        self.say(f"{tag} ...")
        t = time.monotonic()
        try:
            detail = fn()
        except TransportError as exc:
            steps[name] = {"status": "failed", "detail": self._mask(str(exc))}
            self.state["failed_step"] = name
            self._save_state()
            raise StepFailed(
                f"lost the station during {name}: {exc}",
                "check the USB cable and that the board has power (a data cable, not a "
                "charge-only one)",
                exitcodes.for_transport_error(exc),
            ) from None
        except StepFailed as exc:
            steps[name] = {"status": "failed", "detail": self._mask(str(exc))}
            self.state["failed_step"] = name
            self._save_state()
            raise
        secs = round(time.monotonic() - t, 2)
        steps[name] = {"status": "done", "detail": self._mask(detail), "seconds": secs}
        self.state.pop("failed_step", None)
        self._save_state()
        self.say(f"{tag}: {self._mask(detail)} ({secs:.1f} s)")

    # --- steps ---
    def step_port(self) -> str:
        from stationctl.station.ports import PortNotFoundError, resolve_port

        try:
            self.port = resolve_port(self.inp.port, self.inp.serial)
        except PortNotFoundError as exc:
            raise StepFailed(str(exc), "plug the board in, or name it with --port / --serial",
                             exitcodes.UNREACHABLE) from None  # fmt: skip
        if not Path(self.port).exists():
            raise StepFailed(
                f"{self.port} does not exist",
                "plug the board in (a data cable), or check --port",
                exitcodes.UNREACHABLE,
            )
        return self.port

    def _connect(self):
        from stationctl.station.session import connect

        self.dev = connect(self.port, self.inp.baud)
        self.info = self.dev.info()

    def step_micropython(self) -> str:
        from stationctl.station.transport import PortBusyError, TransportError

        try:
            self._connect()
        except PortBusyError:
            raise
        except TransportError as exc:
            if not self.inp.firmware:
                raise StepFailed(
                    f"no MicroPython answers on {self.port} ({exc})",
                    "a new board needs MicroPython: add --firmware IMAGE (.bin for ESP32, .uf2 "
                    "for the Pico W)",
                ) from None
            self._flash(why="no MicroPython")
            return self._version_text() + " (flashed)"
        want = self.board_cfg.get("micropython")
        have = ".".join(map(str, self.info.get("impl", ())))
        if want and not have.startswith(str(want)):
            if not self.inp.firmware:
                raise StepFailed(
                    f"the board runs MicroPython {have}; the board config asks for {want}",
                    f"add --firmware IMAGE with MicroPython {want}",
                )
            self._flash(why=f"MicroPython {have}, not {want}")
            return self._version_text() + " (flashed)"
        uid = self.info.get("uid")
        if self.state.get("uid") not in (None, uid):
            self.say(f"  a different board (uid {uid}) than last time: every step runs again")
            self.state["steps"] = {}
        self.state["uid"] = uid
        return self._version_text()

    def _version_text(self) -> str:
        return (
            f"MicroPython {'.'.join(map(str, self.info.get('impl', ())))} "
            f"on {self.info.get('platform')}, uid {self.info.get('uid')}"
        )

    def _flash(self, why: str) -> None:
        """Flash the board's image: esptool for ESP32 boards, a checked UF2 copy for the Pico W
        (never esptool on a UF2 board: the board config's flash method decides)."""
        from stationctl.station import flash as fl

        try:
            plan = fl.plan(self.board_cfg, self.inp.firmware)
            fl.check_image(plan)  # UF2: magic numbers and RP2040 family id in every block
        except fl.FlashError as exc:
            raise StepFailed(
                str(exc), "give the image for this board type", exitcodes.USAGE
            ) from None
        self.say(f"  flashing {plan.image.name} ({why}) with {plan.method}")
        if self.dev is not None and self.board_cfg.get("usb") == "native":
            # native USB (ESP32-S3, Pico W): the running MicroPython enters its own bootloader,
            # so nobody has to hold a button
            try:
                self.dev.t.exec("import machine\nmachine.bootloader()", timeout=2)
            except Exception:  # noqa: BLE001 - the port vanishes as the board reboots
                pass
        if self.dev is not None:
            self.dev.close()
            self.dev = None
            time.sleep(2)
        try:
            if plan.method == "uf2":
                fl.flash_uf2(plan, None)
            else:  # USB-UART bridges: esptool's reset sequence enters the ROM bootloader
                fl.flash_esptool(plan, self.port, say=lambda m: None)
        except fl.FlashError as exc:
            advice = (
                "hold BOOTSEL while plugging the board in, then run the same command again"
                if plan.method == "uf2"
                else "hold BOOT, tap EN/RESET, release BOOT, then run the same command again"
            )
            raise StepFailed(str(exc), advice) from None
        self._wait_micropython()

    def _wait_micropython(self) -> None:
        from stationctl.station.transport import TransportError

        deadline = time.monotonic() + WAIT_MICROPYTHON_S
        self.say("  waiting for MicroPython to come back")
        while True:
            try:
                self._connect()
                self.state["uid"] = self.info.get("uid")
                self.state["steps"] = {}
                return
            except TransportError as exc:
                if time.monotonic() > deadline:
                    raise StepFailed(
                        f"MicroPython did not come back after flashing ({exc})",
                        "unplug and replug the board, then run the same command again",
                        exitcodes.UNREACHABLE,
                    ) from None
                time.sleep(1)

    def step_deploy(self) -> str:
        from stationctl.station import deploy as dp

        try:
            rep = dp.deploy(self.dev, dp.build_files(Path(self.inp.board)), log=lambda m: None)
        except dp.DeployError as exc:
            raise StepFailed(str(exc), "free flash on the station, then run again") from None
        return f"{len(rep.sent_files)} file(s) sent, {rep.unchanged} unchanged, checked"

    def step_identity(self) -> str:
        modem = self.board_cfg.get("modem")
        if not modem or self.uplink != "lorawan":
            return "no LoRaWAN uplink: nothing to register"
        sec = dict(self.secrets)
        told = []
        if not sec.get("lorawan_deveui") or not (sec.get("lorawan_joineui") or self.inp.join_eui):
            self.dev.load_code("identity.py")
            got = self.dev.call("_scmodemid()", timeout=30) or {}
        else:
            got = {}
        dev_eui = sec.get("lorawan_deveui") or got.get("deveui")
        if not dev_eui or dev_eui == rg.ZERO_EUI:
            raise StepFailed(
                f"the {modem['type']} modem gave no factory DevEUI",
                "check the modem's wiring, or put lorawan_deveui in the secrets file",
            )
        told.append(
            f"DevEUI {dev_eui}"
            + (" (read from the modem)" if not sec.get("lorawan_deveui") else "")
        )
        join = sec.get("lorawan_joineui") or self.inp.join_eui or got.get("joineui")
        join = rg.eui(join or rg.ZERO_EUI, "JoinEUI")
        told.append(f"JoinEUI {join}")
        sec["lorawan_deveui"] = rg.eui(dev_eui, "DevEUI")
        sec["lorawan_joineui"] = join
        if not sec.get("lorawan_appkey"):
            sec["lorawan_appkey"] = rg.new_app_key()
            told.append(f"AppKey generated, stored in {self.secrets_path} (not shown)")
        else:
            rg.check_app_key(sec["lorawan_appkey"])
            told.append("AppKey from the secrets (not shown)")
        if sec != self.secrets:
            rg.write_secrets(self.secrets_path, sec)
            self.secrets = sec
            self.secret_values = _secret_values(sec)
        self.state["lorawan"] = {
            "modem": modem["type"],
            "dev_eui": sec["lorawan_deveui"],
            "join_eui": join,
        }
        self.state["secrets_file"] = str(self.secrets_path)
        return ", ".join(told)

    def step_configure(self) -> str:
        secrets_text = json.dumps(self.secrets) if self.secrets else None
        checked = sc.validate(self.config_text, secrets_text)
        if not checked.ok:
            problems = checked.problems + [f"secrets {p}" for p in checked.secret_problems]
            raise StepFailed(
                "config or secrets invalid: " + "; ".join(problems),
                "fix the files; the station was not configured",
                exitcodes.USAGE,
            )
        back = sc.apply(self.dev, checked)
        if back.get("digest") != checked.digest:
            raise StepFailed(
                f"the station reads back config {back.get('digest')}, expected {checked.digest}",
                "check the station's flash (full?) and run again",
            )
        self.state["config_digest"] = checked.digest
        return f"config {checked.digest}, secrets set: {', '.join(back.get('secrets_set', []))}"

    def step_verify(self) -> str:
        from stationctl.station.verify import run_checks

        if self.dev is None:  # resumed past micropython: connection is open from that step
            self._connect()
        rep = run_checks(self.dev, self.port, self.state.get("config_digest"), check_uplink=True)
        self.verify_report = rep
        self.state["verify"] = rep.to_json()
        bad = [f"{c.name}: {c.detail}" for c in rep.checks if not c.ok]
        if bad:
            self.say("  " + rep.text().replace("\n", "\n  "))
            return "FAILED: " + "; ".join(bad)
        return f"{len(rep.checks)} checks passed"

    def step_records(self) -> str:
        manifest = self.dev.get_text("/manifest.json")
        try:
            files = json.loads(manifest)["files"] if manifest else {}
        except (ValueError, KeyError):
            files = {}
        lw = self.state.get("lorawan")
        reg = _registration_of(self.state, with_key=False) if lw else None
        attempts = self.state["attempts"]
        steps = [{"step": s, **self.state["steps"].get(s, {"status": "-"})} for s in STEPS]
        steps[-1] = {"step": "records", "status": "done", "detail": "this report"}
        rec = rp.build(
            station_id=self.station_id,
            operator=self.inp.operator or getpass.getuser(),
            started_utc=attempts[0]["started_utc"],
            finished_utc=_now(),
            verify_report=self.verify_report,
            files=files,
            steps=steps,
            attempts=[
                {"started_utc": a["started_utc"], "outcome": a["outcome"]} for a in attempts[:-1]
            ]
            + [
                {
                    "started_utc": attempts[-1]["started_utc"],
                    "outcome": "verified" if self.verify_report.ok else "verify failed",
                }
            ],
            registration=reg.identifiers() if reg else None,
            board_file=Path(self.inp.board).name,
            seconds=sum(a.get("seconds", 0) for a in attempts[:-1])
            + (time.monotonic() - self._t_attempt),
        )
        # the report records the run honestly: never a secret in it
        text = json.dumps(rec)
        for v in self.secret_values:
            if v in text:
                raise StepFailed("a secret value reached the report", "report this as a bug")
        js, page = rp.write(rec, self.dir)
        made = [js.name, page.name]
        if reg is not None:
            label = lb.Label(self.station_id, rec["board"] or "?", reg.dev_eui, reg.join_eui,
                             self.inp.profile_id)  # fmt: skip
            lb.write_sheets([label], self.dir, stem="label")
            lb.save_qr_png(label.qr_text, self.dir / "qr.png")
            made += ["label-1.svg", "qr.png"]
            self.state["label_text"] = label.qr_text
            batch = export_batch(Path(self.inp.out), self.inp.application_id, self.inp.profile_id)
            made += [str(p) for p in batch]
            self.say(
                "  warning: the registration exports hold the stations' AppKeys: keep them "
                "secret, delete them once imported"
            )
        return "wrote " + ", ".join(made)


def _registration_of(state: dict, with_key: bool) -> rg.Registration | None:
    lw = state.get("lorawan")
    if not lw:
        return None
    key = None
    if with_key and state.get("secrets_file"):
        try:
            key = json.loads(Path(state["secrets_file"]).read_text()).get("lorawan_appkey")
        except (OSError, ValueError):
            key = None
    return rg.Registration(
        station_id=state["station_id"],
        board=(state.get("verify") or {}).get("board") or "?",
        modem=lw["modem"],
        dev_eui=lw["dev_eui"],
        join_eui=lw["join_eui"],
        app_key=key,
    )


def verified_states(out: Path) -> list[dict]:
    """Every station under `out` whose last setup ended verified."""
    found = []
    for path in sorted(Path(out).glob("*/setup-state.json")):
        try:
            state = json.loads(path.read_text())
        except ValueError:
            continue
        if (state.get("verify") or {}).get("ok") and state.get("lorawan"):
            found.append(state)
    return found


def export_batch(out: Path, application_id: str, profile_id: str) -> list[Path]:
    """Registration exports and a label sheet for every verified LoRaWAN station under `out`."""
    states = verified_states(out)
    regs = [r for r in (_registration_of(s, with_key=True) for s in states) if r]
    folder = Path(out) / "registrations"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (
        ("tts-end-devices.json", tts.export(regs, application_id)),
        ("chirpstack-v4.json", chirpstack.export(regs)),
    ):
        p = folder / name
        rg.write_secrets_text(p, text)
        written.append(p)
    labels = [lb.Label(r.station_id, r.board, r.dev_eui, r.join_eui, profile_id) for r in regs]
    written += lb.write_sheets(labels, Path(out) / "labels")
    return written
