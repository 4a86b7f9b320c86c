"""MicroPython-side helpers for station tests: a simulated board and a station on it."""

import os

from sim import vtime

vtime.install()

import diag  # noqa: E402
import station  # noqa: E402
from hal import Hal  # noqa: E402

from sim.board import SimBoard, SimStop  # noqa: E402
from sim.env import Environment  # noqa: E402

BME = {"type": "bme280", "name": "bme280", "bus": "main", "address": 0x76}


def board_cfg(sensors=None, family=None):
    cfg = {
        "board": "test-sim",
        "i2c": {"main": {"id": 0, "scl": 1, "sda": 2}},
        "battery": {"pin": 3},
        "sensors": [BME] if sensors is None else sensors,
    }
    if family is not None:
        cfg["family"] = family  # the simulated board follows it (RTC memory, reset causes, errnos)
    return cfg


def clean(path):
    try:
        os.mkdir(path)
    except OSError:
        for name in os.listdir(path):
            os.remove(path + "/" + name)


class Rig:
    """A station on a fresh simulated board; `lines` collects every diagnostic line."""

    def __init__(self, sensors=None, config_text=None, trace="synthetic", fs=None, family=None):
        vtime.reset(epoch_s=1700000000)
        if fs is None:
            from mptest import TMP

            fs = TMP + "/station_fs"
        clean(fs)
        if config_text is not None:
            with open(fs + "/config.json", "w") as f:
                f.write(config_text)
        self.cfg = board_cfg(sensors, family)
        self.env = Environment(trace)
        self.board = SimBoard(self.cfg, self.env, fs_root=fs).activate()
        self.lines = []
        diag.configure(level=diag.ERROR + 1, sink=self.lines.append)
        self.hal = Hal(self.cfg)
        self.st = station.Station(self.hal, self.cfg)

    def boot(self):
        self.st.boot()
        diag.set_level(diag.ERROR + 1)  # collect lines without printing them
        for name in self.cfg.get("i2c", {}):
            self.hal.i2c(name)  # wire the chip models now so tests can reach them
        return self

    def run_cycles(self, n):
        self.board.end_s = vtime.now_s() + n * self.st.cfg["interval_s"] - 1
        try:
            self.st.run()
        except SimStop:
            pass
        return self

    def codes(self):
        return [line.split()[2] for line in self.lines]

    def find(self, code):
        return [line for line in self.lines if line.split()[2] == code]


def run_device(rig, seconds):
    """Run the station like the board would for `seconds` of virtual time: boot, cycles, resets
    (watchdog, safe-mode timer) and reboots, until the time is up. Returns the boot count."""
    from sim.board import SimReset

    rig.board.end_s = vtime.now_s() + seconds
    boots = 0
    while True:
        try:
            rig.hal = Hal(rig.cfg)
            rig.st = station.Station(rig.hal, rig.cfg)
            boots += 1
            rig.st.boot()
            diag.set_level(diag.ERROR + 1)
            rig.st.run()
            rig.board.idle()
        except SimStop:
            return boots
        except SimReset as r:
            diag.warn("SIM.RESET", None, cause=r.cause)
            rig.board.on_reset(r.cause)
