# The MQTT uplink never blocks longer than mqtt.timeout_s, measured on the simulated clock
# (real socket waits are charged to it by sim/netclock.py). A listening socket that never
# accepts plays a broker that is reachable but dead (half-open).
from sim import vtime

vtime.install()

import socket  # noqa: E402

import config  # noqa: E402
import diag  # noqa: E402
import uplink_mqtt  # noqa: E402
from mptest import eq  # noqa: E402

from sim import netclock  # noqa: E402

LINES = []


def _blackhole():
    for port in range(47123, 47400):
        s = socket.socket()
        try:
            s.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
        except OSError:
            s.close()
            continue
        s.listen(1)
        return s, port
    raise OSError("no free port")


def _uplink(port, timeout_s=1):
    cfg = config.defaults()
    cfg["mqtt"]["port"] = port
    cfg["mqtt"]["timeout_s"] = timeout_s
    return uplink_mqtt.MqttUplink(cfg, {"mqtt_password": "hunter2-secret"}, _SimNet())


class _SimNet:
    """The one Hal service the MQTT uplink uses: the simulation's network clock."""

    def net_clock(self):
        return netclock

    def wlan(self):
        return None  # the host's network: no Wi-Fi to bring up


def setup():
    vtime.reset(epoch_s=1700000000)
    netclock.up()
    del LINES[:]
    diag.configure(level=diag.ERROR + 1, sink=LINES.append)


def test_dead_broker_costs_at_most_the_timeout():
    hole, port = _blackhole()
    try:
        up = _uplink(port, timeout_s=1)
        t0 = vtime.now_us()
        eq(up.connect(), False, "connect to a dead broker")
        took = vtime.now_us() - t0
        if not 950000 <= took <= 1150000:
            raise AssertionError("connect blocked %d us of simulated time (timeout 1 s)" % took)
        # backing off: the next try does not touch the network at all
        t1 = vtime.now_us()
        eq(up.send(b"\x01\x02", 1), False, "send while backing off")
        if vtime.now_us() - t1 > 5000:
            raise AssertionError("a send during backoff blocked")
        # after the backoff the next attempt is bounded again
        vtime.advance_us(up._backoff_ms() * 2000)
        t2 = vtime.now_us()
        eq(up.send(b"\x01\x02", 1), False, "send to the dead broker")
        if vtime.now_us() - t2 > 1150000:
            raise AssertionError("send blocked %d us" % (vtime.now_us() - t2))
        downs = [ln for ln in LINES if "MQTT.DOWN" in ln]
        eq(len(downs), 2, "two failures reported")
        for ln in LINES:
            if "hunter2" in ln:
                raise AssertionError("password in a log line: " + ln)
    finally:
        hole.close()


def test_backoff_grows_with_jitter_and_is_bounded():
    up = _uplink(1)
    seen = []
    for n in range(1, 14):
        up.failures = n
        b = up._backoff_ms()
        base = min(2000 << min(n - 1, 10), 300000)
        if not base * 3 // 4 <= b <= base * 5 // 4:
            raise AssertionError("failure %d: backoff %d outside +-25%% of %d" % (n, b, base))
        seen.append(b)
    if max(seen) > 375000:
        raise AssertionError("backoff unbounded")


def test_network_down_fails_fast():
    hole, port = _blackhole()
    try:
        netclock.down()
        up = _uplink(port, timeout_s=5)
        t0 = vtime.now_us()
        eq(up.connect(), False, "no network")
        if vtime.now_us() - t0 > 10000:
            raise AssertionError("no-network connect blocked")
    finally:
        netclock.up()
        hole.close()
