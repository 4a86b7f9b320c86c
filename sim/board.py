"""The simulated board: the backend `firmware/hal.py` uses under the unix port.

A runner (sim/vstation.py, tests, the sim-device) creates `SimBoard(board_cfg, env, ...)` and
calls `activate()`, which installs it as the Hal's backend; every Hal made from then on takes
buses, UARTs, pins, watchdog, RTC memory and sleep from it. It implements the contract of
`hal.Board` member for member (by duck typing: this module is loaded before the firmware). Chip models are attached to the buses according to the board config's `sensors`
and `modem` entries (model classes looked up in MODELS, imported only when fitted).

Resets are exceptions that unwind the firmware: `SimReset(cause)` (watchdog, soft reset) and
`SimStop` (the simulated duration is over). Both derive from BaseException so that the firmware's
own `except Exception` handlers cannot swallow them, as a real reset cannot be caught.
"""

import os
import sys

from sim import vtime

_HAL_SLOT = "hal_board"  # the sys.modules name firmware/hal.py takes its backend from

# sensor/modem type -> (module, class). Models take (env, **model_args) and have `address` (I2C)
# or are UART peers (have `receive(data, now_us)`).
MODELS = {
    "bme280": ("sim.bme280", "BME280Model"),
    "sht4x": ("sim.sht4x", "SHT4xModel"),
    "scd4x": ("sim.scd4x", "SCD4xModel"),
    "sgp40": ("sim.sgp40", "SGP40Model"),
    "pms5003": ("sim.pms5003", "PMS5003Model"),
    "sds011": ("sim.sds011", "SDS011Model"),
    "rak3172": ("sim.rak3172", "Rak3172Model"),
    "lora_e5": ("sim.lora_e5", "LoraE5Model"),
}


class SimReset(BaseException):
    """The simulated device resets (watchdog, machine.reset()); the runner restarts the firmware."""

    def __init__(self, cause):
        super().__init__(cause)
        self.cause = cause


class SimStop(BaseException):
    """The simulated run is over."""


class SimPin:
    def __init__(self, num, out=True, value=None):
        self.num = num
        self.out = out
        self._v = value or 0
        self.history = []

    def value(self, v=None):
        if v is None:
            return self._v
        self._v = 1 if v else 0
        self.history.append((vtime.now_us(), self._v))

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def __call__(self, v=None):
        return self.value(v)


class SimWDT:
    """A watchdog that resets the simulated device at the moment its timeout runs out."""

    def __init__(self, board, timeout_ms):
        self.board = board
        self.timeout_us = timeout_ms * 1000
        self.fed = 0
        self._timer = None
        self.feed()

    def feed(self):
        # a board's watchdog feed is a register write; the timer list here is the simulation's
        from sim import heap

        heap.call(self._feed)

    def _feed(self):
        self.cancel()
        self._timer = vtime.add_timer(vtime.now_us() + self.timeout_us, self._fire)
        self.fed += 1

    def cancel(self):
        if self._timer is not None:
            vtime.remove_timer(self._timer)
            self._timer = None

    def _fire(self, now_us):
        self._timer = None
        raise SimReset("watchdog")


_current = None


def current(board_cfg=None):
    """The active simulated board (created with defaults if a runner did not make one)."""
    global _current
    if _current is None:
        from sim.env import Environment

        SimBoard(board_cfg or {}, Environment("synthetic")).activate()
    return _current


class SimBoard:
    def __init__(
        self, board_cfg, env, fs_root=".run/station", end_s=None, uid="5eed0001", time_synced=True
    ):
        self.cfg = board_cfg
        self.env = env
        self.fs_root = fs_root
        self.end_s = end_s
        self.uid = uid
        self.clock_synced = time_synced
        self.buses = {}
        self.uarts = {}
        self.models = {}  # sensor name -> model
        self.pins = {}
        self.wdt = None
        self._reset_timers = []
        self.next_reset_cause = "power_on"
        self.resets = {}
        self.sleeps = 0
        self._rtc_store = None
        _makedirs(fs_root)
        self._load_models()

    def _load_models(self):
        # The chips exist before the firmware runs: load their model modules now, while the heap
        # is in one piece, not when the firmware first touches a bus (compiling a module then
        # needs contiguous blocks a fragmented heap may not have).
        entries = list(self._sensor_entries())
        if self.cfg.get("modem"):
            entries.append(self.cfg["modem"])
        for s in entries:
            if s.get("type") in MODELS:
                __import__(MODELS[s["type"]][0])

    def activate(self):
        """Make this the board every Hal uses from now on (the backend is chosen here, once)."""
        global _current
        _current = self
        sys.modules[_HAL_SLOT] = self
        return self

    # --- models ---
    def _model(self, kind, args):
        if kind not in MODELS:
            raise ValueError("no simulated model for %r" % kind)
        modname, clsname = MODELS[kind]
        mod = __import__(modname, None, None, (clsname,))
        return getattr(mod, clsname)(self.env, **args)

    def _sensor_entries(self):
        return self.cfg.get("sensors", [])

    def i2c(self, name, spec):
        bus = self.buses.get(name)
        if bus is None:
            from sim.i2c import SimI2C, profile_for

            # the bus raises the errors of the board family's port (ESP32 NACK = ENODEV, ...)
            profile = spec.get("sim_port_profile") or profile_for(self.cfg.get("family"))
            bus = SimI2C(spec.get("id", 0), spec.get("freq", 100000), profile)
            for s in self._sensor_entries():
                if s.get("bus") == name and not s.get("sim_absent"):
                    args = dict(s.get("sim", {}))
                    if "address" in s:
                        args["address"] = s["address"]
                    m = bus.attach(self._model(s["type"], args))
                    self.models[s.get("name", s["type"])] = m
            self.buses[name] = bus
        return bus

    def uart(self, name, spec, baud, timeout):
        u = self.uarts.get(name)
        if u is None:
            from sim.uart import SimUART

            u = SimUART(spec.get("id", 1), baud, timeout)
            peers = [s for s in self._sensor_entries() if s.get("uart") == name]
            modem = self.cfg.get("modem")
            if modem and modem.get("uart") == name:
                peers.append(modem)
            for s in peers:
                if s.get("sim_absent"):
                    continue
                m = u.attach(self._model(s["type"], dict(s.get("sim", {}))))
                self.models[s.get("name", s["type"])] = m
            self.uarts[name] = u
        else:
            u.init(baudrate=baud, timeout=timeout)
        return u

    def pin(self, name, num, out, value):
        p = self.pins.get(name)
        if p is None:
            p = self.pins[name] = SimPin(num, out, value)
        return p

    # --- system ---
    def watchdog(self, timeout_ms):
        if self.wdt is not None:
            self.wdt.cancel()
        self.wdt = SimWDT(self, timeout_ms)
        return self.wdt

    def reset_cause(self):
        cause = self.next_reset_cause
        if self.cfg.get("family") == "rp2" and cause in ("brownout", "hard", "power_cut"):
            return "power_on"  # the rp2 port reports only power-on and watchdog resets
        return cause

    def reset(self):
        raise SimReset("soft")

    def on_reset(self, cause):
        """Called by the runner when the firmware was unwound by a reset."""
        self.resets[cause] = self.resets.get(cause, 0) + 1
        self.next_reset_cause = cause
        if self.wdt is not None:
            self.wdt.cancel()
            self.wdt = None
        for t in self._reset_timers:
            vtime.remove_timer(t)
        self._reset_timers = []
        # The MCU resets; the wiring and the chips on it do not: buses keep their devices and
        # injected faults (a broken sensor stays broken). A power cut also power-cycles the chips.
        self.pins = {}
        self._rtc_store = None  # RAM is lost: the HAL's store is built again at the next boot
        if cause == "power_cut":
            # RTC memory and the watchdog's scratch registers are RAM: lost with the power
            for name in (_RTC_FILE, _SCRATCH_FILE):
                try:
                    os.remove(self.fs_root + "/" + name)
                except OSError:
                    pass
            now = vtime.now_us()
            for m in self.models.values():
                cycle = getattr(m, "power_cycle", None)
                if cycle is not None:
                    cycle(now)

    def schedule_reset(self, ms, before=None):
        """A one-shot timer that resets the simulated device (safe mode's hold time)."""

        def fire(now_us):
            if before is not None:
                before()
            raise SimReset("soft")

        self._reset_timers.append(vtime.add_timer(vtime.now_us() + int(ms) * 1000, fire))

    def idle(self):
        """The firmware returned to the REPL: time passes until a timer resets the device or the
        simulated run ends (SimReset / SimStop propagate to the runner)."""
        while True:
            self.sleep_ms(60000)

    def sleep_ms(self, ms):
        self.sleeps += 1
        if self.end_s is not None:
            remaining_us = int(self.end_s * 1000000) - vtime.now_us()
            if remaining_us <= ms * 1000:
                vtime.advance_us(max(0, remaining_us))
                raise SimStop()
        vtime.advance_us(ms * 1000)

    def unique_id(self):
        return self.uid

    def rtc_memory(self, data=None):
        # the HAL's own choice for this board family, on the family's simulated primitives: an
        # RTC with memory() (ESP32, unix), or none and the watchdog scratch registers (rp2)
        if self._rtc_store is None:
            import hal

            family = self.cfg.get("family")
            rtc = SimRTC(self.fs_root) if family != "rp2" else SimRTCNoMemory()
            self._rtc_store = hal.rtc_memory_for(family, rtc, SimMem32(self.fs_root), self.fs_root)
        if data is None:
            return self._rtc_store.read()
        return self._rtc_store.write(data)

    def battery_v(self, spec):
        from sim import heap

        return heap.call(self._battery)

    def _battery(self):
        return self.env.at(vtime.now_s()).battery_v

    def wlan(self, spec):
        from sim.wlan import SimWlan

        return SimWlan(spec)

    def net_clock(self):
        from sim import netclock

        return netclock

    def time_synced(self):
        return self.clock_synced

    def set_wall_time(self, unix_s):
        vtime.set_time(unix_s)
        self.clock_synced = True


# The simulated board's RAM that outlives a reset, kept in files so that a simulated device
# restarted as a new process keeps it too; sim/powerfs.py treats them as RAM, not flash.
_RTC_FILE = ".rtc_memory"
_SCRATCH_FILE = ".rp2_scratch"
_SCRATCH0 = 0x4005800C  # RP2040 watchdog SCRATCH0..7 (datasheet 4.7)


class SimRTC:
    """machine.RTC of a port with RTC memory (ESP32): memory() reads or writes its bytes."""

    def __init__(self, fs_root):
        self._path = fs_root + "/" + _RTC_FILE

    def memory(self, data=None):
        if data is None:
            try:
                with open(self._path, "rb") as f:
                    return f.read()
            except OSError:
                return b""
        with open(self._path, "wb") as f:
            f.write(data)


class SimRTCNoMemory:
    """machine.RTC of the rp2 port: a calendar clock, no memory()."""


class SimMem32:
    """machine.mem32 as far as the simulated board has registers: the RP2040 watchdog's eight
    scratch registers (read 0 after power-on). Any other address is an error here."""

    def __init__(self, fs_root):
        self._path = fs_root + "/" + _SCRATCH_FILE
        self._regs = None  # loaded once per boot (a store is built per boot)

    def _index(self, addr):
        i = (addr - _SCRATCH0) // 4
        if addr & 3 or not 0 <= i < 8:
            raise ValueError("simulated mem32: no register at 0x%08x" % addr)
        return i

    def _load(self):
        if self._regs is None:
            try:
                with open(self._path, "rb") as f:
                    raw = f.read()
            except OSError:
                raw = b""
            self._regs = bytearray(raw[:32] + bytes(max(0, 32 - len(raw))))
        return self._regs

    def __getitem__(self, addr):
        i = self._index(addr)
        return int.from_bytes(self._load()[4 * i : 4 * i + 4], "little")

    def __setitem__(self, addr, value):
        i = self._index(addr)
        regs = self._load()
        regs[4 * i : 4 * i + 4] = (value & 0xFFFFFFFF).to_bytes(4, "little")
        with open(self._path, "wb") as f:
            f.write(regs)


def _makedirs(path):
    parts = path.split("/")
    cur = ""
    for i, p in enumerate(parts):
        if not p:
            if i == 0:
                cur = "/"
            continue
        cur = cur + p if cur.endswith("/") or not cur else cur + "/" + p
        try:
            os.mkdir(cur)
        except OSError:
            pass
