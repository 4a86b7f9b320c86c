"""The LoRaWAN test rig shared by the uplink, time and receipt tests: a board with a RAK3172 on
a UART, the simulated network server's keys, and a fresh start (clock, server, flash folder,
diagnostics) before each test."""

import os

import diag

from sim import netserver, vtime

BOARD = {
    "board": "test-lorawan",
    "uart": {"modem": {"id": 2, "tx": 4, "rx": 5, "baud": 115200}},
    "modem": {"type": "rak3172", "name": "modem", "uart": "modem"},
}
KEYS = {
    "lorawan_deveui": "70B3D57ED0000001",
    "lorawan_joineui": "0000000000000000",
    "lorawan_appkey": "2B7E151628AED2A6ABF7158809CF4F3C",
}


def fresh(fs, lines, level=diag.ERROR + 1):
    """Virtual clock at a fixed epoch, a quiet empty network server, an empty flash folder `fs`,
    diagnostics at `level` into `lines`."""
    vtime.reset(epoch_s=1700000000)
    netserver.reset()
    netserver.quiet = True
    try:
        os.mkdir(fs)
    except OSError:
        for n in os.listdir(fs):
            os.remove(fs + "/" + n)
    del lines[:]
    diag.configure(level=level, sink=lines.append)
