"""stationctl monitor: parsing, colour rules, JSON, log, and a station unplugged and replugged."""

from __future__ import annotations

import datetime
import io
import json
import os
import subprocess
import time

from hostkit.cli import BIN, stationctl
from hostkit.sim_device import BOARD
from stationctl.commands.monitor import _use_colour
from stationctl.station.monitor import Monitor, parse_line
from stationctl.virtual.simdevice import SimDevice


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


def test_firmware_not_running_is_told_apart_from_waiting():
    out = io.StringIO()
    mon = Monitor(out, json_mode=True)
    mon.feed(b"   5.000 I SAMPLE seq=1 temperature_c=20.0\r\n")
    assert mon.status.firmware == "running"
    mon.feed(b"MicroPython v1.26.0 on 2025-08-09; linux [GCC 12.2.0] version\r\n>>> ")
    assert mon.status.firmware == "not running (REPL)"
    events = [json.loads(x) for x in out.getvalue().splitlines()]
    assert any(e.get("event") == "firmware-not-running" for e in events)
    mon = Monitor(io.StringIO())
    mon.feed(b'   0.120 E BOOT.FAILED exc=ImportError msg="no module named station"\r\n')
    assert mon.status.firmware.startswith("not running (BOOT.FAILED")
    assert "firmware=not running" in mon.status.line()


def test_boot_after_replug_and_restart_from_uptime():
    out = io.StringIO()
    mon = Monitor(out, json_mode=True)
    mon.feed(b"  100.000 I SAMPLE seq=9 temperature_c=20.0\r\n   100.5 I SAMP")  # half a line
    mon.lost_link()  # unplugged; the board's ROM prints noise while it boots again
    mon.feed(b"\x00\xff ets Jul 29 2019    0.010 I BOOT climate-station station=st-7 fw=1\r\n")
    assert mon.status.boots == 1 and mon.status.station == "st-7"
    mon.feed(b"    3.000 I SAMPLE seq=10 temperature_c=20.1\r\n")  # uptime continues: no restart
    assert mon.status.restarts == 0
    mon.feed(b"    1.000 I SAMPLE seq=11 temperature_c=20.1\r\n")  # no BOOT line, uptime dropped
    assert mon.status.restarts == 1
    events = [json.loads(x) for x in out.getvalue().splitlines()]
    restart = [e for e in events if e.get("event") == "restart"]
    assert restart and "3 s to 1 s" in restart[0]["detail"]


def test_filter_by_level_and_code_and_tracebacks_counted():
    out = io.StringIO()
    mon = Monitor(out, colour=True, min_level="W", codes=("SENSOR",))
    mon.feed(
        b"   1.000 I SAMPLE seq=1 temperature_c=20.0\r\n"
        b"   1.100 W SENSOR.FAIL bme280 errno=5\r\n"
        b"   1.200 E UPLINK.FAIL mqtt errno=113\r\n"
        b"   1.300 I SENSOR.RECOVERED bme280\r\n"
        b"Traceback (most recent call last):\r\n"
        b'  File "station.py", line 10, in cycle\r\n'
        b"ZeroDivisionError: divide by zero\r\n"
        b"   2.000 W SENSOR.FAIL sht4x errno=19\r\n"
    )
    text = out.getvalue()
    assert "SENSOR.FAIL bme280" in text and "SENSOR.FAIL sht4x" in text
    assert "SAMPLE" not in text and "UPLINK.FAIL" not in text and "RECOVERED" not in text
    # tracebacks always show, highlighted, whatever the filter
    assert '\x1b[35;1m  File "station.py", line 10' in text
    assert "\x1b[35;1mZeroDivisionError: divide by zero" in text
    assert mon.status.tracebacks == 1 and "tracebacks=1" in mon.status.line()
    assert mon.status.errors == 1  # counted even when not shown


def test_json_timestamps_carry_date_and_zone():
    out = io.StringIO()
    mon = Monitor(out, json_mode=True)
    mon.feed(b"   1.000 I SAMPLE seq=1 temperature_c=20.0\r\n")
    stamp = json.loads(out.getvalue().splitlines()[0])["host_time"]
    parsed = datetime.datetime.fromisoformat(stamp)
    assert parsed.tzinfo is not None and parsed.date() == datetime.date.today(), stamp


def test_monitor_into_a_closed_pipe_is_quiet(tmp_path):
    fs = tmp_path / "fs"
    fs.mkdir()
    (fs / "main.py").write_text(
        "import time\n"
        "n = 0\n"
        "while True:\n"
        "    n += 1\n"
        "    print('%9.3f I SAMPLE seq=%d temperature_c=21.5' % (n, n))\n"
        "    time.sleep(0.05)\n"
    )
    dev = SimDevice(fs, BOARD, link=tmp_path / "tty")
    dev.start()
    try:
        proc = subprocess.run(
            f"{BIN / 'stationctl'} monitor --port {tmp_path / 'tty'} --color always "
            "--duration 20 | head -3",
            shell=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        dev.stop()
    assert len(proc.stdout.splitlines()) == 3
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
