# The LoRaWAN uplink on the simulated board: join backoff within the join duty-cycle limits,
# keys from the secrets file (and never in a log line), the fair-use budget before every frame.
from sim import vtime

vtime.install()


import config  # noqa: E402
import uplink_lorawan  # noqa: E402
from hal import Hal  # noqa: E402
from lorawan_rig import BOARD, KEYS, fresh  # noqa: E402
from mptest import eq  # noqa: E402

from sim import netserver  # noqa: E402
from sim.board import SimBoard  # noqa: E402
from sim.env import Environment  # noqa: E402

FS = "/tmp/mp_lorawan_fs"
LINES = []


def setup():
    fresh(FS, LINES)


def _uplink(secrets=KEYS, **lw):
    board = SimBoard(BOARD, Environment("synthetic"), fs_root=FS).activate()
    hal = Hal(BOARD)
    cfg = config.defaults()
    cfg["lorawan"]["dr"] = lw.get("dr", 0)
    cfg["lorawan"]["confirmed"] = True
    cfg["lorawan"]["fair_use_s"] = lw.get("fair_use_s", 30)
    up = uplink_lorawan.LorawanUplink(cfg, secrets, hal, BOARD)
    model = board.models["modem"]
    joins = []
    orig = model._transmit

    def counting(kind, phy, at_us=None):
        if kind == "join":
            at = vtime.now_us() if at_us is None else at_us  # a modem retry happens later
            joins.append((at // 1000, model.toa_ms(phy)))
        return orig(kind, phy, at_us)

    model._transmit = counting
    return up, model, joins


def test_join_backoff_grows_and_join_airtime_stays_within_the_limits():
    # SF12: 1.5 s a join request, two per AT+JOIN on RUI3 (its retry count), all booked: the six
    # hours of failed joins below spend 30 s of fair-use airtime, so the day's budget is 60 s
    up, model, joins = _uplink(dr=0, fair_use_s=60)
    netserver.down = True  # no gateway: every join fails
    for _ in range(6 * 360):  # six hours, one try every 10 s
        up.connect()
        vtime.advance_us(10000000)
    gaps = [(joins[i + 1][0] - joins[i][0]) // 1000 for i in range(len(joins) - 1)]
    if len(joins) < 5:
        raise AssertionError("too few join attempts: %r" % joins)
    # each gap: at least the sub-band's closure after the previous join (99 x its airtime), and
    # the exponential backoff takes over once it is the longer wait
    for i in range(len(gaps)):
        if gaps[i] * 1000 < 99 * joins[i][1]:
            raise AssertionError("join sent into a closed sub-band: %r" % gaps)
    # RUI3 sends each AT+JOIN's requests in pairs (the retry count of AT+JOIN=1:0:8:1): the
    # firmware's backoff is the gap between pairs
    backoff = gaps[1::2]
    if not backoff[-1] > 4 * backoff[0]:
        raise AssertionError("backoff does not grow: %r" % gaps)
    first_hour = sum(t for at, t in joins if at < 3600000)
    if first_hour > 36000:
        raise AssertionError("join airtime in the first hour %d ms" % first_hour)
    if max(gaps) > 3600 * 1.25 + 1:
        raise AssertionError("backoff beyond its bound: %r" % gaps)
    # the gateway is back: the next attempt joins
    netserver.down = False
    for _ in range(900):  # the backoff may be up to 1 h + 25 % jitter (unseeded) away
        if up.connect():
            break
        vtime.advance_us(10000000)
    eq(model.joined, True, "joined after the outage")


def test_missing_keys_are_reported_by_name_and_nothing_is_sent():
    up, model, joins = _uplink(secrets={"lorawan_deveui": KEYS["lorawan_deveui"]})
    eq(up.connect(), False, "no keys")
    eq(joins, [], "no join request without keys")
    line = [x for x in LINES if "LORAWAN.NO_KEYS" in x][0]
    if "appkey" not in line or "joineui" not in line:
        raise AssertionError(line)


def test_keys_never_appear_in_diagnostics():
    up, model, joins = _uplink(dr=5)
    eq(up.connect(), True, "joined")
    vtime.advance_us(20000000)
    eq(up.send(b"\x01\x02", 1), True, "sent")
    for x in LINES:
        for k in KEYS.values():
            if k in x and k != "0000000000000000":
                raise AssertionError("a key in a log line: " + x)


def test_budget_is_checked_before_sending():
    up, model, joins = _uplink(dr=0, fair_use_s=5)  # an SF12 join (1.5 s) and two frames
    eq(up.connect(), True, "joined")
    sent = 0
    for _ in range(10):
        vtime.advance_us(300000000)
        if up.send(bytes(5), 1):
            sent += 1
    if up.fair.used_ms > 5000:
        raise AssertionError("budget exceeded: %d ms" % up.fair.used_ms)
    if sent == 0 or sent >= 10:
        raise AssertionError("the budget did not bind: %d sent" % sent)
    if not [x for x in LINES if "LORAWAN.BUDGET" in x]:
        raise AssertionError("no LORAWAN.BUDGET line")
