# The board-config schema (firmware/boardcfg.py) as the station's HAL applies it.
import json
import os

import boardcfg
import sensors
from hal import Hal, HalError
from mptest import eq


def _boards():
    for name in sorted(os.listdir("board_configs")):
        if name.endswith(".json"):
            with open("board_configs/" + name) as f:
                yield name, json.load(f)


def test_every_shipped_board_config_passes():
    n = 0
    for name, cfg in _boards():
        eq(boardcfg.problems(cfg, sensors.TYPES), [], name)
        n += 1
    if n < 5:
        raise AssertionError("only %d board configs" % n)


def test_broken_board_configs_name_each_problem():
    eq(boardcfg.problems([1, 2]), ["board config: expected a JSON object, got a list"])
    cfg = {
        "board": "x",
        "family": "avr",
        "i2c": {"main": {"id": 0}},
        "uart": {"pm": {"id": 1}},
        "sensors": [
            {"type": "bme280", "bus": "nope"},
            {"type": "nosuch", "bus": "main"},
            {"type": "sds011", "uart": "gps"},
            {"type": "sht4x"},
        ],
        "modem": {"type": "sx1276", "uart": "pm"},
    }
    got = boardcfg.problems(cfg, sensors.TYPES)
    for needle in (
        'family: "avr" is not one of',
        'sensors[0]: bus "nope" is not one of the board\'s I2C buses (main)',
        'sensors[1]: type "nosuch" is not a known sensor',
        'sensors[2]: uart "gps" is not one of the board\'s UARTs (pm)',
        "sensors[3]: names neither an I2C bus (bus) nor a UART (uart)",
        'modem: type "sx1276" is not one of rak3172, lora_e5',
    ):
        if not [p for p in got if p.startswith(needle)]:
            raise AssertionError("%s not in %s" % (needle, got))
    no_sensors = {"board": "x", "family": "esp32", "sensors": []}
    eq(
        boardcfg.problems(no_sensors),
        ["sensors: the board config lists no sensors (a station measures something)"],
    )


def test_hal_refuses_a_board_config_that_breaks_the_schema():
    shapes = (
        [1],
        {"board": "x", "family": "esp32", "sensors": {"bme280": 1}},
        {"board": "x", "i2c": [0], "sensors": []},
        {"board": "x", "family": "esp32", "sensors": ["bme280"]},
    )
    for bad in shapes:
        try:
            Hal(bad)
        except HalError as exc:
            if not str(exc).startswith("board config: "):
                raise AssertionError(str(exc)) from None
        else:
            raise AssertionError("Hal accepted %r" % (bad,))
