"""Simulated RAKwireless RAK3172 with RUI3 AT firmware (see drivers/rak3172.py for the replies).

`firmware=` picks the RUI3 generation; the differences come from RAK's public RUI3 source
(RAKWireless/RAK-STM32-RUI, tags v3.2.0..v5.0.1) and the RUI3 AT command manual, as quoted in
issue 18 (marked "issue" below where only the quote backs it):

  generation  AT+NWM=<m>                         unconfirmed send ends with   duty cycle
  3.4.2       reboots before printing (issue)    OK only (no +EVT:TX_DONE)    per transmission
  3.5.3       bare "OK" without line end, reboot OK only                      per transmission
  4.0.1       bare "OK" without line end, reboot OK only (TX_DONE from v4.0.4_236, issue)
  4.0.6       bare "OK" without line end, reboot +EVT:TX_DONE                 per transmission
  4.2.0       bare "OK" without line end, reboot +EVT:TX_DONE                 hourly time credits

All generations: `AT+JOIN=1:0:<interval>:<n>` sends up to 1 + n join requests (n is a retry
count, source atcmd_join_send.c At_Join: 0..255), one `+EVT:JOIN_FAILED_RX_TIMEOUT` per failed
request (our reading; unconfirmed on hardware); a payload too long for the data rate gets
AT_PARAM_ERROR (At_Send maps a wrong argument to it), after an empty uplink that flushes a
pending MAC answer; after a downlink with FPending or a confirmed downlink the modem sends an
empty uplink by itself and AT+SEND/AT+JOIN get AT_BUSY_ERROR until it is done (issue);
AT_UNSUPPORTED_BAND (atcmd.c status table, RUI3 >= 4.1.0) for a band the build lacks.
3.x uses the older spelling (`+EVT:SEND CONFIRMED OK`, three-line downlink); 4.x the one-line
`+EVT:RX_1:<rssi>:<snr>:UNICAST:<port>:<hex>` with lower-case hex (issue; unconfirmed).
A restart keeps the settings (RUI3 stores them in flash) and loses the session.
"""

from sim import netserver, vtime
from sim.atmodem import AtModemModel, time_gmtime

_HEX = "0123456789ABCDEFabcdef"
_BANDS = {"4": "EU868", "5": "US915"}


def _is_hex(s, n=None):
    return (n is None or len(s) == n) and len(s) % 2 == 0 and all(c in _HEX for c in s)


FIRMWARES = {
    # nwm_ok: AT+NWM prints a bare OK before restarting; tx_done: +EVT:TX_DONE exists;
    # band_error: AT_UNSUPPORTED_BAND exists; hourly: duty cycle as hourly time credits
    "3.4.2": {"nwm_ok": False, "tx_done": False, "band_error": False, "hourly": False, "spelling": "space"},
    "3.5.3": {"nwm_ok": True, "tx_done": False, "band_error": False, "hourly": False, "spelling": "space"},
    "4.0.1": {"nwm_ok": True, "tx_done": False, "band_error": False, "hourly": False, "spelling": "underscore"},
    "4.0.6": {"nwm_ok": True, "tx_done": True, "band_error": False, "hourly": False, "spelling": "underscore"},
    "4.2.0": {"nwm_ok": True, "tx_done": True, "band_error": True, "hourly": True, "spelling": "underscore"},
}  # fmt: skip
DEFAULT_FIRMWARE = "4.0.6"
_RESTART_US = 800000  # from AT+NWM to the boot banner
_AUTO_UPLINK_US = 500000  # from the end of the RX windows to the modem's own empty uplink
_CREDIT_MAX_MS = 36000  # 1 % of an hour


class Rak3172Model(AtModemModel):
    BANNER = b"\r\nRAKwireless RAK3172 (simulated)\r\nCurrent Work Mode: LoRaWAN.\r\n"

    def __init__(
        self,
        env=None,
        spelling=None,
        firmware=DEFAULT_FIRMWARE,
        bands=("EU868", "US915"),
        nwm=1,
        **kw,
    ):
        if firmware not in FIRMWARES:
            raise ValueError(
                "rak3172: no simulated RUI3 firmware %r (%s)"
                % (firmware, ", ".join(sorted(FIRMWARES)))
            )
        self.firmware = firmware
        self.fw = FIRMWARES[firmware]
        self.spelling = spelling or self.fw["spelling"]
        self.bands = bands
        self.restarts = 0
        self.booting_until_us = 0
        super().__init__(env, **kw)
        self.nwm = nwm

    # RUI3's system time starts at 0 and counts GPS-style (leap seconds included): AT+LTIME
    # prints it minus 18 s, so an unset clock shows 1969-12-31 23:59:42
    CLOCK_AT_POWER_ON_S = -18

    def power_on(self):
        super().power_on()
        self.credit_ms = _CREDIT_MAX_MS
        self.credit_t_us = vtime.now_us()

    def restart(self, at_us):
        """Software restart: settings stay (flash), the session and timers are gone."""
        self.restarts += 1
        self.joined = False
        self.busy_until_us = 0
        self.mac_pending = False
        self._timers = []
        self._buf[:] = b""
        self.booting_until_us = at_us + _RESTART_US
        self.say_raw(self.BANNER, self.booting_until_us - vtime.now_us())

    # --- duty cycle: per transmission (LoRaMac 1.0.3 style) or hourly time credits (>= 4.2) ---
    def _credits_now(self, now_us):
        gained = (now_us - self.credit_t_us) // 100000  # 1 % of the elapsed time, in ms
        if gained > 0:
            self.credit_ms = min(_CREDIT_MAX_MS, self.credit_ms + gained)
            self.credit_t_us += gained * 100000
        return self.credit_ms

    def book_duty(self, now_us, toa_ms):
        if not self.fw["hourly"]:
            super().book_duty(now_us, toa_ms)
        elif self.region == "EU868":
            self._credits_now(now_us)
            self.credit_ms -= toa_ms

    def band_wait_ms(self, toa_ms=0):
        if not self.fw["hourly"] or self.region != "EU868":
            return super().band_wait_ms()
        c = self._credits_now(vtime.now_us())
        return 0 if c >= toa_ms else (toa_ms - c) * 100

    def _evt(self, name, at_us):
        if self.spelling == "space":
            name = name.replace("_", " ")
        self.say_at("+EVT:" + name, at_us)

    def say(self, text, delay_us=3000):
        self.reply(text)  # every command reply goes out at its own time

    def handle(self, text):
        if vtime.now_us() < self.booting_until_us:
            return  # restarting: the command is lost
        if text.upper() == "AT":
            self.say("OK")
            return
        if text.upper() == "ATZ":
            self.restart(vtime.now_us())
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
                self.reply("AT+%s=%s\r\nOK" % (name, v))
            return
        fn(val if sep else None)

    def _get(self, name):
        return {
            "NWM": self.nwm,
            "NJM": self.njm,
            "NJS": 1 if self.joined else 0,
            "DR": self.dr,
            "ADR": 1 if self.adr else 0,
            "CFM": 1 if self.confirmed else 0,
            "RETY": self.retries,
            "DEVEUI": self.deveui,
            "APPEUI": self.appeui,
            "CLASS": "A",
            "BAND": 4 if self.region == "EU868" else 5,
            "TIMEREQ": 1 if self.time_req else 0,
            "LTIME": self._ltime(),
        }.get(name)  # fmt: skip -- the AppKey is write-only here

    def _ltime(self):
        # RUI3 service_lora_get_local_time: "%02dh%02dm%02ds on %02d/%02d/%04d", month first
        t = time_gmtime(self.clock_unix_s())
        return "%02dh%02dm%02ds on %02d/%02d/%04d" % (t[3], t[4], t[5], t[1], t[2], t[0])

    def _c_LTIME(self, val):
        self.say("AT_PARAM_ERROR")  # read only (the query is answered by handle())

    def _c_TIMEREQ(self, val):
        if val not in ("0", "1"):
            self.say("AT_PARAM_ERROR")
            return
        if not self.joined:
            self.say("AT_NO_NETWORK_JOINED")  # service_lora_set_timereq: joined only
            return
        self.time_req = val == "1"
        self.say("OK")

    def _flag(self, val, attr, hi=1):
        if val is None or not val.isdigit() or int(val) > hi:
            self.say("AT_PARAM_ERROR")
            return
        setattr(self, attr, int(val) if hi > 1 else bool(int(val)))
        self.say("OK")

    def _c_NWM(self, val):
        if val not in ("0", "1", "2"):
            self.say("AT_PARAM_ERROR")
            return
        # RUI3 restarts on every AT+NWM=<m>, also when the mode does not change (manual: "The
        # RUI3 device will restart automatically"); >= 3.5.2 prints a bare OK first (issue)
        self.nwm = int(val)
        if self.fw["nwm_ok"]:
            self.reply("OK", b"")
        self.restart(vtime.now_us())

    def _c_NJM(self, val):
        self._flag(val, "njm")

    def _c_NJS(self, val):
        self.say("AT_PARAM_ERROR")

    def _c_CLASS(self, val):
        self.say("OK" if val in ("A", "B", "C") else "AT_PARAM_ERROR")

    def _c_MASK(self, val):
        # US915/AU915 sub-band mask: 4 hex digits, bit n = sub-band n + 1 (0002: channels 8-15)
        if val is None or not _is_hex(val, 4):
            self.say("AT_PARAM_ERROR")
            return
        self.mask = val
        self.say("OK")

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

    def _busy(self, toa_ms=0):
        if self._take("busy") or vtime.now_us() < self.busy_until_us:
            self.say("AT_BUSY_ERROR")
            return True
        if self._take("nochannel"):
            self.reply("Restricted_Wait_%d_ms\r\nAT_BUSY_ERROR" % 3000)
            return True
        w = self.band_wait_ms(toa_ms) if self.fw["hourly"] else self.band_wait_ms()
        if w:
            self.reply("Restricted_Wait_%d_ms\r\nAT_BUSY_ERROR" % w)
            return True
        return False

    def _band_ok(self):
        if self.region in self.bands:
            return True
        self.say("AT_UNSUPPORTED_BAND" if self.fw["band_error"] else "AT_ERROR")
        return False

    def _c_JOIN(self, val):
        args = (val or "1").split(":")
        if not all(a.isdigit() for a in args) or len(args) > 4 or args[0] not in ("0", "1"):
            self.say("AT_PARAM_ERROR")
            return
        interval_s = int(args[2]) if len(args) > 2 else 8
        retries = int(args[3]) if len(args) > 3 else 0
        if interval_s < 7 or interval_s > 255 or retries > 255:
            self.say("AT_PARAM_ERROR")
            return
        if not (self.deveui and self.appeui and self.appkey) or self.njm != 1:
            self.say("AT_PARAM_ERROR")
            return
        if not self._band_ok():
            return
        if args[0] == "0":
            self.say("OK")
            return
        if self._busy(self.toa_ms(23)):
            return
        self.say("OK")
        self._join_attempt(vtime.now_us(), retries, interval_s)

    def _join_attempt(self, at_us, retries_left, interval_s):
        free = self.band_free_us if not self.fw["hourly"] else at_us
        at_us = max(at_us, free)  # a retry waits for the sub-band like any transmission
        ok, delay = self.do_join(at_us)
        end = at_us + delay
        self.busy_until_us = end
        self._evt("JOINED" if ok else "JOIN_FAILED_RX_TIMEOUT", end)
        if not ok and retries_left > 0:
            nxt = end + interval_s * 1000000
            self.busy_until_us = nxt
            self.after(nxt, lambda t: self._join_attempt(t, retries_left - 1, interval_s))

    def _c_SEND(self, val):
        port, sep, data = (val or "").partition(":")
        if (
            not sep
            or not port.isdigit()
            or not (1 <= int(port) <= 223)
            or not _is_hex(data)
            or not data
        ):
            self.say("AT_PARAM_ERROR")
            return
        if not self.joined:
            self.say("AT_NO_NETWORK_JOINED")
            return
        if not self._band_ok():
            return
        payload = bytes(int(data[i : i + 2], 16) for i in range(0, len(data), 2))
        if self._busy(self.toa_ms(min(len(payload), self.max_payload()) + 13)):
            return
        if len(payload) > self.max_payload():
            # RUI3 refuses with AT_PARAM_ERROR (never AT_TEST_PARAM_OVERFLOW) and first sends an
            # empty uplink with the MAC answers that would not fit (issue 18, item 4)
            if self.mac_pending:
                toa, _ = self.do_empty_uplink()
                self.busy_until_us = vtime.now_us() + toa * 1000 + 2100000
            self.say("AT_PARAM_ERROR")
            return
        self.say("OK")
        acked, down, delay = self.do_uplink(int(port), payload, self.confirmed)
        self._outcome(vtime.now_us() + delay, acked, down, self.confirmed)

    def _outcome(self, end, acked, down, confirmed):
        """Events at the end of an uplink's RX windows; the modem's own uplink if it owes one."""
        self.busy_until_us = end
        if self.time_set:
            self.time_set = False
            self._evt("TIMEREQ_OK", end)  # printed before the send's own outcome (manual)
        if down is not None:
            dport, dpayload = down
            fmt = "%02X" if self.spelling == "space" else "%02x"
            hexd = "".join(fmt % b for b in dpayload)
            if self.spelling == "space":
                self.say_at("+EVT:RX_1, RSSI -87, SNR 9", end)
                self.say_at("+EVT:UNICAST", end)
                self.say_at("+EVT:%d:%s" % (dport, hexd), end)
            else:
                self.say_at("+EVT:RX_1:-87:9:UNICAST:%d:%s" % (dport, hexd), end)
        if confirmed is None:  # the modem's own empty uplink
            if self.fw["tx_done"]:
                self._evt("TX_DONE", end)
        elif not confirmed:
            if self.fw["tx_done"]:
                self._evt("TX_DONE", end)
        elif acked:
            self._evt("SEND_CONFIRMED_OK", end)
        else:
            self._evt("SEND_CONFIRMED_FAILED(4)", end)
        if down is not None and (netserver.fpending or netserver.down_confirmed):
            at = end + _AUTO_UPLINK_US
            self.busy_until_us = at + 1
            self.after(at, self._auto_uplink)

    def _auto_uplink(self, at_us):
        if not self.joined:
            return
        at_us = max(at_us, self.band_free_us if not self.fw["hourly"] else at_us)
        toa, down = self.do_empty_uplink(at_us)
        delay = toa * 1000 + (1100000 if down is not None else 2100000)
        self._outcome(at_us + delay, False, down, None)
