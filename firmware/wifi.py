"""The station's Wi-Fi link: bring the HAL's interface up before the uplink needs the network.

Networks from the secrets (`wifi_ssid`/`wifi_password`, then `wifi_networks` in order), the
country code and connect deadline from the config's `wifi` section, the station id as host
name. Each failure is named in words a technician acts on (WIFI.DOWN `reason`); between failed
rounds a backoff with jitter; between cycles the radio is powered down when the interval is
long enough (`wifi.power_down_s`), kept up otherwise.
"""

import random
import time

from micropython import const

import diag

_POLL_MS = const(100)
_BACKOFF_MIN_MS = const(5000)
_BACKOFF_MAX_MS = const(600000)
WEAK_RSSI_DBM = const(
    -80
)  # below this a link drops packets: the technician should move the antenna

# hal.Wlan states that end an attempt -> (reason, what to do)
_FAILURES = {
    "wrong_password": ("wrong_password", "check wifi_password in the secrets"),
    "no_ap": ("network_not_found", "check wifi_ssid and that the access point is on and in range"),
    "fail": ("connect_failed", "the access point refused the station: check its settings"),
    "off": ("radio_off", "the Wi-Fi radio did not power up"),
}

_NO_LEASE = ("no_dhcp_lease", "associated, but the network gave no address: check its DHCP server")
_TIMEOUT = ("timeout", "no answer within wifi.connect_s: check the network is in range")


def networks(secrets):
    """[(ssid, password), ...] in the order they are tried."""
    out = []
    ssid = secrets.get("wifi_ssid") or ""
    if ssid:
        out.append((ssid, secrets.get("wifi_password") or ""))
    for n in secrets.get("wifi_networks") or ():
        out.append((n["ssid"], n.get("password") or ""))
    return out


class WifiLink:
    def __init__(self, cfg, secrets, hal, iface):
        w = cfg["wifi"]
        self.iface = iface
        self.hal = hal
        self.country = w["country"]
        self.connect_ms = w["connect_s"] * 1000
        self.power_down_s = w["power_down_s"]
        self.hostname = cfg["station_id"]
        self._networks = networks(secrets or {})
        self.ssid = None  # the network in use
        self.rssi_dbm = None
        self.net_index = None  # which configured network: 0 wifi_ssid, 1.. wifi_networks
        self.failures = 0
        self.next_try = time.ticks_ms()
        self._told_no_credentials = False

    def is_up(self):
        return self.iface.state() == "up"

    def ensure(self):
        """True when the link is up (brought up now if needed); False while backing off or when
        no network could be joined (each attempt's failure is logged)."""
        st = self.iface.state()
        if st == "up":
            return True
        if self.ssid is not None:
            diag.warn("WIFI.LOST", self.ssid, state=st)
            self.ssid = None
            self.rssi_dbm = None
        if not self._networks:
            if not self._told_no_credentials:
                diag.error(
                    "WIFI.NO_CREDENTIALS", None, need="wifi_ssid and wifi_password in secrets.json"
                )
                self._told_no_credentials = True
            return False
        now = time.ticks_ms()
        wait = time.ticks_diff(self.next_try, now)
        if 0 < wait <= 2 * _BACKOFF_MAX_MS:
            return False
        self.iface.up(self.country, self.hostname)
        for i, (ssid, password) in enumerate(self._networks):
            if self._join(ssid, password):
                self.failures = 0
                self.net_index = i
                return True
        self.failures += 1
        wait = self._backoff_ms()
        self.next_try = time.ticks_add(time.ticks_ms(), wait)
        self.iface.down()
        diag.warn("WIFI.BACKOFF", None, tried=len(self._networks), retry_s=wait // 1000)
        return False

    def _join(self, ssid, password):
        t0 = time.ticks_ms()
        self.iface.connect(ssid, password)
        while True:
            st = self.iface.state()
            if st == "up":
                self.ssid = ssid
                self.rssi_dbm = self.iface.rssi()
                ms = time.ticks_diff(time.ticks_ms(), t0)
                diag.info("WIFI.UP", ssid, rssi=self.rssi_dbm, ip=self.iface.address(), ms=ms)
                if self.rssi_dbm is not None and self.rssi_dbm < WEAK_RSSI_DBM:
                    diag.warn(
                        "WIFI.WEAK_SIGNAL",
                        ssid,
                        rssi=self.rssi_dbm,
                        min=WEAK_RSSI_DBM,
                        action="move the station or its antenna closer to the access point",
                    )
                return True
            failure = _FAILURES.get(st)
            if failure is None and time.ticks_diff(time.ticks_ms(), t0) >= self.connect_ms:
                # "no_ip" is a step on the way (DHCP running); still there at the deadline: no lease
                failure = _NO_LEASE if st == "no_ip" else _TIMEOUT
            if failure is not None:
                diag.warn("WIFI.DOWN", ssid, reason=failure[0], action=failure[1])
                return False
            self.hal.feed()
            time.sleep_ms(_POLL_MS)

    def status(self):
        """(rssi_dbm, network index) while joined (the status frame's Wi-Fi block), else None."""
        if self.ssid is None or self.rssi_dbm is None:
            return None
        return (max(-128, min(0, self.rssi_dbm)), self.net_index)

    def _backoff_ms(self):
        b = _BACKOFF_MIN_MS << min(self.failures - 1, 10)
        if b > _BACKOFF_MAX_MS:
            b = _BACKOFF_MAX_MS
        # +-25 % jitter: a fleet that lost its access point does not come back in lockstep
        return b - b // 4 + (random.getrandbits(16) * (b // 2)) // 65536

    def no_route(self, host, port):
        """The uplink could not reach its server although the link is up."""
        diag.warn(
            "WIFI.NO_ROUTE",
            self.ssid,
            broker=host,
            port=port,
            action="associated, but the broker is unreachable: check the network's routing/firewall",
        )

    def sleep(self, interval_ms):
        """Between cycles: power the radio down when the interval is long enough (battery)."""
        if self.power_down_s and interval_ms >= self.power_down_s * 1000:
            if self.ssid is not None:
                diag.debug("WIFI.OFF", self.ssid, for_s=interval_ms // 1000)
            self.ssid = None
            self.iface.down()
            return True
        return False
