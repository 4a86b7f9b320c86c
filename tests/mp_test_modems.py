# LoRaWAN modem drivers: every documented reply of both AT dialects, and whole transactions
# against the byte-level modem simulators over the simulated UART (virtual time).
from sim import vtime

vtime.install()

import lorawan_modem as lm  # noqa: E402
from lora_e5 import LoraE5  # noqa: E402
from mptest import eq, raises  # noqa: E402
from rak3172 import Rak3172  # noqa: E402

from sim import netserver  # noqa: E402
from sim.lora_e5 import LoraE5Model  # noqa: E402
from sim.rak3172 import Rak3172Model  # noqa: E402
from sim.uart import SimUART  # noqa: E402

DEVEUI = "70B3D57ED0000001"
JOINEUI = "0000000000000000"
APPKEY = "2B7E151628AED2A6ABF7158809CF4F3C"

RAK_REPLIES = (
    ("OK", lm.EV_OK, None),
    ("AT_ERROR", lm.EV_ERROR, None),
    ("AT_PARAM_ERROR", lm.EV_PARAM, None),
    ("AT_BUSY_ERROR", lm.EV_BUSY, None),
    ("AT_TEST_PARAM_OVERFLOW", lm.EV_LENGTH, None),
    ("AT_NO_CLASSB_ENABLE", lm.EV_ERROR, None),
    ("AT_NO_NETWORK_JOINED", lm.EV_NOT_JOINED, None),
    ("AT_RX_ERROR", lm.EV_ERROR, None),
    ("AT_COMMAND_NOT_FOUND", lm.EV_ERROR, None),
    ("Restricted_Wait_2345_ms", lm.EV_NO_CHANNEL, 2345),
    ("+EVT:JOINED", lm.EV_JOINED, None),
    ("+EVT:JOIN_FAILED_RX_TIMEOUT", lm.EV_JOIN_FAILED, None),
    ("+EVT:JOIN_FAILED_TX_TIMEOUT", lm.EV_JOIN_FAILED, None),
    ("+EVT:JOIN FAILED RX TIMEOUT", lm.EV_JOIN_FAILED, None),
    ("+EVT:TX_DONE", lm.EV_TX_DONE, None),
    ("+EVT:TX DONE", lm.EV_TX_DONE, None),
    ("+EVT:SEND_CONFIRMED_OK", lm.EV_ACK, None),
    ("+EVT:SEND CONFIRMED OK", lm.EV_ACK, None),
    ("+EVT:SEND_CONFIRMED_FAILED(4)", lm.EV_NO_ACK, None),
    ("+EVT:SEND CONFIRMED FAILED(4)", lm.EV_NO_ACK, None),
    ("+EVT:RX_1:-70:8:UNICAST:10:2101", lm.EV_RX, (10, b"\x21\x01")),
    ("+EVT:RX_2:-99:-3:UNICAST:0:", lm.EV_RX_META, None),
    ("+EVT:RX_1, RSSI -70, SNR 8", lm.EV_RX_META, None),
    ("+EVT:UNICAST", lm.EV_RX_META, None),
    ("+EVT:10:2101", lm.EV_RX, (10, b"\x21\x01")),
    ("AT+NJS=1", lm.EV_VALUE, "1"),
    ("AT+DR=5", lm.EV_VALUE, "5"),
    ("Current Work Mode: LoRaWAN.", lm.EV_BOOT, None),
    ("something else", lm.EV_NONE, None),
    ("+EVT:RX_1:-70:8:UNICAST:10:2G", lm.EV_NONE, None),  # bad hex: ignored, never a crash
)

E5_REPLIES = (
    ("+AT: OK", lm.EV_OK, "OK"),
    ("+ADR: ON", lm.EV_OK, "ON"),
    ("+DR: DR5", lm.EV_OK, "DR5"),
    ("+PORT: 10", lm.EV_OK, "10"),
    ("+AT: ERROR(-10)", lm.EV_ERROR, None),
    ("+PORT: ERROR(-11)", lm.EV_PARAM, None),
    ("+MSGHEX: Start", lm.EV_NONE, None),
    ("+MSGHEX: Done", lm.EV_DONE, None),
    ("+CMSGHEX: Wait ACK", lm.EV_ACK_WAIT, None),
    ("+CMSGHEX: ACK Received", lm.EV_ACK, None),
    ("+CMSGHEX: RXWIN1, RSSI -106, SNR 4.0", lm.EV_RX_META, None),
    ('+CMSGHEX: PORT: 10; RX: "2101"', lm.EV_RX, (10, b"\x21\x01")),
    ('+MSGHEX: PORT: 10; RX: "21 01"', lm.EV_RX, (10, b"\x21\x01")),
    ("+MSGHEX: FPENDING", lm.EV_NONE, None),
    ("+MSGHEX: Please join network first", lm.EV_NOT_JOINED, None),
    ("+MSGHEX: No free channel", lm.EV_NO_CHANNEL, -1),
    ("+CMSGHEX: No band in 13469ms", lm.EV_NO_CHANNEL, 13469),
    ("+MSGHEX: LoRaWAN modem is busy", lm.EV_BUSY, None),
    ("+MSGHEX: Length error 60", lm.EV_LENGTH, None),
    ("+MSGHEX: DR error", lm.EV_PARAM, None),
    ("+MSGHEX: ERROR(-1)", lm.EV_PARAM, None),  # "parameter invalid" (E5 AT specification)
    ("+AT: ERROR(-10)", lm.EV_ERROR, None),
    ("+JOIN: Start", lm.EV_NONE, None),
    ("+JOIN: NORMAL", lm.EV_NONE, None),
    ("+JOIN: Network joined", lm.EV_JOINED, None),
    ("+JOIN: NetID 000013 DevAddr 26:0B:5E:71", lm.EV_NONE, None),
    ("+JOIN: Joined already", lm.EV_JOINED, "already"),
    ("+JOIN: Join failed", lm.EV_JOIN_FAILED, None),
    ("+JOIN: LoRaWAN modem is busy", lm.EV_BUSY, None),
    ("+JOIN: Done", lm.EV_DONE, None),
    ("garbage without plus", lm.EV_NONE, None),
)


def _check(parse, table):
    for line, ev, arg in table:
        got = parse(line)
        eq(got, (ev, arg), "reply %r" % line)


def test_every_documented_rak3172_reply():
    _check(Rak3172.parse, RAK_REPLIES)


def test_every_documented_lora_e5_reply():
    _check(LoraE5.parse, E5_REPLIES)


def _rig(kind, **model_args):
    vtime.reset(epoch_s=1700000000)
    netserver.reset()
    netserver.quiet = True
    if kind == "rak":
        u = SimUART(2, 115200, 100)
        model = u.attach(Rak3172Model(None, **model_args))
        drv = Rak3172(u)
    else:
        u = SimUART(2, 9600, 100)
        model = u.attach(LoraE5Model(None, **model_args))
        drv = LoraE5(u)
    eq(drv.setup(DEVEUI, JOINEUI, APPKEY, "EU868", 5, False), lm.READY, "setup")
    return drv, model


def _both(fn):
    for kind in ("rak", "e5"):
        fn(kind)


def test_join_send_confirmed_and_unconfirmed():
    def run(kind):
        drv, model = _rig(kind)
        eq(drv.send(1, b"\x01\x02", True), lm.NOT_JOINED, "%s send before join" % kind)
        eq(drv.join(), lm.JOINED, "%s join" % kind)
        eq(drv.joined, True, "joined flag")
        eq(drv.dr, 5, "dr queried")
        vtime.advance_us(60000000)  # let the duty cycle pass
        eq(drv.send(1, b"\x01\x02", True), lm.ACKED, "%s confirmed" % kind)
        vtime.advance_us(60000000)
        eq(drv.send(1, b"\x03", False), lm.SENT, "%s unconfirmed" % kind)
        eq([r[2] for r in netserver.received], [b"\x01\x02", b"\x03"], "%s received" % kind)

    _both(run)


def test_busy_no_channel_no_ack_length_and_join_denied():
    def run(kind):
        drv, model = _rig(kind)
        # RUI3 repeats a failed join request by itself (AT+JOIN=1:0:8:1): deny both
        model.inject("joindeny", 1 + drv.JOIN_RETRIES)
        eq(drv.join(), lm.JOIN_FAILED, "%s join denied" % kind)
        eq(drv.join_requests, 1 + drv.JOIN_RETRIES, "%s join requests counted" % kind)
        vtime.advance_us(60000000)
        eq(drv.join(), lm.JOINED, "%s join" % kind)
        vtime.advance_us(60000000)
        model.inject("busy")
        eq(drv.send(1, b"\x01", True), lm.BUSY, "%s busy" % kind)
        model.inject("nochannel")
        eq(drv.send(1, b"\x01", True), lm.NO_CHANNEL, "%s no channel" % kind)
        model.inject("noack")
        eq(drv.send(1, b"\x01", True), lm.NO_ACK, "%s no ack" % kind)
        vtime.advance_us(60000000)
        r = drv.send(1, bytes(243), False)
        if r not in (lm.LENGTH, lm.PARAM):
            raise AssertionError("%s: too long payload gave %s" % (kind, lm.RESULT_NAMES[r]))
        # a transmission closes the band: the modem refuses the next one and says for how long
        eq(drv.send(1, b"\x01", False), lm.SENT, "%s after length error" % kind)
        eq(drv.send(1, b"\x02", False), lm.NO_CHANNEL, "%s duty cycle" % kind)
        if drv.wait_ms <= 0:
            raise AssertionError("%s: no wait time reported" % kind)
        vtime.advance_us(drv.wait_ms * 1000 + 1000)
        eq(drv.send(1, b"\x02", False), lm.SENT, "%s after the wait" % kind)

    _both(run)


def test_downlink_in_both_rak_spellings_and_e5():
    for kind, args in (("rak", {}), ("rak", {"spelling": "space"}), ("e5", {})):
        drv, model = _rig(kind, **args)
        eq(drv.join(), lm.JOINED, "join")
        vtime.advance_us(60000000)
        netserver.queue_downlink(10, b"\x24\x07")
        r = drv.send(1, b"\x01", True)
        eq(r, lm.ACKED, "%s %r confirmed with downlink" % (kind, args))
        eq(drv.downlink(), (10, b"\x24\x07"), "%s %r downlink" % (kind, args))
        eq(drv.downlink(), None, "downlink taken once")


def test_modem_reboot_is_noticed_and_rejoin_works():
    def run(kind):
        drv, model = _rig(kind)
        eq(drv.join(), lm.JOINED, "join")
        vtime.advance_us(60000000)
        model.inject("reboot")
        r = drv.send(1, b"\x01", True)  # lost in the reboot
        if r in (lm.ACKED, lm.SENT):
            raise AssertionError(
                "%s: a send lost in a reboot reported %s" % (kind, lm.RESULT_NAMES[r])
            )
        r = drv.send(1, b"\x01", True)
        eq(r, lm.NOT_JOINED, "%s after reboot" % kind)
        eq(drv.joined, False, "not joined")
        eq(drv.setup(DEVEUI, JOINEUI, APPKEY, "EU868", 5, False), lm.READY, "setup again")
        eq(drv.join(), lm.JOINED, "rejoin")

    _both(run)


def test_silent_modem_times_out_within_deadline():
    def run(kind):
        drv, model = _rig(kind)
        drv.uart.inject("silent", count=None)
        t0 = vtime.now_us()
        eq(drv.join(5000), lm.TIMEOUT, "%s join to a deaf modem" % kind)
        took = (vtime.now_us() - t0) // 1000
        if took < 5000 or took > 5200:
            raise AssertionError("%s: timeout took %d ms" % (kind, took))
        eq(drv.alive(), False, "not alive")

    _both(run)


def test_bad_port_is_refused_before_anything_is_sent():
    drv, model = _rig("rak")
    before = model.commands
    raises(ValueError, drv.send, 0, b"\x01")
    raises(ValueError, drv.send, 224, b"\x01")
    eq(model.commands, before, "nothing sent")


def test_a_reply_split_across_uart_timeouts_is_one_line():
    vtime.reset()
    u = SimUART(2, 115200, 100)
    drv = Rak3172(u)
    u.send_to_host(b"+EVT:SEND_CONF", 0)
    u.send_to_host(b"IRMED_OK\r\n", 250000)  # the rest arrives after two UART timeouts
    deadline = vtime.ticks_add(vtime.ticks_ms(), 1000)
    eq(drv._readline(deadline), "+EVT:SEND_CONFIRMED_OK", "joined line")


class _Chatter:
    """A modem that never goes quiet: whenever the UART looks, another event line has arrived
    (until `until_us`). The modem model behind it answers commands as before."""

    def __init__(self, model, line, until_us):
        self.model = model
        self.line = line
        self.until_us = until_us
        self.lines = 0
        self.uart = None

    def receive(self, data, now_us):
        return self.model.receive(data, now_us)

    def next_tx_us(self):
        nxt = getattr(self.model, "next_tx_us", None)
        return nxt() if nxt is not None else None

    def poll(self, now_us):
        due = getattr(self.model, "poll_due", None)
        poll = getattr(self.model, "poll", None)
        if poll is not None and (due is None or due(now_us)):
            poll(now_us)
        if now_us < self.until_us and not self.uart._pending and b"\n" not in self.uart._rx:
            # the next line is in whenever the firmware looks: it took its wire time to arrive
            wire_us = len(self.line) * self.uart.byte_time_us()
            vtime.advance_us(wire_us)
            self.uart.send_to_host(self.line, at_us=vtime.now_us() - wire_us)
            self.lines += 1


def test_a_modem_that_never_goes_quiet_cannot_stretch_a_send():
    # issue 10 item 8: drain() read for as long as the UART had data; every modem operation
    # now has one overall deadline, chatter included
    def run(kind):
        drv, model = _rig(kind)
        eq(drv.join(), lm.JOINED, "%s join" % kind)
        vtime.advance_us(60000000)
        line = b"+EVT:UNICAST\r\n" if kind == "rak" else b"+MSGHEX: FPENDING\r\n"
        chatter = drv.uart.attach(_Chatter(model, line, vtime.now_us() + 30000000))
        t0 = vtime.now_us()
        drv.send(1, b"\x01\x02", False, timeout_ms=2000)
        took_ms = (vtime.now_us() - t0) // 1000
        if took_ms > 2200:
            raise AssertionError(
                "%s: send(timeout_ms=2000) took %d ms (%d lines)" % (kind, took_ms, chatter.lines)
            )

    _both(run)
