"""stationctl sim-device behaves like a station on USB serial; unmodified mpremote works on it."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
from hostkit.cli import BIN, stationctl
from hostkit.sim_device import BOARD, sim_station
from stationctl.mpenv import REPO_ROOT
from stationctl.station.transport import PortBusyError, SerialTransport, TransportExecError

MAIN = b'import time\nprint("main running")\nwhile True:\n    time.sleep(0.05)\n'


def mpremote(port, *args, timeout=60):
    return subprocess.run(
        [str(BIN / "mpremote"), "connect", port, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_mpremote_smoke(tmp_path):
    fs = tmp_path / "fs"
    fs.mkdir()
    (fs / "main.py").write_bytes(MAIN)
    local = tmp_path / "hello.txt"
    local.write_text("hello station\n" * 50)
    with sim_station(fs) as dev:
        port = dev.port_path
        r = mpremote(port, "exec", "print('sum', 40 + 2)")
        assert r.returncode == 0, r.stderr
        assert "sum 42" in r.stdout
        r = mpremote(
            port,
            "fs",
            "cp",
            str(local),
            ":hello.txt",
            "+",
            "fs",
            "mkdir",
            ":lib",
            "+",
            "fs",
            "ls",
            ":",
        )
        assert r.returncode == 0, r.stderr
        assert "hello.txt" in r.stdout and "lib/" in r.stdout
        assert (fs / "hello.txt").read_text() == local.read_text()
        r = mpremote(port, "fs", "cat", ":hello.txt")
        assert r.stdout.count("hello station") == 50
        r = mpremote(port, "exec", "import os; print(sorted(os.listdir('/')))")
        assert "'hello.txt', 'lib', 'main.py'" in r.stdout
        # mpremote soft-resets on connect: each run above restarted the interpreter
        assert dev.boots >= 4
        r = mpremote(port, "soft-reset")
        assert r.returncode == 0, r.stderr
        r = mpremote(port, "exec", "raise ValueError('boom')")
        assert r.returncode == 1 and "ValueError: boom" in r.stderr + r.stdout


def test_ctrl_c_soft_reboot_and_main(tmp_path):
    fs = tmp_path / "fs"
    fs.mkdir()
    (fs / "main.py").write_bytes(MAIN)
    (fs / "boot.py").write_bytes(b'print("boot ran")\n')
    with sim_station(fs) as dev:
        t = SerialTransport(dev.port_path)
        try:
            dev.hard_reset()  # power-cycle now that we listen (opening the port flushed input)
            first = t.read_until(b"main running\r\n", timeout=5)
            assert b"boot ran\r\nmain running\r\n" in first
            t.enter_raw_repl()  # Ctrl-C stops main.py, Ctrl-A enters the raw REPL
            assert t.eval("1 + 1") == 2
            with pytest.raises(TransportExecError) as exc:
                t.exec("1/0")
            assert "ZeroDivisionError" in exc.value.error_output
            # a long computation is interrupted by Ctrl-C
            t.exit_raw_repl()
            t.drain(0.3)
            t._write(b"while True: pass\r\r")
            time.sleep(0.3)
            t._write(b"\x03")
            assert b"KeyboardInterrupt" in t.read_until(b">>> ", timeout=5)
            # soft reset from the friendly REPL runs boot.py and main.py again
            out = t.soft_reset(run_main=True)
            assert out.endswith(b"MPY: soft reboot\r\n")
            assert b"boot ran\r\nmain running\r\n" in t.read_until(b"main running\r\n", timeout=5)
            # soft reset from the raw REPL stays in the raw REPL and does not run main.py
            t.enter_raw_repl(soft_reset=True)
            assert t.eval("'still raw'") == "still raw"
            assert dev.boots == 4
            # globals persist between raw-REPL commands, as mpremote relies on
            t.exec("x = 41")
            assert t.eval("x + 1") == 42
        finally:
            t.close()


def test_wire_rate_is_simulated(tmp_path):
    fs = tmp_path / "fs"
    fs.mkdir()
    with sim_station(fs, baud=19200) as dev:
        t = SerialTransport(dev.port_path)
        try:
            t.enter_raw_repl()
            t0 = time.monotonic()
            out = t.exec("print('x' * 6000)")
            dt = time.monotonic() - t0
            assert len(out) >= 6000
            # 6000 bytes at 1920 bytes/s take at least 3 s on the simulated line
            assert 3.0 <= dt < 20.0
        finally:
            t.close()


def test_port_held_by_another_program(tmp_path):
    fs = tmp_path / "fs"
    fs.mkdir()
    with sim_station(fs) as dev:
        holder = subprocess.Popen(
            [
                str(BIN / "python"),
                "-c",
                "import serial,sys,time; s=serial.Serial(sys.argv[1], exclusive=True); "
                "print('open', flush=True); time.sleep(30)",
                dev.port_path,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout.readline().strip() == "open"
            with pytest.raises(PortBusyError) as exc:
                SerialTransport(dev.port_path)
            msg = str(exc.value)
            assert "in use by python" in msg and f"pid {holder.pid}" in msg
            r = stationctl("verify", "--port", dev.port_path)
            assert r.returncode != 0 and "in use by" in r.stderr
        finally:
            holder.kill()
            holder.wait()


def test_sim_device_command_prints_port_first(tmp_path):
    proc = subprocess.Popen(
        [
            str(BIN / "stationctl"),
            "sim-device",
            "--fs",
            str(tmp_path / "fs"),
            "--board",
            str(BOARD),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("port: /dev/")
        port = line.split(": ", 1)[1].strip()
        r = mpremote(port, "exec", "print('via command')")
        assert "via command" in r.stdout
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_root_is_always_the_flash_folder(tmp_path):
    """Ctrl-C at power-on (held until the board is built) never leaves a REPL on the host's /."""
    fs = tmp_path / "fs"
    fs.mkdir()
    (fs / "marker.txt").write_text("this station")
    from stationctl.virtual.simdevice import SimDevice

    for _ in range(3):
        dev = SimDevice(fs, BOARD)
        port = dev.start()
        try:
            t = SerialTransport(port)  # straight away, while the interpreter is still starting
            try:
                t.enter_raw_repl()
                assert t.eval("__import__('os').listdir('/')") == ["marker.txt"]
            finally:
                t.close()
        finally:
            dev.stop()


def test_broken_board_never_serves_a_repl(tmp_path):
    hw = tmp_path / "hw.json"
    hw.write_text("{not json")
    proc = subprocess.run(
        [str(BIN / "stationctl"), "sim-device", "--fs", str(tmp_path / "fs"), "--board", str(hw)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1
    assert proc.stdout.startswith("port: ")
    assert "failed to start" in proc.stderr


def test_mpremote_against_a_station_running_the_firmware(tmp_path):
    fs = tmp_path / "fs"
    with sim_station(fs, baud=1_000_000, speed=30) as dev:
        r = stationctl("deploy", "--port", dev.port_path, "--board", BOARD, "--quiet")
        assert r.returncode == 0, r.stderr
        time.sleep(1.0)  # the firmware is sampling now
        r = mpremote(
            dev.port_path,
            "exec",
            "import station, config; print(station.__file__, config.__file__)",
        )
        assert r.returncode == 0, r.stderr
        assert "/lib/station.mpy /lib/config.mpy" in r.stdout
        r = mpremote(dev.port_path, "fs", "ls", ":lib")
        assert "station.mpy" in r.stdout and "umqtt/" in r.stdout


def test_flash_is_a_jail_and_listings_carry_sizes(tmp_path):
    fs, outside = tmp_path / "fs", tmp_path / "outside"
    fs.mkdir()
    outside.mkdir()
    (fs / "lib").mkdir()
    (fs / "data.bin").write_bytes(b"x" * 1234)
    with sim_station(fs) as dev:
        port = dev.port_path
        r = mpremote(port, "fs", "ls", ":")
        assert r.returncode == 0, r.stderr
        assert "1234 data.bin" in r.stdout, r.stdout
        # on a board `/..` is `/`: nothing escapes the flash, and no host folder is reachable
        r = mpremote(
            port,
            "exec",
            "for p in ('/../outside/x', '/lib/../../outside/y', '../outside/z'):\n"
            "    try:\n"
            "        open(p, 'w').write('1')\n"
            "    except OSError as e:\n"
            "        print('refused', p, e.errno)\n"
            "open('/../escaped.txt', 'w').write('2')\n",
        )
        assert r.returncode == 0, r.stderr
        assert r.stdout.count("refused") == 3, r.stdout
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "escaped.txt").exists()
    assert (fs / "escaped.txt").read_text() == "2"  # `/../escaped.txt` is `/escaped.txt`


def test_rtc_memory_is_lost_on_a_power_cycle_not_on_a_reset(tmp_path):
    fs = tmp_path / "fs"
    fs.mkdir()
    with sim_station(fs) as dev:
        port = dev.port_path
        (fs / ".rtc_memory").write_bytes(b"breadcrumbs")  # what the firmware keeps in RTC RAM
        assert mpremote(port, "soft-reset").returncode == 0
        assert (fs / ".rtc_memory").exists()  # a reset keeps it
        boots = dev.boots
        dev.hard_reset()  # power cycle
        deadline = time.monotonic() + 10
        while dev.boots == boots and time.monotonic() < deadline:
            time.sleep(0.05)
        assert dev.boots > boots
        assert not (fs / ".rtc_memory").exists()


def test_mpremote_reset_and_rtc_act_as_on_a_board(tmp_path):
    fs = tmp_path / "fs"
    fs.mkdir()
    with sim_station(fs) as dev:
        port = dev.port_path
        r = mpremote(port, "rtc")
        assert r.returncode == 0, r.stderr
        year = time.gmtime().tm_year
        assert r.stdout.startswith(f"({year}, "), r.stdout
        boots = dev.boots
        r = mpremote(port, "reset")
        assert r.returncode == 0, r.stderr
        deadline = time.monotonic() + 10
        while dev.boots == boots and time.monotonic() < deadline:
            time.sleep(0.05)
        assert dev.boots > boots  # a reset, not a silent no-op
        r = mpremote(port, "exec", "import machine; print('ok', len(machine.unique_id()))")
        assert r.returncode == 0 and "ok" in r.stdout, r.stderr


def test_markers_are_split_from_the_output_across_reads():
    from stationctl.virtual.simdevice import _MARK, split_markers

    up = _MARK + b"up\x07"
    assert split_markers(b"abc" + up + b"def") == (
        [("text", b"abc"), ("mark", b"up"), ("text", b"def")],
        b"",
    )
    items, rest = split_markers(b"abc" + _MARK[:3])  # a marker cut by the read
    assert items == [("text", b"abc")] and rest == _MARK[:3]
    items, rest = split_markers(rest + _MARK[3:] + b"reset:hard\x07>>> ")
    assert items == [("mark", b"reset:hard"), ("text", b">>> ")] and rest == b""
    items, rest = split_markers(_MARK + b"rep")  # no BEL yet
    assert items == [] and rest == _MARK + b"rep"


def test_mpremote_df_shows_the_simulated_flash(tmp_path):
    fs = tmp_path / "fs"
    fs.mkdir()
    (fs / "big.bin").write_bytes(b"x" * 40_000)  # 10 blocks of 4 KiB
    with sim_station(fs) as dev:
        r = mpremote(dev.port_path, "df")
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.splitlines()[1:] if line.strip()]
    assert len(rows) == 1, r.stdout
    name, size, used, avail, pct, mounted = rows[0]
    assert name == "<VfsSimFlash>" and mounted == "/"
    assert int(size) == 2 * 1024 * 1024 and int(used) == 11 * 4096
    assert int(avail) == int(size) - int(used)


def test_a_reset_called_at_the_repl_reboots_the_board(tmp_path):
    # issue 10 item 13: station.resume() at the REPL (the documented way out of safe mode) ends
    # in the simulated board's reset(); it must reboot the board, not print a SimReset traceback
    fs = tmp_path / "fs"
    fs.mkdir()
    with sim_station(fs) as dev:
        boots = dev.boots
        r = mpremote(dev.port_path, "exec", "import sim.board; sim.board.current().reset()")
        assert "SimReset" not in r.stdout + r.stderr, r.stdout + r.stderr
        deadline = time.monotonic() + 10
        while dev.boots == boots and time.monotonic() < deadline:
            time.sleep(0.05)
        assert dev.boots > boots


def test_ctrl_c_interrupts_code_sent_in_raw_paste_mode(tmp_path):
    """mpremote sends code in raw-paste mode; its next run's Ctrl-C (0x03) stops what is still
    running and gets the raw REPL, as on a board (the unix port ran raw-REPL code with its
    terminal raw, so the byte waited in the input queue behind a spinning loop)."""
    fs = tmp_path / "fs"
    fs.mkdir()
    with sim_station(fs) as dev:
        port = dev.port_path
        spin = subprocess.Popen(
            [str(BIN / "mpremote"), "connect", port, "exec", "while True: pass"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)
        spin.send_signal(signal.SIGINT)  # the technician's Ctrl-C: mpremote leaves, code runs on
        spin.wait(timeout=10)
        boots = dev.boots
        r = mpremote(port, "exec", "print('back at the REPL')", timeout=15)
        assert r.returncode == 0, r.stderr
        assert "back at the REPL" in r.stdout
        assert dev.boots == boots + 1  # mpremote's own soft reset; no crash, no watchdog reset


def test_tracebacks_name_station_files_not_host_paths(tmp_path):
    fs = tmp_path / "fs"
    fs.mkdir()
    (fs / "main.py").write_text(
        "import machine\n\ndef clock_set():\n    machine.RTC().datetime((2030, 13))\n\nclock_set()\n"
    )
    with sim_station(fs) as dev:
        t = SerialTransport(dev.port_path)
        try:
            dev.hard_reset()
            out = t.read_until(b">>> ", timeout=10).decode()
        finally:
            t.close()
        # through the simulated hardware (C code on a board): the REPL's traceback names no host
        r = mpremote(dev.port_path, "exec", "import machine\nmachine.RTC().memory(5)")
    assert 'Traceback (most recent call last):\r\n  File "main.py", line 6, in <module>' in out
    assert '  File "main.py", line 4, in clock_set\r\n' in out
    assert r.returncode == 1 and "Traceback" in r.stderr + r.stdout
    for text in (out, r.stdout + r.stderr):
        assert str(REPO_ROOT) not in text and ".venv" not in text, text
    assert "sim/" not in out  # main.py's traceback starts at main.py, as on a board


def test_mpremote_rtc_set_holds_over_resets_until_a_power_cycle(tmp_path):
    fs = tmp_path / "fs"
    fs.mkdir()
    with sim_station(fs) as dev:
        port = dev.port_path
        r = mpremote(port, "rtc", "--set")
        assert r.returncode == 0, r.stderr
        r = mpremote(
            port, "exec", "import machine; machine.RTC().datetime((2031, 5, 6, 1, 7, 8, 9, 0))"
        )
        assert r.returncode == 0, r.stderr
        r = mpremote(port, "rtc")  # another run: mpremote soft-resets the board first
        assert r.stdout.startswith("(2031, 5, 6, 1, 7, 8, "), r.stdout
        r = mpremote(port, "exec", "import time; print(time.gmtime()[:4])")
        assert "(2031, 5, 6, 7)" in r.stdout  # what the station's time module reads
        boots = dev.boots
        dev.hard_reset()  # power cycle: the RTC starts from the laptop's clock again
        deadline = time.monotonic() + 10
        while dev.boots == boots and time.monotonic() < deadline:
            time.sleep(0.05)
        r = mpremote(port, "rtc")
        assert r.stdout.startswith(f"({time.gmtime().tm_year}, "), r.stdout


def test_transfer_time_scales_with_the_wire_rate(tmp_path):
    """A known payload sent to the station and echoed back takes ~12x longer at 9600 baud than at
    115200 (10 bits per byte both ways), as on a UART."""
    fs = tmp_path / "fs"
    fs.mkdir()
    payload = "x" * 1000
    took = {}
    for baud in (9600, 115200):
        with sim_station(fs, baud=baud) as dev:
            t = SerialTransport(dev.port_path)
            try:
                t.enter_raw_repl()
                t0 = time.monotonic()
                out = t.exec(f"print(len('{payload}'))")
                took[baud] = time.monotonic() - t0
                assert out.strip() == b"1000"
            finally:
                t.close()
    # 1000+ bytes at 960 bytes/s vs 11520 bytes/s; slack for the interpreter's own time
    assert took[9600] > 5 * took[115200], took
    assert took[9600] > 1.0, took
