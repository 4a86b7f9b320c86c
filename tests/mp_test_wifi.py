# The station's Wi-Fi link (firmware/wifi.py) on the HAL's interface: the simulated access point
# (sim/wlan.py) holds the host's sockets until the link is up, names each failure, backs off
# with jitter, and powers the radio down between cycles only when the interval allows it.
from sim import vtime

vtime.install()

import sys  # noqa: E402

import config  # noqa: E402
import diag  # noqa: E402
import wifi  # noqa: E402
from mptest import eq  # noqa: E402

from sim import netclock, wlan  # noqa: E402

LINES = []
SECRETS = {"wifi_ssid": wlan.SIM_SSID, "wifi_password": wlan.SIM_PASSWORD}


class _Hal:
    def feed(self):
        pass


def _link(secrets=None, **wifi_keys):
    cfg = config.defaults()
    cfg["station_id"] = "st-7"
    cfg["wifi"].update(wifi_keys)
    iface = wlan.SimWlan({"chip": "sim"})
    return wifi.WifiLink(cfg, SECRETS if secrets is None else secrets, _Hal(), iface)


def setup():
    vtime.reset(epoch_s=1700000000)
    wlan.faults.clear()
    netclock.up()
    del LINES[:]
    diag.configure(level=diag.DEBUG, sink=LINES.append)


def _codes():
    return [ln.split()[2] for ln in LINES]


def test_sockets_wait_for_the_link():
    link = _link()
    try:
        netclock.begin()
        raise AssertionError("a socket worked before the radio was associated")
    except OSError as exc:
        eq(exc.args[0], 113, "EHOSTUNREACH while Wi-Fi is down")
    t0 = vtime.now_us()
    eq(link.ensure(), True, "the link comes up")
    took = vtime.now_us() - t0
    if took < wlan.ASSOC_US + wlan.DHCP_US:
        raise AssertionError("association and DHCP took no time (%d us)" % took)
    netclock.begin()  # now the host's sockets are the station's
    up = [ln for ln in LINES if "WIFI.UP" in ln][0]
    eq(wlan.SIM_SSID in up and "rssi=-58" in up, True, up)
    eq(link.iface.hostname, "st-7", "the station id is the host name")
    eq(link.ensure(), True, "up stays up without a new attempt")
    eq(_codes().count("WIFI.UP"), 1, "no second association")


def test_each_failure_is_named_and_no_secret_is_shown():
    for fault, reason in (
        ("badpass", "reason=wrong_password"),
        ("noap", "reason=network_not_found"),
        ("nodhcp", "reason=no_dhcp_lease"),
    ):
        setup()
        wlan.set_fault(fault, True)
        link = _link()
        eq(link.ensure(), False, fault)
        downs = [ln for ln in LINES if "WIFI.DOWN" in ln]
        eq(len(downs) == 1 and reason in downs[0] and "action=" in downs[0], True, repr(LINES))
        eq("WIFI.BACKOFF" in _codes(), True, "a backoff follows")
        eq(link.iface.active, False, "the radio is off while backing off")
        for ln in LINES:
            if wlan.SIM_PASSWORD in ln:
                raise AssertionError("the Wi-Fi password was logged: " + ln)
        try:
            netclock.begin()
            raise AssertionError("sockets work without a link (%s)" % fault)
        except OSError:
            pass


def test_weak_signal_works_and_is_reported():
    wlan.set_fault("weak", True)
    link = _link()
    eq(link.ensure(), True, "a weak link still works")
    eq(link.rssi_dbm, wlan.WEAK_RSSI_DBM, "rssi of the network in use")
    eq("WIFI.WEAK_SIGNAL" in _codes(), True, repr(LINES))


def test_networks_are_tried_in_order():
    secrets = {
        "wifi_ssid": "depot-old",
        "wifi_password": "x" * 12,
        "wifi_networks": [{"ssid": wlan.SIM_SSID, "password": wlan.SIM_PASSWORD}],
    }
    link = _link(secrets)
    eq(link.ensure(), True, "the second network joins")
    eq(link.ssid, wlan.SIM_SSID, "network in use")
    eq(link.status(), (wlan.RSSI_DBM, 1), "the status frame's Wi-Fi block: rssi, second network")
    import codec

    buf = bytearray(32)
    n = codec.encode_status(buf, sensors=["bme280"], wifi=link.status())
    eq(buf[15], 0x81, "one sensor and the Wi-Fi flag")
    eq(bytes(buf[n - 2 : n]), bytes([wlan.RSSI_DBM & 0xFF, 1]), "rssi i8, network index")
    first = [ln for ln in LINES if "WIFI.DOWN" in ln]
    eq(
        len(first) == 1 and "depot-old" in first[0] and "network_not_found" in first[0],
        True,
        repr(LINES),
    )


def test_no_credentials_is_one_clear_error():
    link = _link({})
    eq(link.ensure(), False, "no network to join")
    eq(link.ensure(), False, "still none")
    eq(_codes().count("WIFI.NO_CREDENTIALS"), 1, "said once")


def test_backoff_grows_with_jitter_and_the_link_returns():
    wlan.set_fault("noap", True)
    link = _link(connect_s=5)
    eq(link.ensure(), False, "AP gone")
    eq(link.ensure(), False, "backing off: no new attempt")
    eq(_codes().count("WIFI.DOWN"), 1, "one attempt during the backoff")
    waits = []
    for _ in range(8):
        link.failures += 1
        waits.append(link._backoff_ms())
    for i, w in enumerate(waits):
        base = min(5000 << (i + 1), 600000)
        if not base * 3 // 4 <= w <= base * 5 // 4:
            raise AssertionError("backoff %d ms outside +-25 %% of %d" % (w, base))
    link.failures = 1
    wlan.set_fault("noap", False)
    vtime.advance_us(10 * 1000000)
    eq(link.ensure(), True, "the AP is back after the backoff")


def test_ap_lost_while_online_is_reported():
    link = _link()
    eq(link.ensure(), True, "up")
    wlan.set_fault("noap", True)
    eq(link.ensure(), False, "gone")
    eq("WIFI.LOST" in _codes(), True, repr(LINES))


def test_radio_powered_down_only_when_the_interval_allows():
    link = _link(power_down_s=300)
    eq(link.ensure(), True, "up")
    eq(link.sleep(60 * 1000), False, "a 60 s interval keeps the radio up")
    eq(link.iface.active, True, "still on")
    eq(link.sleep(600 * 1000), True, "a 600 s interval powers it down")
    eq(link.iface.active, False, "off between cycles")
    eq(link.ensure(), True, "back up at the next cycle")
    link = _link(power_down_s=0)
    link.ensure()
    eq(link.sleep(86400 * 1000), False, "0 keeps it up always")


def test_config_keys_and_secrets():
    cfg = config.validate({"wifi": {"country": "DE", "connect_s": 30, "power_down_s": 0}})
    eq(cfg["wifi"]["country"], "DE", "country")
    for bad, words in (
        ({"wifi": {"country": "D"}}, "wifi.country: expected two letters"),
        ({"wifi": {"country": "de"}}, "wifi.country: contains characters"),
        ({"wifi": {"connect_s": 1}}, "wifi.connect_s: 1 is outside"),
        ({"wifi": {"ssid": "x"}}, "wifi.ssid: unknown key"),
    ):
        try:
            config.validate(bad)
            raise AssertionError("accepted %r" % bad)
        except config.ConfigError as exc:
            eq(any(p.startswith(words) for p in exc.problems), True, repr(exc.problems))
    schema = config.SECRETS_SCHEMA
    good = config.validate(
        {"wifi_ssid": "a", "wifi_networks": [{"ssid": "b", "password": "p" * 9}]}, schema
    )
    eq(good["wifi_networks"][0]["ssid"], "b", "networks kept")
    for bad in (
        {"wifi_networks": [{"ssid": "b", "password": 12345678}]},
        {"wifi_networks": [{"ssid": "", "password": "hunter2-wifi"}]},
        {"wifi_networks": [{"ssid": "b", "password": "hunter2-wifi", "psk": "hunter2-wifi"}]},
        {"wifi_networks": [{"ssid": "b"}] * 5},
        {"wifi_networks": "hunter2-wifi"},
        {"wifi_password": "hunter2-wifi" * 10},
    ):
        try:
            config.validate(bad, schema)
            raise AssertionError("accepted %r" % bad)
        except config.ConfigError as exc:
            text = "; ".join(exc.problems)
            eq("hunter2" in text or "12345678" in text, False, "a secret echoed: " + text)


class _FakeNetwork:
    """A port's `network` module as far as the HAL reads it: the rp2 (CYW43) numbering."""

    STA_IF = 0
    STAT_IDLE = 0
    STAT_CONNECTING = 1
    STAT_GOT_IP = 3
    STAT_CONNECT_FAIL = -1
    STAT_NO_AP_FOUND = -2
    STAT_WRONG_PASSWORD = -3

    def __init__(self):
        self.status = 1
        self.connected = False

    def WLAN(self, _if):
        net = self

        class Nic:
            def active(self, v=None):
                return True

            def status(self, what=None):
                return -61 if what == "rssi" else net.status

            def isconnected(self):
                return net.connected

        return Nic()


class _FakeEsp32Network(_FakeNetwork):
    STAT_IDLE = 1000
    STAT_CONNECTING = 1001
    STAT_GOT_IP = 1010
    STAT_BEACON_TIMEOUT = 200
    STAT_NO_AP_FOUND = 201
    STAT_WRONG_PASSWORD = 202
    STAT_ASSOC_FAIL = 203
    STAT_HANDSHAKE_TIMEOUT = 204


def test_port_status_codes_map_to_words():
    import hal

    for family, net, table in (
        (
            "rp2",
            _FakeNetwork(),
            (
                (-3, "wrong_password"),
                (-2, "no_ap"),
                (-1, "fail"),
                (1, "connecting"),
                (2, "no_ip"),
                (3, "up"),
            ),
        ),
        (
            "esp32",
            _FakeEsp32Network(),
            (
                (202, "wrong_password"),
                (204, "wrong_password"),
                (201, "no_ap"),
                (203, "fail"),
                (1001, "connecting"),
                (1010, "up"),
            ),
        ),
    ):
        sys.modules["network"] = net
        try:
            w = hal._PortWlan(family)
            w._nic = net.WLAN(0)
            for code, word in table:
                net.status = code
                net.connected = word == "up"
                eq(w.state(), word, "%s status %d" % (family, code))
            net.status = net.STAT_GOT_IP
            net.connected = False
            eq(w.state(), "no_ip", "%s: got-ip status without an address yet" % family)
            eq(w.rssi(), -61, "rssi")
        finally:
            del sys.modules["network"]
