"""Seeed LoRa-E5 (STM32WLE5, RisingHF-style AT firmware) LoRaWAN modem over a UART, 9600 8N1.

Replies (LoRa-E5 AT command specification): every reply starts with `+<COMMAND>:`. Setting a
value echoes it (`+ADR: ON`, `+PORT: 2`); errors are `+<CMD>: ERROR(<code>)`. A send
(`AT+MSGHEX="..."` unconfirmed, `AT+CMSGHEX="..."` confirmed) is a transaction of several lines
ending in `Done`: `Start`, `Wait ACK`, `ACK Received`, `RXWIN1, RSSI <r>, SNR <s>`,
`PORT: <p>; RX: "<hex>"`, `Done`; or one of `Please join network first`, `No free channel`,
`No band in <ms>ms` (duty cycle), `LoRaWAN modem is busy`, `Length error <n>`, `DR error`.
A confirmed send without `ACK Received` before `Done` was not acknowledged. `AT+JOIN` ends with
`Done` too, after `Network joined` or `Join failed`; on a module that kept its session it
answers `+JOIN: Joined already` and nothing more (issue 18).

Some replies have two lines with the same prefix: `AT+DR` and `AT+DR=<n>` answer `+DR: DR4` then
`+DR: EU868 DR4  SF8  BW125K` (capture: CampusIoT/tutorial wio-lora-e5/AT.md), `AT+ID` three
`+ID:` lines. A reply is therefore paired with its command by the prefix (`REPLY_BY_KEY`), and
the further lines of it are read before the next command. `ERROR(-1)` is "parameter invalid"
(PARAM), `ERROR(-11)` a malformed command (PARAM), `ERROR(-10)` an unknown one.
US915: setup selects sub-band 2 (`AT+CH=NUM,8-15`, TTN's gateways) and allows DR0-4 only.
Unconfirmed without hardware (issue 18 item 8): whether `AT+RETRY=0` is accepted (Seeed's
Arduino library clamps to 1-15), `AT+KEY=APPKEY` answers on firmware 4.0.11, long downlinks
arriving in pieces beyond the 256-byte line limit.
Network time: `AT+LW=DTR` (reply `+LW: DTR`) puts a DeviceTimeReq on the next uplink, whose
downlink window sets the module's RTC; `AT+RTC` answers `+RTC: <YYYY>-<MM>-<DD> <hh>:<mm>:<ss>`
(public drivers quote both; the RTC starts at 2000 at power-on). The module prints no line of
its own for the answer (as far as the drivers quoting it show): the driver takes an uplink
after the request that had a downlink window (`RXWIN`) as answered and reads the RTC, which must
be plausible (>= 2023). Assumed, unconfirmed on hardware: the RTC keeps UTC (no `AT+RTC=ZONE`).
"""

from lorawan_modem import (
    EV_ACK,
    EV_ACK_WAIT,
    EV_BUSY,
    EV_DONE,
    EV_ERROR,
    EV_JOIN_FAILED,
    EV_JOINED,
    EV_LENGTH,
    EV_NO_CHANNEL,
    EV_NONE,
    EV_NOT_JOINED,
    EV_OK,
    EV_PARAM,
    EV_RX,
    EV_RX_META,
    LorawanModem,
    tohex,
    unhex,
    unix_from_utc,
)

_TX_KEYS = ("MSGHEX", "CMSGHEX", "MSG", "CMSG", "JOIN")


def _error(rest):
    # ERROR(-1): parameter invalid; ERROR(-11): command format error; ERROR(-10): unknown command
    if (
        rest.startswith("ERROR(-1)")
        or rest.startswith("ERROR(-11)")
        or rest.startswith("ERROR(-2)")
    ):
        return EV_PARAM, None
    return EV_ERROR, None


def _tx_line(rest):
    if rest == "Done":
        return EV_DONE, None
    if rest in ("Start", "FPENDING", "NORMAL", "FORCE") or rest.startswith("TX "):
        return EV_NONE, None
    if rest == "Wait ACK":
        return EV_ACK_WAIT, None
    if rest == "ACK Received":
        return EV_ACK, None
    if rest.startswith("Please join network first"):
        return EV_NOT_JOINED, None
    if rest.startswith("No free channel"):
        return EV_NO_CHANNEL, -1
    if rest.startswith("No band in "):
        t = rest[11:].strip()
        if t.endswith("ms"):
            t = t[:-2]
        try:
            return EV_NO_CHANNEL, int(t)
        except ValueError:
            return EV_NO_CHANNEL, -1
    if rest.startswith("LoRaWAN modem is busy"):
        return EV_BUSY, None
    if rest.startswith("Length error"):
        return EV_LENGTH, None
    if rest.startswith("DR error"):
        return EV_PARAM, None
    if rest.startswith("RXWIN"):
        return EV_RX_META, None
    if rest.startswith("PORT:"):
        # PORT: 2; RX: "0102A0"
        port_part, _, rx_part = rest.partition(";")
        try:
            port = int(port_part[5:].strip())
        except ValueError:
            return EV_NONE, None
        rx = rx_part.strip()
        if rx.startswith("RX:"):
            rx = rx[3:].strip().strip('"')
            try:
                data = unhex(rx)
            except ValueError:
                return EV_NONE, None
            if data:
                return EV_RX, (port, data)
        return EV_RX_META, None
    if rest.startswith("Joined already"):
        return EV_JOINED, "already"  # a final reply: no request sent, no Done follows
    if rest.startswith("Network joined"):
        return EV_JOINED, None
    if rest.startswith("Join failed"):
        return EV_JOIN_FAILED, None
    if rest.startswith("NetID"):
        return EV_NONE, None
    return EV_NONE, None


def rtc_unix(text):
    """`2024-01-01 12:34:56` (the module's RTC, UTC) -> unix seconds, or None."""
    try:
        date, _, hms = text.strip().partition(" ")
        y, mo, d = date.split("-")
        h, mi, s = hms.strip().split(":")
        t = (int(y), int(mo), int(d), int(h), int(mi), int(float(s)))
    except ValueError:
        return None
    if not (1 <= t[1] <= 12 and 1 <= t[2] <= 31 and t[3] < 24 and t[4] < 60 and t[5] < 61):
        return None
    return unix_from_utc(*t)


class LoraE5(LorawanModem):
    name = "lora_e5"
    PING = "AT"
    JOIN_CMD = "AT+JOIN"
    DR_QUERY = "AT+DR"
    TIME_REQUEST = "AT+LW=DTR"
    ENDS_WITH_DONE = True
    REPLY_BY_KEY = True

    @staticmethod
    def line_key(line):
        if not line.startswith("+"):
            return None
        end = line.find(":")
        return line[1:end] if end > 0 else None

    @staticmethod
    def parse(line):
        if not line.startswith("+"):
            return EV_NONE, None
        key, sep, rest = line[1:].partition(":")
        if not sep:
            return EV_NONE, None
        rest = rest.strip()
        if key in ("LOG", "INFO"):
            return EV_NONE, None  # debug output and notes ("+INFO: Input timeout"), no reply
        if rest.startswith("ERROR"):
            return _error(rest)
        if key in _TX_KEYS:
            return _tx_line(rest)
        if key == "AT":
            return (EV_OK, rest) if rest == "OK" else (EV_ERROR, None)
        return EV_OK, rest  # a setting echoed back: "+ADR: ON", "+DR: DR5", "+RESET: OK"

    def setup_commands(self, deveui, joineui, appkey, region, dr, adr, retries):
        if region not in ("EU868", "US915"):
            raise ValueError("lora_e5: unsupported region %r" % (region,))
        top = 5 if region == "EU868" else 4
        if dr < 0 or dr > top:
            raise ValueError("lora_e5: %s has DR0-%d, not DR%d" % (region, top, dr))
        sub_band = ("AT+CH=NUM,8-15",) if region == "US915" else ()
        return (
            (
                "AT",
                "AT+MODE=LWOTAA",
                "AT+DR=" + region,
            )
            + sub_band
            + (
                "AT+CLASS=A",
                'AT+ID=DevEui,"%s"' % deveui,
                'AT+ID=AppEui,"%s"' % joineui,
                'AT+KEY=APPKEY,"%s"' % appkey,
                "AT+ADR=" + ("ON" if adr else "OFF"),
                "AT+DR=%d" % dr,
                "AT+RETRY=%d" % retries,
            )
        )

    def read_time(self):
        ev, value = self.command("AT+RTC")
        if ev != EV_OK or not value:
            return None
        return rtc_unix(value)

    def _time_after_send(self):
        # the module announces no DeviceTimeAns: the uplink after AT+LW=DTR had a downlink
        # window (the answer is a MAC command in it), then its RTC holds the network time
        if self.time_pending and self._rx_window:
            self.time_pending = False
            self.time_answered = True

    def _prepare(self, port, confirmed):
        if self.port != port:
            ev, _ = self.command("AT+PORT=%d" % port)
            if ev != EV_OK:
                return self._status_to_result(ev)
            self.port = port
        return None

    def send_command(self, port, payload, confirmed):
        return ('AT+CMSGHEX="%s"' if confirmed else 'AT+MSGHEX="%s"') % tohex(payload)
