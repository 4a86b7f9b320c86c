"""Simulated Seeed LoRa-E5 with its AT firmware (see drivers/lora_e5.py for the replies).

Replies as published: Seeed's LoRa-E5 AT command specification (as quoted by KiwiBryn's
SeeedLoRaE5LoRaWAN-NetCore and disk91's Disk91_LoRaE5) and module captures (CampusIoT/tutorial
`wio-lora-e5/AT.md`, `wioterminal/examples/GroveLoRaE5/README.md`):
- `AT+DR` and `AT+DR=<n>` answer two `+DR:` lines (`+DR: DR0`, `+DR: EU868 DR0  SF12 BW125K `);
  `AT+DR=EU868` one line (`+DR: EU868`);
- a parameter out of range is `ERROR(-1)`, a malformed command `ERROR(-11)`, an unknown one
  `ERROR(-10)`;
- `AT+JOIN` on a module that still has its session answers `+JOIN: Joined already` and nothing
  more (issue 18 item 5; no capture of it in the sources above, so unconfirmed).
`session=True` starts the module joined: it kept its session while the station restarted.
`firmware=` names the AT firmware; only 4.0.11 (the version on Seeed's wiki) is modelled.
"""

from sim import vtime
from sim.atmodem import AtModemModel, time_gmtime

_HEX = "0123456789ABCDEFabcdef"


def _colons(h):
    return ":".join(h[i : i + 2] for i in range(0, len(h), 2))


FIRMWARES = ("4.0.11",)
_DR_INFO = {
    "EU868": ("SF12 BW125K ", "SF11 BW125K ", "SF10 BW125K ", "SF9  BW125K ", "SF8  BW125K ", "SF7  BW125K "),
    "US915": ("SF10 BW125K ", "SF9  BW125K ", "SF8  BW125K ", "SF7  BW125K ", "SF8  BW500K "),
}  # fmt: skip


class LoraE5Model(AtModemModel):
    BANNER = (
        b""  # the module restarts silently; the host learns it from "Please join network first"
    )

    def __init__(self, env=None, firmware="4.0.11", session=False, **kw):
        if firmware not in FIRMWARES:
            raise ValueError(
                "lora_e5: no simulated firmware %r (%s)" % (firmware, ", ".join(FIRMWARES))
            )
        self.firmware = firmware
        super().__init__(env, **kw)
        if session:
            self.joined = True
        self.channels = None

    def handle(self, text):
        up = text.upper()
        if up == "AT":
            self.say("+AT: OK")
            return
        if not up.startswith("AT+"):
            self.say("+AT: ERROR(-10)")
            return
        name, sep, val = text[3:].partition("=")
        name = name.upper()
        fn = getattr(self, "_c_" + name, None)
        if fn is None:
            self.say("+%s: ERROR(-10)" % name)
            return
        fn(val if sep else None)

    def _c_MODE(self, val):
        if val != "LWOTAA" and val != "LWABP":
            self.say("+MODE: ERROR(-11)")
            return
        self.say("+MODE: " + val)

    def _c_DR(self, val):
        if val in ("EU868", "US915"):
            self.region = val
            self.say("+DR: " + val)
            return
        if val is not None:
            if not val.isdigit():
                self.say("+DR: ERROR(-11)")
                return
            if int(val) >= len(_DR_INFO[self.region]):
                self.say("+DR: ERROR(-1)")
                return
            self.dr = int(val)
        self.say("+DR: DR%d" % self.dr)
        self.say("+DR: %s DR%d  %s" % (self.region, self.dr, _DR_INFO[self.region][self.dr]), 0)

    def _c_CH(self, val):
        # sub-band selection: AT+CH=NUM,8-15 (US915 channels of TTN's sub-band 2)
        kind, _, rng = (val or "").partition(",")
        if kind.upper() != "NUM" or "-" not in rng:
            self.say("+CH: ERROR(-11)")
            return
        self.channels = rng.strip()
        self.say("+CH: NUM, " + self.channels)

    def _c_CLASS(self, val):
        self.say("+CLASS: %s" % val if val in ("A", "B", "C") else "+CLASS: ERROR(-11)")

    def _c_ID(self, val):
        kind, sep, q = (val or "").partition(",")
        h = q.strip().strip('"').replace(":", "")
        if kind in ("DevEui", "AppEui") and not sep:
            # a query (`AT+ID=DevEui`, no value) answers with the current id
            v = self.deveui if kind == "DevEui" else self.appeui
            self.say("+ID: %s, %s" % (kind, _colons(v or "0000000000000000")))
            return
        if kind not in ("DevEui", "AppEui") or len(h) != 16 or not all(c in _HEX for c in h):
            self.say("+ID: ERROR(-11)")
            return
        if kind == "DevEui":
            self.deveui = h.upper()
        else:
            self.appeui = h.upper()
        self.say("+ID: %s, %s" % (kind, _colons(h.upper())))

    def _c_KEY(self, val):
        kind, _, q = (val or "").partition(",")
        h = q.strip().strip('"')
        if kind.upper() != "APPKEY" or len(h) != 32 or not all(c in _HEX for c in h):
            self.say("+KEY: ERROR(-11)")
            return
        self.appkey = h.upper()
        self.say("+KEY: APPKEY " + h.upper())

    def _c_ADR(self, val):
        if val not in ("ON", "OFF"):
            self.say("+ADR: ERROR(-11)")
            return
        self.adr = val == "ON"
        self.say("+ADR: " + val)

    def _c_RETRY(self, val):
        if val is None or not val.isdigit():
            self.say("+RETRY: ERROR(-11)")
            return
        if int(val) > 15:
            self.say("+RETRY: ERROR(-1)")
            return
        self.retries = int(val)
        self.say("+RETRY: %d" % self.retries)

    def _c_PORT(self, val):
        if val is None or not val.isdigit() or not (1 <= int(val) <= 223):
            self.say("+PORT: ERROR(-11)")
            return
        self.port = int(val)
        self.say("+PORT: %d" % self.port)

    def _c_RESET(self, val):
        self.say("+RESET: OK")
        self.power_on()

    def _refuse(self, key):
        """A reply line when the modem cannot transmit now, else None."""
        if self._take("busy") or vtime.now_us() < self.busy_until_us:
            return "+%s: LoRaWAN modem is busy" % key
        if self._take("nochannel"):
            return "+%s: No free channel" % key
        w = self.band_wait_ms()
        if w:
            return "+%s: No band in %dms" % (key, w)
        return None

    def _c_JOIN(self, val):
        if self.joined and val is None:
            self.say("+JOIN: Joined already")
            return
        if not (self.deveui and self.appeui and self.appkey):
            self.say("+JOIN: ERROR(-1)")
            return
        r = self._refuse("JOIN")
        if r:
            self.say(r)
            self.say("+JOIN: Done", 0)
            return
        self.say("+JOIN: Start")
        self.say("+JOIN: NORMAL", 0)
        ok, delay = self.do_join()
        self.busy_until_us = vtime.now_us() + delay
        if ok:
            self.say("+JOIN: Network joined", delay)
            self.say("+JOIN: NetID 000013 DevAddr 26:0B:5E:71", 0)
        else:
            self.say("+JOIN: Join failed", delay)
        self.say("+JOIN: Done", 0)

    def _send(self, key, val, confirmed):
        h = (val or "").strip()
        if len(h) < 2 or h[0] != '"' or h[-1] != '"':
            self.say("+%s: ERROR(-11)" % key)
            return
        h = h[1:-1].replace(" ", "")
        if len(h) % 2 or not all(c in _HEX for c in h):
            self.say("+%s: ERROR(-11)" % key)
            return
        payload = bytes(int(h[i : i + 2], 16) for i in range(0, len(h), 2))
        if not self.joined:
            self.say("+%s: Please join network first" % key)
            return
        if len(payload) > self.max_payload():
            self.say("+%s: Length error %d" % (key, len(payload)))
            return
        r = self._refuse(key)
        if r:
            self.say(r)
            self.say("+%s: Done" % key, 0)
            return
        self.say("+%s: Start" % key)
        if confirmed:
            self.say("+%s: Wait ACK" % key, 0)
        acked, down, delay = self.do_uplink(self.port, payload, confirmed)
        self.busy_until_us = vtime.now_us() + delay
        if acked:
            self.say("+%s: ACK Received" % key, delay)
            delay = 0
        if down is not None:
            dport, dpayload = down
            self.say(
                '+%s: PORT: %d; RX: "%s"' % (key, dport, "".join("%02X" % b for b in dpayload)),
                delay,
            )
            delay = 0
        if acked or down is not None or self.time_set:
            self.time_set = False
            self.say("+%s: RXWIN1, RSSI -87, SNR 9.0" % key, delay)
            delay = 0
        self.say("+%s: Done" % key, delay)

    def _c_LW(self, val):
        if (val or "").strip().upper() != "DTR":
            self.say("+LW: ERROR(-1)")  # other AT+LW subcommands are not simulated
            return
        self.time_req = True
        self.say("+LW: DTR")

    def _c_RTC(self, val):
        if val is not None:
            self.say("+RTC: ERROR(-1)")  # setting the RTC or its zone is not simulated
            return
        t = time_gmtime(self.clock_unix_s())
        self.say("+RTC: %04d-%02d-%02d %02d:%02d:%02d" % t[:6])

    def _c_MSGHEX(self, val):
        self._send("MSGHEX", val, False)

    def _c_CMSGHEX(self, val):
        self._send("CMSGHEX", val, True)
