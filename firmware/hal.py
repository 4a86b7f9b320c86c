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
        """Bytes kept across resets (not power loss): read with no argument, else write `data`."""
        raise NotImplementedError

    def battery_v(self, spec):
        """Battery voltage through the ADC divider `spec` (the config's `battery` entry)."""
        raise NotImplementedError

    # --- network: the station's IP link (MQTT). The network interface belongs here. ---
    def net_clock(self):
        """The clock that charges real socket waits to simulated time, or None on a board."""
        return None

    def time_synced(self):
        """True when the wall clock is known (NTP, network time or an RTC set by a technician)."""
        raise NotImplementedError


class _RtcMemory:
    """RTC memory through `machine.RTC().memory()` (ESP32 family).

    A board family without it gets its own class with the same `read()`/`write(data)` and an
    entry in `_rtc_memory_for`."""

    def __init__(self):
        import machine

        self._rtc = machine.RTC()

    def read(self):
        if not hasattr(self._rtc, "memory"):  # a port built without it: nothing survives a reset
            return b""
        return self._rtc.memory()

    def write(self, data):
        if not hasattr(self._rtc, "memory"):
            return b""
        self._rtc.memory(data)
        return data


def _rtc_memory_for(family):
    """The RAM that survives a reset on this board family (`family` from the board config)."""
    return _RtcMemory()


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
        import machine

        c = machine.reset_cause()
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
            self._rtc = _rtc_memory_for(self.cfg.get("family"))
        if data is None:
            return self._rtc.read()
        return self._rtc.write(data)

    def battery_v(self, spec):
        import machine

        adc = machine.ADC(machine.Pin(spec["pin"]))
        return adc.read_u16() * spec.get("scale", 3.3 * 2 / 65535)

    def time_synced(self):
        return time.time() > 1700000000


def installed_board(board_cfg):
    """The backend chosen for this run: the one a simulation installed, else the board's own."""
    board = sys.modules.get(_INSTALLED)
    return board if board is not None else MachineBoard(board_cfg)


class Hal:
    def __init__(self, board_cfg):
        self.cfg = board_cfg
        self.name = board_cfg.get("board", "?")
        self.board = installed_board(board_cfg)
        self.fs_root = self.board.fs_root
        self._i2c = {}
        self._uart = {}
        self._pins = {}
        self._wdt = None
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
                cap = 8388
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
    def net_clock(self):
        """Simulation only: the clock that charges real socket waits to virtual time, else None."""
        return self.board.net_clock()

    def time_synced(self):
        """True when the wall clock is known (NTP, network time or an RTC set by a technician)."""
        return self.board.time_synced()
