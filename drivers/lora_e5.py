"""Seeed LoRa-E5 (STM32WLE5, RisingHF-style AT firmware) LoRaWAN modem over a UART, 9600 8N1.

Replies (LoRa-E5 AT command specification): every reply starts with `+<COMMAND>:`. Setting a
value echoes it (`+ADR: ON`, `+PORT: 2`); errors are `+<CMD>: ERROR(<code>)`. A send
(`AT+MSGHEX="..."` unconfirmed, `AT+CMSGHEX="..."` confirmed) is a transaction of several lines
ending in `Done`: `Start`, `Wait ACK`, `ACK Received`, `RXWIN1, RSSI <r>, SNR <s>`,
`PORT: <p>; RX: "<hex>"`, `Done`; or one of `Please join network first`, `No free channel`,
`No band in <ms>ms` (duty cycle), `LoRaWAN modem is busy`, `Length error <n>`, `DR error`.
A confirmed send without `ACK Received` before `Done` was not acknowledged. `AT+JOIN` ends with
`Done` too, after `Network joined` / `Joined already` or `Join failed`.
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
)

_TX_KEYS = ("MSGHEX", "CMSGHEX", "MSG", "CMSG", "JOIN")


def _error(rest):
    # ERROR(-11): command format error; ERROR(-10): unknown command; others: generic
    if rest.startswith("ERROR(-11)") or rest.startswith("ERROR(-2)"):
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
    if rest.startswith("Network joined") or rest.startswith("Joined already"):
        return EV_JOINED, None
    if rest.startswith("Join failed"):
        return EV_JOIN_FAILED, None
    if rest.startswith("NetID"):
        return EV_NONE, None
    return EV_NONE, None


class LoraE5(LorawanModem):
    name = "lora_e5"
    PING = "AT"
    JOIN_CMD = "AT+JOIN"
    DR_QUERY = "AT+DR"
    ENDS_WITH_DONE = True

    @staticmethod
    def parse(line):
        if not line.startswith("+"):
            return EV_NONE, None
        key, sep, rest = line[1:].partition(":")
        if not sep:
            return EV_NONE, None
        rest = rest.strip()
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
        return (
            "AT",
            "AT+MODE=LWOTAA",
            "AT+DR=" + region,
            "AT+CLASS=A",
            'AT+ID=DevEui,"%s"' % deveui,
            'AT+ID=AppEui,"%s"' % joineui,
            'AT+KEY=APPKEY,"%s"' % appkey,
            "AT+ADR=" + ("ON" if adr else "OFF"),
            "AT+DR=%d" % dr,
            "AT+RETRY=%d" % retries,
        )

    def _prepare(self, port, confirmed):
        if self.port != port:
            ev, _ = self.command("AT+PORT=%d" % port)
            if ev != EV_OK:
                return self._status_to_result(ev)
            self.port = port
        return None

    def send_command(self, port, payload, confirmed):
        return ('AT+CMSGHEX="%s"' if confirmed else 'AT+MSGHEX="%s"') % tohex(payload)
