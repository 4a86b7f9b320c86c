"""Hardware abstraction: the only firmware module that imports `machine`.

`Hal(board_cfg)` builds buses, pins, UARTs, RTC, watchdog and sleep from the board config
(board_configs/*.json). On a board these are `machine.*` objects; under the unix port they come
from the simulated board (`sim.board`), which a runner sets up before the firmware starts.
Drivers receive the objects built here and never construct hardware themselves.
"""

import sys
import time

UNIX = sys.platform in ("linux", "darwin")

RESET_CAUSES = ("power_on", "hard", "watchdog", "deep_sleep", "soft", "brownout", "unknown")


class HalError(ValueError):
    """The board config names hardware this board does not have or describes it wrongly."""


class Hal:
    def __init__(self, board_cfg):
        self.cfg = board_cfg
        self.name = board_cfg.get("board", "?")
        self._i2c = {}
        self._uart = {}
        self._pins = {}
        self._wdt = None
        self.wdt_ms = 0
        if UNIX:
            from sim import board as simboard  # noqa: the simulated board exists only on unix

            self._sim = simboard.current(board_cfg)
            self.fs_root = self._sim.fs_root
        else:
            self._sim = None
            self.fs_root = board_cfg.get("fs_root", "/data")

    # --- buses ---
    def i2c(self, name):
        bus = self._i2c.get(name)
        if bus is not None:
            return bus
        spec = self.cfg.get("i2c", {}).get(name)
        if spec is None:
            raise HalError("board %s has no I2C bus %r" % (self.name, name))
        if self._sim:
            bus = self._sim.i2c(name, spec)
        else:
            import machine

            if spec.get("soft"):
                bus = machine.SoftI2C(
                    scl=machine.Pin(spec["scl"]), sda=machine.Pin(spec["sda"]), freq=spec.get("freq", 100000)
                )
            else:
                bus = machine.I2C(
                    spec.get("id", 0),
                    scl=machine.Pin(spec["scl"]),
                    sda=machine.Pin(spec["sda"]),
                    freq=spec.get("freq", 100000),
                )
        self._i2c[name] = bus
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
        if self._sim:
            u = self._sim.uart(name, spec, baud, timeout)
        else:
            import machine

            kw = {"baudrate": baud, "timeout": timeout, "rxbuf": spec.get("rxbuf", 512)}
            if "tx" in spec:
                kw["tx"] = machine.Pin(spec["tx"])
                kw["rx"] = machine.Pin(spec["rx"])
            u = machine.UART(spec["id"], **kw)
        self._uart[name] = u
        return u

    def pin(self, name, out=True, value=None):
        p = self._pins.get(name)
        if p is not None:
            return p
        num = self.cfg.get("pins", {}).get(name)
        if num is None:
            raise HalError("board %s has no pin %r" % (self.name, name))
        if self._sim:
            p = self._sim.pin(name, num, out, value)
        else:
            import machine

            mode = machine.Pin.OUT if out else machine.Pin.IN
            p = machine.Pin(num, mode) if value is None else machine.Pin(num, mode, value=value)
        self._pins[name] = p
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
            if self._sim:
                self._wdt = self._sim.watchdog(self.wdt_ms)
            else:
                import machine

                self._wdt = machine.WDT(timeout=self.wdt_ms)
        return self._wdt

    def feed(self):
        if self._wdt is not None:
            self._wdt.feed()

    def reset_cause(self):
        if self._sim:
            return self._sim.reset_cause()
        import machine

        c = machine.reset_cause()
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
        if self._sim:
            self._sim.reset()
            return
        import machine

        machine.reset()

    def schedule_reset(self, ms, before=None):
        """Reset the board in `ms` (safe mode's hold time) without blocking: the REPL stays usable.

        `before()` runs first (it records why the board resets)."""
        if self._sim:
            self._sim.schedule_reset(ms, before)
            return
        import machine

        def fire(_t):
            if before is not None:
                before()
            machine.reset()

        self._reset_timer = machine.Timer(-1 if self.cfg.get("family") == "rp2" else 0)
        self._reset_timer.init(mode=machine.Timer.ONE_SHOT, period=max(1, int(ms)), callback=fire)

    def sleep_ms(self, ms):
        """Sleep between cycles: light sleep on a board (RAM kept), virtual time in simulation."""
        if ms <= 0:
            return
        wdt_ms = self.wdt_ms if self._wdt is not None else 0
        while ms > 0:
            step = ms if not wdt_ms or ms < wdt_ms // 2 else wdt_ms // 2
            self._sleep(step)
            ms -= step
            if ms > 0:
                self._wdt.feed()  # a slice of a long sleep, not a cycle: the cycle still must finish

    def _sleep(self, ms):
        if self._sim:
            self._sim.sleep_ms(ms)
            return
        import machine

        try:
            machine.lightsleep(ms)
        except (AttributeError, OSError):
            time.sleep_ms(ms)

    def unique_id(self):
        if self._sim:
            return self._sim.unique_id()
        import binascii
        import machine

        return binascii.hexlify(machine.unique_id()).decode()

    def rtc_memory(self, data=None):
        """Bytes kept across resets (not power loss): RTC memory on a board, a file in simulation."""
        if self._sim:
            return self._sim.rtc_memory(data)
        import machine

        rtc = machine.RTC()
        if not hasattr(rtc, "memory"):
            return b""
        if data is None:
            return rtc.memory()
        rtc.memory(data)
        return data

    def battery_v(self):
        """Battery voltage from the board's ADC divider, or None if the board has none."""
        spec = self.cfg.get("battery")
        if not spec:
            return None
        if self._sim:
            return self._sim.battery_v()
        import machine

        adc = machine.ADC(machine.Pin(spec["pin"]))
        return adc.read_u16() * spec.get("scale", 3.3 * 2 / 65535)

    def net_clock(self):
        """Simulation only: the clock that charges real socket waits to virtual time, else None."""
        if self._sim:
            from sim import netclock  # noqa: the simulated network clock exists only on unix

            return netclock
        return None

    def time_synced(self):
        """True when the wall clock is known (NTP, network time or an RTC set by a technician)."""
        if self._sim:
            return self._sim.time_synced
        return time.time() > 1700000000
