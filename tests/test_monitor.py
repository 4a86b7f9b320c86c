"""stationctl monitor: parsing, colour rules, JSON, log, and a station unplugged and replugged."""

from __future__ import annotations

import io
import json
import os
import subprocess
import time

from simstation import BIN, BOARD, SimDevice, stationctl
from stationctl.commands.monitor import _use_colour
from stationctl.station.monitor import Monitor, parse_line


def test_parse_diag_lines():
    d = parse_line(
        '   12.345 W SENSOR.FAIL bme280 errno=19 exc=OSError msg="bus \\"stuck\\" low" v=-'
    )
    assert (d.uptime_s, d.level, d.code, d.subject) == (12.345, "W", "SENSOR.FAIL", "bme280")
    assert d.fields == {"errno": 19, "exc": "OSError", "msg": 'bus "stuck" low', "v": None}
    d = parse_line("    0.017 I SAMPLE humidity_pct=81.604 seq=2")
    assert d.subject is None and d.fields == {"humidity_pct": 81.604, "seq": 2}
    assert parse_line("MPY: soft reboot") is None
    assert parse_line("Traceback (most recent call last):") is None
    assert parse_line("  1.0 I BOOT two words here") is None


def test_colour_and_status(monkeypatch):
    master, slave = os.openpty()
    tty = os.fdopen(slave, "w")
    try:
        monkeypatch.delenv("NO_COLOR", raising=False)
        assert _use_colour("auto", tty) is True
        monkeypatch.setenv("NO_COLOR", "1")
        assert _use_colour("auto", tty) is False
        assert _use_colour("always", tty) is True
        assert _use_colour("auto", io.StringIO()) is False
    finally:
        tty.close()
        os.close(master)
    out = io.StringIO()
    mon = Monitor(out, colour=True)
    mon.feed(
        b"   1.000 E SENSOR.ABSENT bme280 errno=19\r\n   2.000 I SAMPLE seq=7 temperature_c=21.5\r\n"
    )
    mon.feed(b"   2.100 I DELIVERY console pending=3 sent=1\r\npartial")
    text = out.getvalue()
    assert "\x1b[31;1m" in text and "SENSOR.ABSENT" in text
    assert "partial" not in text
    st = mon.status
    assert st.errors == 1 and st.last_fault == "SENSOR.ABSENT bme280"
    assert st.last_sample["temperature_c"] == 21.5 and st.journal_pending == 3
    assert "#7 T=21.5C" in st.line()


def test_monitor_across_unplug_and_restart(tmp_path):
    fs, link, log = tmp_path / "fs", tmp_path / "ttySIM0", tmp_path / "monitor.log"
    dev = SimDevice(fs, BOARD, baud=1_000_000, speed=20, link=link)
    dev.start()
    try:
        time.sleep(0.3)
        assert stationctl("deploy", "--port", link, "--board", BOARD, "--quiet").returncode == 0
        cfg = tmp_path / "cfg.json"
        cfg.write_text(json.dumps({"station_id": "st-mon", "interval_s": 10}))
        assert stationctl("configure", "--port", link, "--config", cfg).returncode == 0
        mon = subprocess.Popen(
            [
                str(BIN / "stationctl"),
                "monitor",
                "--port",
                str(link),
                "--json",
                "--log",
                str(log),
                "--duration",
                "8",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(3)
        dev.stop()  # unplugged
        time.sleep(1.5)
        dev = SimDevice(fs, BOARD, baud=1_000_000, speed=20, link=link)  # plugged in again
        dev.start()
        deadline = time.monotonic() + 5
        while "reconnected" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        dev.hard_reset()  # and the station restarts while we watch
        out, _ = mon.communicate(timeout=30)
    finally:
        dev.stop()
    objs = [json.loads(line) for line in out.splitlines()]
    events = [o["event"] for o in objs if o["kind"] == "event"]
    assert events[0] == "connected"
    assert "disconnected" in events and "reconnected" in events
    cut = next(i for i, o in enumerate(objs) if o.get("event") == "reconnected")
    before = [o for o in objs[:cut] if o["kind"] == "diag"]
    after = [o for o in objs[cut:] if o["kind"] == "diag"]
    assert any(o["code"] == "SAMPLE" for o in before)
    assert any(o["code"] == "BOOT" and o["fields"]["station"] == "st-mon" for o in after)
    samples = [o for o in after if o["code"] == "SAMPLE"]
    assert samples and isinstance(samples[-1]["fields"]["temperature_c"], float)
    status = objs[-1]
    assert status["kind"] == "status" and status["boots"] >= 1 and status["station"] == "st-mon"
    assert status["last_sample"]["seq"] == samples[-1]["fields"]["seq"]
    text = log.read_text()
    assert "[monitor] disconnected" in text and "[monitor] reconnected" in text
    assert text.count(" I BOOT ") >= 1 and " I SAMPLE " in text


def test_live_status_line_on_a_terminal(tmp_path):
    """On a terminal, monitor keeps one status line under the scrolling diagnostics."""
    fs = tmp_path / "fs"
    fs.mkdir()
    (fs / "main.py").write_text(
        "import time\n"
        "n = 0\n"
        "while True:\n"
        "    n += 1\n"
        "    print('%9.3f I SAMPLE seq=%d temperature_c=21.5' % (n, n))\n"
        "    print('%9.3f W SENSOR.FAIL bme280 errno=5' % n)\n"
        "    time.sleep(0.2)\n"
    )
    dev = SimDevice(fs, BOARD, link=tmp_path / "tty")
    dev.start()
    master, slave = os.openpty()
    try:
        env = dict(os.environ)
        env.pop("NO_COLOR", None)
        proc = subprocess.Popen(
            [
                str(BIN / "stationctl"),
                "monitor",
                "--port",
                str(tmp_path / "tty"),
                "--duration",
                "3",
            ],
            stdout=slave,
            stderr=slave,
            env=env,
        )
        time.sleep(0.5)
        dev.hard_reset()
        out = b""
        deadline = time.monotonic() + 15
        while proc.poll() is None and time.monotonic() < deadline:
            import select

            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                out += os.read(master, 65536)
        proc.wait(timeout=10)
    finally:
        dev.stop()
        os.close(slave)
        os.close(master)
    text = out.decode(errors="replace")
    assert "\r\x1b[K" in text  # the status line is redrawn in place
    assert "[online]" in text and "T=21.5C" in text and "last=SENSOR.FAIL bme280" in text
    assert "\x1b[33m" in text  # warnings in yellow on a terminal
