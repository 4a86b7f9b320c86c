"""RAKwireless RAK3172 (RUI3 firmware) LoRaWAN modem: AT commands over a UART, 115200 8N1.

Replies (RUI3 AT command manual): every command ends with a status line, `OK` or one of
AT_ERROR, AT_PARAM_ERROR, AT_BUSY_ERROR, AT_TEST_PARAM_OVERFLOW, AT_NO_CLASSB_ENABLE,
AT_NO_NETWORK_JOINED, AT_RX_ERROR (plus AT_COMMAND_NOT_FOUND / AT_MODE_NO_SUPPORT on some
builds); a duty-cycle restriction is announced as `Restricted_Wait_<ms>_ms` before the status.
A query `AT+XXX=?` answers `AT+XXX=<value>` first. Asynchronous events start with `+EVT:` and come
in two spellings across RUI3 versions (underscores, or spaces: `+EVT:SEND_CONFIRMED_OK` /
`+EVT:SEND CONFIRMED OK`); a downlink is one line `+EVT:RX_1:<rssi>:<snr>:UNICAST:<port>:<hex>`
(RUI3 4.x) or the older three lines `+EVT:RX_1, RSSI <r>, SNR <s>`, `+EVT:UNICAST`,
`+EVT:<port>:<hex>`.
"""

from lorawan_modem import (
    EV_ACK,
    EV_BOOT,
    EV_BUSY,
    EV_ERROR,
    EV_JOIN_FAILED,
    EV_JOINED,
    EV_LENGTH,
    EV_NO_ACK,
    EV_NO_CHANNEL,
    EV_NONE,
    EV_NOT_JOINED,
    EV_OK,
    EV_PARAM,
    EV_RX,
    EV_RX_META,
    EV_TX_DONE,
    EV_VALUE,
    LorawanModem,
    tohex,
    unhex,
)

_STATUS = {
    "OK": EV_OK,
    "AT_ERROR": EV_ERROR,
    "AT_PARAM_ERROR": EV_PARAM,
    "AT_BUSY_ERROR": EV_BUSY,
    "AT_TEST_PARAM_OVERFLOW": EV_LENGTH,
    "AT_NO_CLASSB_ENABLE": EV_ERROR,
    "AT_NO_NETWORK_JOINED": EV_NOT_JOINED,
    "AT_RX_ERROR": EV_ERROR,
    "AT_COMMAND_NOT_FOUND": EV_ERROR,
    "AT_MODE_NO_SUPPORT": EV_ERROR,
}
_BANDS = {"EU868": 4, "US915": 5}


def _rx(port_text, hex_text):
    try:
        port = int(port_text)
        data = unhex(hex_text)
    except ValueError:
        return EV_NONE, None
    if port < 1 or not data:
        return EV_RX_META, None  # an empty downlink (ACK or MAC only) carries no command
    return EV_RX, (port, data)


class Rak3172(LorawanModem):
    name = "rak3172"
    PING = "AT"
    JOIN_CMD = "AT+JOIN=1:0:8:1"  # join now, no auto-join, 8 s interval, 1 attempt
    DR_QUERY = "AT+DR=?"
    ENDS_WITH_DONE = False

    @staticmethod
    def parse(line):
        st = _STATUS.get(line)
        if st is not None:
            return st, None
        if line.startswith("Restricted_Wait_") and line.endswith("_ms"):
            try:
                return EV_NO_CHANNEL, int(line[16:-3])
            except ValueError:
                return EV_NO_CHANNEL, -1
        if line.startswith("+EVT:"):
            body = line[5:].strip()
            ev = body.replace(" ", "_")
            if ev == "JOINED":
                return EV_JOINED, None
            if ev.startswith("JOIN_FAILED") or ev.startswith("JOIN_FAIL"):
                return EV_JOIN_FAILED, None
            if ev == "TX_DONE":
                return EV_TX_DONE, None
            if ev == "SEND_CONFIRMED_OK":
                return EV_ACK, None
            if ev.startswith("SEND_CONFIRMED_FAILED"):
                return EV_NO_ACK, None
            if ev.startswith("RX_"):
                parts = body.split(":")
                if len(parts) >= 6:  # RX_1:-70:8:UNICAST:port:hex
                    return _rx(parts[4], parts[5])
                if len(parts) == 5:  # data-less variant
                    return EV_RX_META, None
                return EV_RX_META, None  # "RX_1, RSSI -70, SNR 8": the data line follows
            if ev in ("UNICAST", "MULTICAST", "BCAST", "BROADCAST"):
                return EV_RX_META, None
            parts = body.split(":")
            if len(parts) == 2 and parts[0].isdigit():  # old spelling: "+EVT:<port>:<hex>"
                return _rx(parts[0], parts[1])
            return EV_NONE, None
        if line.startswith("AT+") and "=" in line:
            return EV_VALUE, line.split("=", 1)[1]
        if "RAKwireless" in line or line.startswith("Current Work Mode"):
            return EV_BOOT, None
        return EV_NONE, None

    def setup_commands(self, deveui, joineui, appkey, region, dr, adr, retries):
        band = _BANDS.get(region)
        if band is None:
            raise ValueError("rak3172: unsupported region %r" % (region,))
        return (
            "AT",
            "AT+NWM=1",
            "AT+NJM=1",
            "AT+CLASS=A",
            "AT+BAND=%d" % band,
            "AT+DEVEUI=" + deveui,
            "AT+APPEUI=" + joineui,
            "AT+APPKEY=" + appkey,
            "AT+ADR=%d" % (1 if adr else 0),
            "AT+DR=%d" % dr,
            "AT+RETY=%d" % retries,
        )

    def _prepare(self, port, confirmed):
        if self.confirmed is not confirmed:
            ev, _ = self.command("AT+CFM=%d" % (1 if confirmed else 0))
            if ev != EV_OK:
                return self._status_to_result(ev)
            self.confirmed = confirmed
        return None

    def send_command(self, port, payload, confirmed):
        return "AT+SEND=%d:%s" % (port, tohex(payload))
