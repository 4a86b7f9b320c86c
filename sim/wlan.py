"""A simulated Wi-Fi access point and the station's STA interface (hal.Wlan contract).

The unix port has the host's network; a board has it only once its radio is associated and
DHCP gave it an address. This model holds the station's real sockets behind that: while the
interface is not "up", sim/netclock.py refuses every socket call (EHOSTUNREACH), as on a board.
Association and DHCP take virtual time. Faults (`--fault wifi:KIND@T+D`, sim/vstation.py):

    badpass   the access point rejects the password (a changed WPA key)
    noap      the access point is gone (powered off, out of range)
    weak      the signal is weak (-89 dBm): association takes longer, the link still works
    nodhcp    association works, no DHCP lease comes (a full or dead DHCP server)

A fault that starts while the station is online cuts the link (noap, badpass: the AP drops
the station and refuses it from then on; nodhcp only affects the next lease).
"""

from sim import netclock, vtime

# The networks in range: SSID -> password. vstation gives the station these credentials when
# the run supplies none.
SIM_SSID = "climate-sim"
SIM_PASSWORD = "sim-wifi-password"
aps = {SIM_SSID: SIM_PASSWORD}

ASSOC_US = 1200000  # scan, authentication and association (a few beacons)
WEAK_ASSOC_US = 4500000  # retries at a low rate
DHCP_US = 300000
RSSI_DBM = -58
WEAK_RSSI_DBM = -89

faults = set()  # kinds in force now


def set_fault(kind, on):
    if on:
        faults.add(kind)
    else:
        faults.discard(kind)
    if on and kind in ("noap", "badpass") and _iface is not None:
        _iface._lost()


_iface = None  # the interface of the running boot (a reset builds a new one)


class SimWlan:
    def __init__(self, spec):
        self.spec = spec
        self.active = False
        self.ssid = None
        self._password = None
        self._t0 = 0
        self._state = "off"
        self.country = ""
        self.hostname = ""
        self.powered_us = 0  # radio-on time (a battery budget reads it)
        self._on_at = None
        global _iface
        _iface = self
        netclock.link(False)

    def up(self, country, hostname):
        self.country = country
        self.hostname = hostname
        if not self.active:
            self.active = True
            self._on_at = vtime.now_us()
            self._state = "idle"

    def connect(self, ssid, password):
        if not self.active:
            raise OSError(1)  # EPERM: as a port refuses connect() on an inactive interface
        self.ssid = ssid
        self._password = password
        self._t0 = vtime.now_us()
        self._state = "connecting"
        netclock.link(False)

    def state(self):
        if self._state != "connecting" and self._state != "no_ip":
            return self._state
        dt = vtime.now_us() - self._t0
        want = aps.get(self.ssid)
        if want is None or "noap" in faults:
            # a port gives up after its scan retries
            if dt >= ASSOC_US * 3:
                self._state = "no_ap"
            return self._state
        assoc_us = WEAK_ASSOC_US if "weak" in faults else ASSOC_US
        if dt < assoc_us:
            return "connecting"
        if want != self._password or "badpass" in faults:
            self._state = "wrong_password"
            return self._state
        if "nodhcp" in faults or dt < assoc_us + DHCP_US:
            self._state = "no_ip"
            return self._state
        self._state = "up"
        netclock.link(True)
        return self._state

    def _lost(self):
        if self._state in ("up", "no_ip", "connecting"):
            self._state = "no_ap" if "noap" in faults else "fail"
            netclock.link(False)

    def rssi(self):
        if self._state not in ("up", "no_ip"):
            return None
        return WEAK_RSSI_DBM if "weak" in faults else RSSI_DBM

    def address(self):
        return "192.168.4.23" if self._state == "up" else ""

    def down(self):
        if self.active and self._on_at is not None:
            self.powered_us += vtime.now_us() - self._on_at
        self.active = False
        self._on_at = None
        self._state = "off"
        netclock.link(False)
