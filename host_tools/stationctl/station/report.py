"""The record of one station's set-up: JSON (for scripts and the fleet's files) and its HTML twin,
readable offline (one file, inline CSS, no scripts, no external assets).

Who and when, board and MicroPython, firmware build and file hashes, config digest, the sensors
with the readings taken during verify, the uplink check, every step with what failed and what was
done, and the LoRaWAN identifiers (never a key: the record has no field for one).
"""

from __future__ import annotations

import html
import json
from pathlib import Path

_CSS = """
body{font-family:DejaVu Sans,Arial,sans-serif;margin:2em;color:#222;max-width:60em}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.1em;margin-top:1.5em;border-bottom:1px solid #ccc}
table{border-collapse:collapse} td,th{padding:.2em .8em;text-align:left;vertical-align:top}
th{background:#eee} tr:nth-child(even) td{background:#f7f7f7}
.pass{color:#176f2c;font-weight:bold} .fail{color:#b00020;font-weight:bold}
code{font-family:DejaVu Sans Mono,monospace;font-size:.9em}
.verdict{font-size:1.2em;padding:.3em .6em;display:inline-block;border:2px solid}
"""


def build(
    *,
    station_id: str,
    operator: str,
    started_utc: str,
    finished_utc: str,
    verify_report,
    files: dict[str, str],
    steps: list[dict],
    attempts: list[dict],
    registration: dict | None,
    board_file: str,
    seconds: float,
) -> dict:
    """The JSON record; `verify_report` is stationctl.station.verify.Report."""
    rep = verify_report
    sensors = [
        {"name": c.name.removeprefix("sensor "), "ok": c.ok, "reading": c.detail}
        for c in rep.checks
        if c.name.startswith("sensor ")
    ]
    uplink = next(
        ({"ok": c.ok, "detail": c.detail} for c in rep.checks if c.name == "uplink"), None
    )
    return {
        "station_id": station_id,
        "ok": rep.ok,
        "operator": operator,
        "started_utc": started_utc,
        "finished_utc": finished_utc,
        "setup_seconds": round(seconds, 1),
        "board": rep.board,
        "board_config": board_file,
        "uid": rep.uid,
        "micropython": rep.micropython,
        "firmware": rep.firmware,
        "config_digest": rep.config_digest,
        "files": dict(sorted(files.items())),
        "sensors": sensors,
        "uplink": uplink,
        "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in rep.checks],
        "steps": steps,
        "attempts": attempts,
        "lorawan": registration,
    }


def _row(*cells: str, head: bool = False) -> str:
    tag = "th" if head else "td"
    return "<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>"


def _ok(ok: bool) -> str:
    return '<span class="pass">PASS</span>' if ok else '<span class="fail">FAIL</span>'


def html_page(rec: dict) -> str:
    e = lambda v: html.escape(str(v if v is not None else "-"))  # noqa: E731
    verdict = "VERIFIED" if rec["ok"] else "NOT VERIFIED"
    colour = "#176f2c" if rec["ok"] else "#b00020"
    facts = [
        ("Station", rec["station_id"]),
        ("Set up by", rec["operator"]),
        ("Started (UTC)", rec["started_utc"]),
        ("Finished (UTC)", rec["finished_utc"]),
        ("Time taken", f"{rec['setup_seconds']} s"),
        ("Board", f"{rec['board']} (uid {rec['uid']})"),
        ("MicroPython", rec["micropython"]),
        ("Firmware build", rec["firmware"]),
        ("Config digest", rec["config_digest"]),
    ]
    lw = rec.get("lorawan")
    if lw:
        facts += [
            ("DevEUI", lw["dev_eui"]),
            ("JoinEUI", lw["join_eui"]),
            ("LoRaWAN", f"{lw['lorawan_version']}, {lw['region']}, class {lw['class']}"),
        ]
    parts = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        f"<title>Station {e(rec['station_id'])}: set-up report</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Station {e(rec['station_id'])}</h1>",
        f'<p class=verdict id=verdict style="color:{colour}">{verdict}</p>',
        "<h2>Station</h2><table id=facts>",
        *(_row(e(k), e(v), head=False) for k, v in facts),
        "</table><h2>Sensors (readings taken during verify)</h2><table id=sensors>",
        _row("sensor", "result", "reading", head=True),
        *(_row(e(s["name"]), _ok(s["ok"]), e(s["reading"])) for s in rec["sensors"]),
        "</table><h2>Uplink</h2>",
        (
            f"<p id=uplink>{_ok(rec['uplink']['ok'])} {e(rec['uplink']['detail'])}</p>"
            if rec["uplink"]
            else "<p id=uplink>not checked</p>"
        ),
        "<h2>Checks</h2><table id=checks>",
        _row("check", "result", "detail", head=True),
        *(_row(e(c["name"]), _ok(c["ok"]), e(c["detail"])) for c in rec["checks"]),
        "</table><h2>Steps</h2><table id=steps>",
        _row("step", "result", "seconds", "what was done", head=True),
        *(
            _row(e(s["step"]), e(s["status"]), e(s.get("seconds", "")), e(s.get("detail", "")))
            for s in rec["steps"]
        ),
        "</table><h2>Attempts</h2><table id=attempts>",
        _row("started (UTC)", "outcome", head=True),
        *(_row(e(a["started_utc"]), e(a["outcome"])) for a in rec["attempts"]),
        "</table><h2>Files on the station (sha256)</h2><table id=files>",
        *(_row(f"<code>{e(p)}</code>", f"<code>{e(h)}</code>") for p, h in rec["files"].items()),
        "</table></body></html>",
    ]
    return "\n".join(parts) + "\n"


def write(rec: dict, folder: Path) -> tuple[Path, Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, text in (
        ("report.json", json.dumps(rec, indent=1) + "\n"),
        ("report.html", html_page(rec)),
    ):
        p = folder / name
        tmp = p.with_name(p.name + ".part")
        tmp.write_text(text)
        tmp.replace(p)
        out.append(p)
    return out[0], out[1]
