"""Hardware abstraction: the one seam between the firmware and the hardware.

`Hal(board_cfg)` gives the firmware the buses, UARTs, pins, RTC memory, watchdog and sleep the
board config (board_configs/*.json) describes. It checks the config, keeps what it built and
applies the rules every board shares (the watchdog cap, long sleeps cut into slices that feed the
watchdog); a backend makes the hardware objects. There are two backends, one contract (`Board`):

    MachineBoard   this module, on a board: `machine.*` objects (the only module importing `machine`)
    SimBoard       sim/board.py, under the unix port: simulated chips on virtual time

The backend is chosen once, before the firmware starts: a simulation installs its board under the
name `hal_board` in sys.modules (`SimBoard.activate()`, as sim/vtime.py installs its clock as
`time`), so the choice outlives a re-import of this module (a simulated reset, the simulated
device importing its deployed copy). On a board nothing is installed and every Hal uses the
machine backend. Drivers receive the objects built here and never construct hardware themselves.
"""

import sys
import time

_INSTALLED = "hal_board"  # the sys.modules name of a backend installed by a simulation


class HalError(ValueError):
    """The board config names hardware this board does not have or describes it wrongly."""


class Board:
    """What a backend provides: the contract both backends implement (sim/board.py by duck typing,
    as it is loaded before the firmware; tests/mp_test_sim.py checks it has every member).

    `spec` is the board config's entry for the object; the Hal has checked that it exists.
    """

    fs_root = "/data"  # where the station's files live

    def i2c(self, name, spec):
        """The I2C bus `name` (each bus built once: the Hal keeps it)."""
        raise NotImplementedError

    def uart(self, name, spec, baud, timeout_ms):
        raise NotImplementedError

    def pin(self, name, num, out, value):
        raise NotImplementedError

    def watchdog(self, timeout_ms):
        """Start the watchdog; returns the object with `feed()`."""
        raise NotImplementedError

    def reset_cause(self):
        """Why the board last reset: "power_on", "hard", "watchdog", "deep_sleep", "soft",
        "brownout" or "unknown"."""
        raise NotImplementedError

    def reset(self):
        raise NotImplementedError

    def schedule_reset(self, ms, before):
        """Reset in `ms` without blocking; `before()` (may be None) runs first."""
        raise NotImplementedError

    def sleep_ms(self, ms):
        """Sleep between cycles, RAM kept (the Hal feeds the watchdog between slices)."""
        raise NotImplementedError

    def unique_id(self):
        """The MCU's unique id as hex text."""
        raise NotImplementedError

    def rtc_memory(self, data=None):
        """Bytes kept across resets (not power loss): read with no argument, else write `data`.
        Per board family (`rtc_memory_for`): RTC memory on ESP32, the watchdog's scratch
        registers plus a file on rp2; put what changes often in the first 16 bytes."""
        raise NotImplementedError

    def battery_v(self, spec):
        """Battery voltage through the ADC divider `spec` (the config's `battery` entry)."""
        raise NotImplementedError

    # --- network: the station's IP link (MQTT). The network interface belongs here. ---
    def wlan(self, spec):
        """The Wi-Fi station interface (the board config's `wifi` entry is `spec`): an object with
        the `Wlan` contract below, built once (the Hal keeps it)."""
        raise NotImplementedError

    def net_clock(self):
        """The clock that charges real socket waits to simulated time, or None on a board."""
        return None

    def time_synced(self):
        """True when the wall clock is known (NTP, network time or an RTC set by a technician)."""
        raise NotImplementedError

    def set_wall_time(self, unix_s):
        """Set the RTC to `unix_s` (unix seconds, int or float); afterwards time_synced() is True."""
        raise NotImplementedError


class Wlan:
    """A Wi-Fi station interface as the firmware sees it (firmware/wifi.py drives it): the same
    words on every port, whatever numbers the port's `network` module uses.

    `state()` is one of: "off", "idle", "connecting", "no_ip" (associated, no DHCP lease yet),
    "up" (has an address), "wrong_password", "no_ap" (network not found), "fail".
    """

    def up(self, country, hostname):
        """Power the radio on; `country` (two letters, "" = the port's default) and `hostname`."""
        raise NotImplementedError

    def connect(self, ssid, password):
        raise NotImplementedError

    def state(self):
        raise NotImplementedError

    def rssi(self):
        """Signal strength of the network in use (dBm), None when not associated."""
        raise NotImplementedError

    def address(self):
        """The IPv4 address as text ("" when none)."""
        raise NotImplementedError

    def down(self):
        """Leave the network and power the radio off (saves ~40-70 mA between cycles)."""
        raise NotImplementedError


class _PortWlan(Wlan):
    """`network.WLAN(STA_IF)` on a board. The ports number states differently (ESP32: STAT_*
    1000/1001/1010 and 200..204 from the IDF's reasons; rp2: the CYW43 link status 0..3, -1 fail,
    -2 no network, -3 bad auth, 2 = joined without an address), so the table is built from the
    port's own constants; rp2's "no IP yet" (2) has no STAT_ name there."""

    def __init__(self, family):
        import network

        self._network = network
        self._family = family
        self._nic = None
        n = network
        table = {}
        for name, word in (
            ("STAT_IDLE", "idle"),
            ("STAT_CONNECTING", "connecting"),
            ("STAT_GOT_IP", "up"),
            ("STAT_WRONG_PASSWORD", "wrong_password"),
            ("STAT_NO_AP_FOUND", "no_ap"),
            ("STAT_CONNECT_FAIL", "fail"),
            ("STAT_ASSOC_FAIL", "fail"),
            ("STAT_BEACON_TIMEOUT", "fail"),
            # the IDF reports a wrong WPA2 password as a 4-way handshake timeout
            ("STAT_HANDSHAKE_TIMEOUT", "wrong_password"),
        ):
            if hasattr(n, name):  # a port's own constants (the network module is not ours)
                table[getattr(n, name)] = word
        if family == "rp2":
            table[2] = "no_ip"  # CYW43_LINK_NOIP
        self._words = table

    def up(self, country, hostname):
        network = self._network
        if country:
            try:
                network.country(country)
            except (AttributeError, ValueError, OSError):
                pass  # older ports: rp2.country(); the radio then uses its worldwide default
        if hostname:
            try:
                network.hostname(hostname)
            except (AttributeError, ValueError, OSError):
                pass
        if self._nic is None:
            self._nic = network.WLAN(network.STA_IF)
        self._nic.active(True)

    def connect(self, ssid, password):
        try:
            self._nic.disconnect()  # the ESP32 port refuses connect() while it is still trying
        except OSError:
            pass
        self._nic.connect(ssid, password)

    def state(self):
        if self._nic is None or not self._nic.active():
            return "off"
        code = self._nic.status()
        word = self._words.get(code)
        if word is None:
            return "connecting"
        if word == "up" and not self._nic.isconnected():
            return "no_ip"
        return word

    def rssi(self):
        try:
            return self._nic.status("rssi")
        except (OSError, ValueError, TypeError, AttributeError):
            return None

    def address(self):
        try:
            return self._nic.ifconfig()[0]
        except (OSError, AttributeError):
            return ""

    def down(self):
        if self._nic is None:
            return
        try:
            self._nic.disconnect()
        except OSError:
            pass
        self._nic.active(False)


# RP2040/RP2350 watchdog block: SCRATCH0..3 are free for software and survive a watchdog reset
# and machine.reset() (which reboots through the watchdog), not a power-on or RUN-pin reset.
# SCRATCH4..7 belong to the SDK and boot ROM: watchdog_enable() writes a magic to SCRATCH4 that
# watchdog_reboot() (machine.reset()) clears.
_WATCHDOG_SCRATCH0 = 0x4005800C
_WATCHDOG_SCRATCH4 = 0x4005801C
_WATCHDOG_NON_REBOOT_MAGIC = 0x6AB73121
_SCRATCH_BYTES = 16

_boot_cause = None  # MachineBoard.reset_cause(), read once per boot
# seconds from 1970-01-01 to the port's time epoch: 0 where time.gmtime(0) is 1970 (unix, rp2,
# ESP32 since MicroPython 1.22), 946684800 on ports counting from 2000
_UNIX_TO_PORT_EPOCH_S = 0 if time.gmtime(0)[0] == 1970 else 946684800


class _RtcMemory:
    """`RTC().memory()`: the ESP32 family (RTC slow memory, kept across every reset but power
    loss), and any port that has it."""

    kept = True

    def __init__(self, rtc):
        self._rtc = rtc

    def read(self):
        return self._rtc.memory()

    def write(self, data):
        self._rtc.memory(data)
        return data


class _ScratchMemory:
    """The rp2 family (no `RTC().memory()`): bytes 0..15 in the watchdog's SCRATCH0..3, the rest
    in a small file on flash, rewritten only when those bytes change. Callers put what changes
    often first (firmware/lifecycle.py: phase, sequence, boot count; the reset times that change
    only on an unexpected reset come after byte 16), so the flash sees a write per unexpected
    reset, not per cycle. After a power-on the scratch registers read 0: nothing was kept."""

    kept = True

    def __init__(self, mem32, tail_path):
        self._mem32 = mem32
        self._path = tail_path
        self._tail = None  # what the file holds, once read

    def _read_tail(self):
        if self._tail is None:
            try:
                with open(self._path, "rb") as f:
                    self._tail = f.read()
            except OSError:
                self._tail = b""
        return self._tail

    def read(self):
        head = bytearray(_SCRATCH_BYTES)
        for i in range(4):
            word = self._mem32[_WATCHDOG_SCRATCH0 + 4 * i] & 0xFFFFFFFF
            head[4 * i : 4 * i + 4] = word.to_bytes(4, "little")
        if not any(head):
            return b""
        return bytes(head) + self._read_tail()

    def write(self, data):
        head = bytes(data[:_SCRATCH_BYTES])
        head = head + bytes(_SCRATCH_BYTES - len(head))
        for i in range(4):
            word = int.from_bytes(head[4 * i : 4 * i + 4], "little")
            self._mem32[_WATCHDOG_SCRATCH0 + 4 * i] = word
        tail = bytes(data[_SCRATCH_BYTES:])
        if tail != self._read_tail():
            with open(self._path, "wb") as f:
                f.write(tail)
            self._tail = tail
        return data


class _NoMemory:
    """A port with nothing known to survive a reset: breadcrumbs and safe mode cannot work."""

    kept = False

    def read(self):
        return b""

    def write(self, data):
        return b""


def rtc_memory_for(family, rtc, mem32, fs_root):
    """The memory that survives a reset on this board family (`family` from the board config),
    from the port's `machine.RTC()` and `machine.mem32` (or the simulated board's stand-ins)."""
    if family == "rp2":
        return _ScratchMemory(mem32, fs_root.rstrip("/") + "/.rtc_tail")
    if hasattr(rtc, "memory"):
        return _RtcMemory(rtc)
    return _NoMemory()


class MachineBoard(Board):
    """A board: every object from `machine`, built from the board config's pin numbers."""

    def __init__(self, board_cfg):
        self.cfg = board_cfg
        self.fs_root = board_cfg.get("fs_root", "/data")
        self._rtc = None
        self._reset_timer = None

    def i2c(self, name, spec):
        import machine

        if spec.get("soft"):
            return machine.SoftI2C(
                scl=machine.Pin(spec["scl"]),
                sda=machine.Pin(spec["sda"]),
                freq=spec.get("freq", 100000),
            )
        return machine.I2C(
            spec.get("id", 0),
            scl=machine.Pin(spec["scl"]),
            sda=machine.Pin(spec["sda"]),
            freq=spec.get("freq", 100000),
        )

    def uart(self, name, spec, baud, timeout_ms):
        import machine

        kw = {"baudrate": baud, "timeout": timeout_ms, "rxbuf": spec.get("rxbuf", 512)}
        if "tx" in spec:
            kw["tx"] = machine.Pin(spec["tx"])
            kw["rx"] = machine.Pin(spec["rx"])
        return machine.UART(spec["id"], **kw)

    def pin(self, name, num, out, value):
        import machine

        mode = machine.Pin.OUT if out else machine.Pin.IN
        return machine.Pin(num, mode) if value is None else machine.Pin(num, mode, value=value)

    def watchdog(self, timeout_ms):
        import machine

        return machine.WDT(timeout=timeout_ms)

    def reset_cause(self):
        global _boot_cause
        import machine

        if _boot_cause is None:  # once per boot: later Hals must not see this boot's watchdog
            _boot_cause = self._read_reset_cause(machine)
        return _boot_cause

    def _read_reset_cause(self, machine):
        c = machine.reset_cause()
        if self.cfg.get("family") == "rp2" and c == machine.WDT_RESET:
            # the rp2 port reports machine.reset() (a watchdog reboot) as WDT_RESET too; a real
            # timeout leaves the SDK's magic in SCRATCH4, which watchdog_reboot() clears. Read
            # once, before this boot's watchdog_enable() writes the magic again.
            magic = machine.mem32[_WATCHDOG_SCRATCH4] & 0xFFFFFFFF
            return "watchdog" if magic == _WATCHDOG_NON_REBOOT_MAGIC else "soft"
        # ports define only the causes their chip reports: a missing one gets a value no cause has
        table = {
            getattr(machine, "PWRON_RESET", -1): "power_on",
            getattr(machine, "HARD_RESET", -2): "hard",
            getattr(machine, "WDT_RESET", -3): "watchdog",
            getattr(machine, "DEEPSLEEP_RESET", -4): "deep_sleep",
            getattr(machine, "SOFT_RESET", -5): "soft",
            getattr(machine, "BROWNOUT_RESET", -6): "brownout",
        }
        return table.get(c, "unknown")

    def reset(self):
        import machine

        machine.reset()

    def schedule_reset(self, ms, before):
        import machine

        def fire(_t):
            if before is not None:
                before()
            machine.reset()

        self._reset_timer = machine.Timer(-1 if self.cfg.get("family") == "rp2" else 0)
        self._reset_timer.init(mode=machine.Timer.ONE_SHOT, period=max(1, int(ms)), callback=fire)

    def sleep_ms(self, ms):
        import machine

        try:
            machine.lightsleep(ms)
        except (AttributeError, OSError):
            time.sleep_ms(ms)

    def unique_id(self):
        import binascii

        import machine

        return binascii.hexlify(machine.unique_id()).decode()

    def rtc_memory(self, data=None):
        if self._rtc is None:
            import machine

            self._rtc = rtc_memory_for(
                self.cfg.get("family"), machine.RTC(), machine.mem32, self.fs_root
            )
        if data is None:
            return self._rtc.read()
        return self._rtc.write(data)

    def battery_v(self, spec):
        import machine

        adc = machine.ADC(machine.Pin(spec["pin"]))
        return adc.read_u16() * spec.get("scale", 3.3 * 2 / 65535)

    def wlan(self, spec):
        return _PortWlan(self.cfg.get("family"))

    def time_synced(self):
        return time.time() > 1700000000

    def set_wall_time(self, unix_s):
        import machine

        # time.gmtime counts from the port's own epoch (1970 on current ports, 2000 on older
        # ESP32 builds): convert through it so that time.time() afterwards returns unix_s
        whole = int(unix_s)
        t = time.gmtime(whole - _UNIX_TO_PORT_EPOCH_S)
        sub_us = int((unix_s - whole) * 1000000)
        # RTC.datetime: (year, month, day, weekday, hours, minutes, seconds, subseconds)
        machine.RTC().datetime((t[0], t[1], t[2], t[6], t[3], t[4], t[5], sub_us))


def installed_board(board_cfg):
    """The backend chosen for this run: the one a simulation installed, else the board's own."""
    board = sys.modules.get(_INSTALLED)
    return board if board is not None else MachineBoard(board_cfg)


def _check_board(board_cfg):
    """The board config's schema (boardcfg.py, shared with stationctl): a wrong config is a
    HalError naming every problem, not an AttributeError deep inside a driver."""
    import boardcfg

    try:
        bad = boardcfg.problems(board_cfg, shape_only=True)
    finally:
        del sys.modules["boardcfg"]  # checked once per boot: give its RAM back
    if bad:
        raise HalError("board config: " + "; ".join(bad))


class Hal:
    def __init__(self, board_cfg):
        _check_board(board_cfg)
        self.cfg = board_cfg
        self.name = board_cfg.get("board", "?")
        self.board = installed_board(board_cfg)
        self.fs_root = self.board.fs_root
        self._i2c = {}
        self._uart = {}
        self._pins = {}
        self._wdt = None
        self._wlan = None
        self.wdt_ms = 0

    # --- buses ---
    def i2c(self, name):
        bus = self._i2c.get(name)
        if bus is not None:
            return bus
        spec = self.cfg.get("i2c", {}).get(name)
        if spec is None:
            raise HalError("board %s has no I2C bus %r" % (self.name, name))
        bus = self._i2c[name] = self.board.i2c(name, spec)
        return bus

    def uart(self, name, baudrate=None, timeout_ms=None):
        u = self._uart.get(name)
        spec = self.cfg.get("uart", {}).get(name)
        if spec is None:
            raise HalError("board %s has no UART %r" % (self.name, name))
        baud = baudrate or spec.get("baud", 9600)
        timeout = spec.get("timeout_ms", 1000) if timeout_ms is None else timeout_ms
        if u is not None:
            u.init(baudrate=baud, timeout=timeout)
            return u
        u = self._uart[name] = self.board.uart(name, spec, baud, timeout)
        return u

    def pin(self, name, out=True, value=None):
        p = self._pins.get(name)
        if p is not None:
            return p
        num = self.cfg.get("pins", {}).get(name)
        if num is None:
            raise HalError("board %s has no pin %r" % (self.name, name))
        p = self._pins[name] = self.board.pin(name, num, out, value)
        return p

    def has_pin(self, name):
        return name in self.cfg.get("pins", {})

    # --- system ---
    def watchdog(self, timeout_ms):
        """Start the hardware watchdog (cannot be stopped once started, as on real chips).

        Chips cap the timeout (RP2040: 8.3 s; the board config's `wdt_max_ms`). When the cap is
        below the cycle's needs, `sleep_ms` sleeps in slices and feeds between them, so only a
        hang inside a cycle (where nothing feeds) resets the board."""
        if self._wdt is None:
            cap = self.cfg.get("wdt_max_ms")
            if cap is None and self.cfg.get("family") == "rp2":
                # the rp2 port refuses more (a 24-bit counter): 8388 ms on RP2040, 16777 on RP2350
                cap = 16777 if self.cfg.get("chip") == "rp2350" else 8388
            self.wdt_ms = timeout_ms if cap is None else min(timeout_ms, cap)
            self._wdt = self.board.watchdog(self.wdt_ms)
        return self._wdt

    def feed(self):
        if self._wdt is not None:
            self._wdt.feed()

    def reset_cause(self):
        return self.board.reset_cause()

    def reset(self):
        self.board.reset()

    def schedule_reset(self, ms, before=None):
        """Reset the board in `ms` (safe mode's hold time) without blocking: the REPL stays usable.

        `before()` runs first (it records why the board resets)."""
        self.board.schedule_reset(ms, before)

    def sleep_ms(self, ms):
        """Sleep between cycles: light sleep on a board (RAM kept), virtual time in simulation."""
        if ms <= 0:
            return
        wdt_ms = self.wdt_ms if self._wdt is not None else 0
        while ms > 0:
            step = ms if not wdt_ms or ms < wdt_ms // 2 else wdt_ms // 2
            self.board.sleep_ms(step)
            ms -= step
            if ms > 0:
                self._wdt.feed()  # a slice of a long sleep, not a cycle: the cycle still must finish

    def unique_id(self):
        return self.board.unique_id()

    def rtc_memory(self, data=None):
        """Bytes kept across resets (not power loss): RTC memory on a board, a file in simulation."""
        return self.board.rtc_memory(data)

    def battery_v(self):
        """Battery voltage from the board's ADC divider, or None if the board has none."""
        spec = self.cfg.get("battery")
        if not spec:
            return None
        return self.board.battery_v(spec)

    # --- network ---
    def wlan(self):
        """The Wi-Fi station interface (`Wlan`), or None when the board config has no `wifi`
        entry (a board on Ethernet, a LoRaWAN-only board, the plain simulation)."""
        spec = self.cfg.get("wifi")
        if spec is None:
            return None
        if self._wlan is None:
            self._wlan = self.board.wlan(spec)
        return self._wlan

    def net_clock(self):
        """Simulation only: the clock that charges real socket waits to virtual time, else None."""
        return self.board.net_clock()

    def time_synced(self):
        """True when the wall clock is known (NTP, network time or an RTC set by a technician)."""
        return self.board.time_synced()

    def set_wall_time(self, unix_s):
        """Set the RTC (firmware/clock.py does it, with what it learnt from the network)."""
        self.board.set_wall_time(unix_s)
