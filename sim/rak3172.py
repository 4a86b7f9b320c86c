"""Simulated RAKwireless RAK3172 with RUI3 AT firmware (see drivers/rak3172.py for the replies).

`spelling="space"` makes the model speak like older RUI3 builds: event names with spaces
(`+EVT:SEND CONFIRMED OK`) and a downlink as three lines; the default is the underscore
spelling and the one-line `+EVT:RX_1:<rssi>:<snr>:UNICAST:<port>:<hex>`.
"""

from sim import vtime
from sim.atmodem import AtModemModel

_HEX = "0123456789ABCDEFabcdef"
_BANDS = {"4": "EU868", "5": "US915"}


def _is_hex(s, n=None):
    return (n is None or len(s) == n) and len(s) % 2 == 0 and all(c in _HEX for c in s)


class Rak3172Model(AtModemModel):
    BANNER = b"\r\nRAKwireless RAK3172 (simulated)\r\nCurrent Work Mode: LoRaWAN.\r\n"

    def __init__(self, env=None, spelling="underscore", **kw):
        self.spelling = spelling
        super().__init__(env, **kw)

    def _evt(self, name, delay_us):
        if self.spelling == "space":
            name = name.replace("_", " ")
        self.say("+EVT:" + name, delay_us)

    def handle(self, text):
        if text.upper() == "AT":
            self.say("OK")
            return
        if text.upper() == "ATZ":
            self.power_on()
            self.say_raw(self.BANNER, 20000)
            return
        if not text.upper().startswith("AT+"):
            self.say("AT_ERROR")
            return
        name, sep, val = text[3:].partition("=")
        name = name.upper()
        fn = getattr(self, "_c_" + name, None)
        if fn is None:
            self.say("AT_COMMAND_NOT_FOUND")
            return
        if val == "?":
            v = self._get(name)
            if v is None:
                self.say("AT_PARAM_ERROR")
            else:
                self.say("AT+%s=%s" % (name, v))
                self.say("OK")
            return
        fn(val if sep else None)

    def _get(self, name):
        return {
            "NWM": self.nwm, "NJM": self.njm, "NJS": 1 if self.joined else 0, "DR": self.dr,
            "ADR": 1 if self.adr else 0, "CFM": 1 if self.confirmed else 0, "RETY": self.retries,
            "DEVEUI": self.deveui, "APPEUI": self.appeui, "CLASS": "A",
            "BAND": 4 if self.region == "EU868" else 5,
        }.get(name)  # fmt: skip -- the AppKey is write-only here

    def _flag(self, val, attr, hi=1):
        if val is None or not val.isdigit() or int(val) > hi:
            self.say("AT_PARAM_ERROR")
            return
        setattr(self, attr, int(val) if hi > 1 else bool(int(val)))
        self.say("OK")

    def _c_NWM(self, val):
        self._flag(val, "nwm")

    def _c_NJM(self, val):
        self._flag(val, "njm")

    def _c_NJS(self, val):
        self.say("AT_PARAM_ERROR")

    def _c_CLASS(self, val):
        self.say("OK" if val in ("A", "B", "C") else "AT_PARAM_ERROR")

    def _c_BAND(self, val):
        if val not in _BANDS:
            self.say("AT_PARAM_ERROR")
            return
        self.region = _BANDS[val]
        self.say("OK")

    def _key(self, val, attr, n):
        if val is None or not _is_hex(val, n):
            self.say("AT_PARAM_ERROR")
            return
        setattr(self, attr, val.upper())
        self.say("OK")

    def _c_DEVEUI(self, val):
        self._key(val, "deveui", 16)

    def _c_APPEUI(self, val):
        self._key(val, "appeui", 16)

    def _c_APPKEY(self, val):
        self._key(val, "appkey", 32)

    def _c_ADR(self, val):
        self._flag(val, "adr")

    def _c_CFM(self, val):
        self._flag(val, "confirmed")

    def _c_RETY(self, val):
        self._flag(val, "retries", 7)

    def _c_DR(self, val):
        if val is None or not val.isdigit() or int(val) > 5:
            self.say("AT_PARAM_ERROR")
            return
        self.dr = int(val)
        self.say("OK")

    def _busy(self):
        if self._take("busy") or vtime.now_us() < self.busy_until_us:
            self.say("AT_BUSY_ERROR")
            return True
        if self._take("nochannel"):
            self.say("Restricted_Wait_%d_ms" % 3000)
            self.say("AT_BUSY_ERROR")
            return True
        w = self.band_wait_ms()
        if w:
            self.say("Restricted_Wait_%d_ms" % w)
            self.say("AT_BUSY_ERROR")
            return True
        return False

    def _c_JOIN(self, val):
        if not (self.deveui and self.appeui and self.appkey) or self.njm != 1:
            self.say("AT_PARAM_ERROR")
            return
        if self._busy():
            return
        self.say("OK")
        ok, delay = self.do_join()
        self.busy_until_us = vtime.now_us() + delay
        self._evt("JOINED" if ok else "JOIN_FAILED_RX_TIMEOUT", delay)

    def _c_SEND(self, val):
        port, sep, data = (val or "").partition(":")
        if not sep or not port.isdigit() or not (1 <= int(port) <= 223) or not _is_hex(data) or not data:
            self.say("AT_PARAM_ERROR")
            return
        if not self.joined:
            self.say("AT_NO_NETWORK_JOINED")
            return
        payload = bytes(int(data[i : i + 2], 16) for i in range(0, len(data), 2))
        if len(payload) > self.max_payload():
            self.say("AT_PARAM_ERROR")  # RUI3 rejects a payload longer than the data rate allows
            return
        if self._busy():
            return
        self.say("OK")
        acked, down, delay = self.do_uplink(int(port), payload, self.confirmed)
        self.busy_until_us = vtime.now_us() + delay
        if down is not None:
            dport, dpayload = down
            hexd = "".join("%02X" % b for b in dpayload)
            if self.spelling == "space":
                self.say("+EVT:RX_1, RSSI -87, SNR 9", delay)
                self.say("+EVT:UNICAST", 0)
                self.say("+EVT:%d:%s" % (dport, hexd), 0)
            else:
                self.say("+EVT:RX_1:-87:9:UNICAST:%d:%s" % (dport, hexd), delay)
            delay = 0
        if not self.confirmed:
            self._evt("TX_DONE", delay)
        elif acked:
            self._evt("SEND_CONFIRMED_OK", delay)
        else:
            self._evt("SEND_CONFIRMED_FAILED(4)", delay)
