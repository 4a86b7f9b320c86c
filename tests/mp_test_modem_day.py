# A simulated day through the LoRaWAN uplink on every simulated modem firmware (issue 18, "Done
# when"): joins, a frame every 30 minutes, downlinks with FPending (the RUI3 modem's own empty
# uplink), a network ADR drop below the frame size (RUI3's flush and AT_PARAM_ERROR), a modem
# restart with a denied join request (the modem's own retry). Nothing is lost, and the airtime
# the station booked equals the airtime the simulated radio transmitted.
from sim import vtime

vtime.install()

import os  # noqa: E402

import config  # noqa: E402
import diag  # noqa: E402
import uplink_lorawan  # noqa: E402
from hal import Hal  # noqa: E402
from mptest import eq  # noqa: E402

from sim import netserver  # noqa: E402
from sim.board import SimBoard  # noqa: E402
from sim.env import Environment  # noqa: E402
from sim.rak3172 import FIRMWARES  # noqa: E402

FS = "/tmp/mp_modem_day_fs"
KEYS = {
    "lorawan_deveui": "70B3D57ED0000001",
    "lorawan_joineui": "0000000000000000",
    "lorawan_appkey": "2B7E151628AED2A6ABF7158809CF4F3C",
}
CYCLES = 48  # a day, one frame every 30 minutes
CYCLE_US = 1800000000
LONG = 18  # the cycle with a frame too long for the data rate the network just set


def _board(kind, sim):
    baud = 115200 if kind == "rak3172" else 9600
    return {
        "board": "test-modem-day",
        "uart": {"modem": {"id": 2, "tx": 4, "rx": 5, "baud": baud}},
        "modem": {"type": kind, "name": "modem", "uart": "modem", "sim": sim},
    }


def _day(kind, sim, confirmed):
    vtime.reset(epoch_s=1700000000)
    netserver.reset()
    netserver.quiet = True
    try:
        os.mkdir(FS)
    except OSError:
        for n in os.listdir(FS):
            os.remove(FS + "/" + n)
    lines = []
    diag.configure(level=diag.ERROR + 1, sink=lines.append)
    board_cfg = _board(kind, sim)
    board = SimBoard(board_cfg, Environment("synthetic"), fs_root=FS).activate()
    cfg = config.defaults()
    lw = cfg["lorawan"]
    lw["dr"] = 5
    lw["confirmed"] = confirmed
    lw["fair_use_s"] = 600
    up = uplink_lorawan.LorawanUplink(cfg, KEYS, Hal(board_cfg), board_cfg)
    model = board.models["modem"]
    got = []
    real_uplink = netserver.uplink

    def spy(deveui, fcnt, port, payload, dr, conf):
        r = real_uplink(deveui, fcnt, port, payload, dr, conf)
        if not netserver.down:
            got.append((port, bytes(payload)))
        return r

    netserver.uplink = spy
    try:
        waiting = []  # frames not yet delivered, oldest first (the journal's job)
        commands = 0
        for cycle in range(CYCLES):
            if cycle == 7:
                netserver.queue_downlink(10, b"\x21\x01")
                netserver.queue_downlink(10, b"\x21\x02")  # FPending on the first
            if cycle == LONG - 1:
                netserver.set_adr(2)  # 51 bytes at most from the next uplink's RX window on
            if cycle == 30:
                model.inject("reboot")
                model.inject("joindeny")
            size = 100 if cycle == LONG else 12
            waiting.append(bytes([cycle & 255]) * size)
            if up.connect():
                while waiting:
                    frame = waiting[0]
                    if len(frame) > up.max_payload():
                        # the station splits batches to the data rate: here, the frame in halves
                        half = len(frame) // 2
                        waiting[0:1] = [frame[:half], frame[half:]]
                        continue
                    if not up.send(frame, 1):
                        break
                    waiting.pop(0)
                while True:
                    cmd = up.poll()
                    if cmd is None:
                        break
                    commands += 1
                    up.send_ack(b"\x01" + cmd[1:2])
            vtime.advance_us(CYCLE_US)
        # the rest of the day
        for _ in range(6):
            if up.connect():
                while waiting and up.send(waiting[0], 1):
                    waiting.pop(0)
            vtime.advance_us(600000000)
    finally:
        netserver.uplink = real_uplink
    name = "%s %r confirmed=%s" % (kind, sim, confirmed)
    eq(waiting, [], name + ": frames left undelivered")
    data = b"".join(p for port, p in got if port == 1)
    want = b"".join(bytes([c & 255]) * (100 if c == LONG else 12) for c in range(CYCLES))
    eq(data, want, name + ": data as produced, in order, once")
    eq(commands, 2, name + ": both downlink commands")
    eq(up.airtime_ms, model.airtime_ms, name + ": booked airtime vs transmitted (ms)")
    return up, model


def test_a_day_on_every_rui3_generation_books_what_the_radio_sent():
    for fw in sorted(FIRMWARES):
        up, model = _day("rak3172", {"firmware": fw}, False)
        if model.empty_uplinks < 2 or model.join_requests < 3:
            raise AssertionError(
                "%s: the day did not exercise the modem's own transmissions: empty=%d joins=%d"
                % (fw, model.empty_uplinks, model.join_requests)
            )


def test_a_day_with_confirmed_uplinks_on_rui3_without_tx_done():
    _day("rak3172", {"firmware": "4.0.1"}, True)


def test_a_day_on_the_lora_e5_fresh_and_with_a_kept_session():
    _day("lora_e5", {}, False)
    _day("lora_e5", {"session": True}, True)
