"""RAKwireless RAK3172 (RUI3 firmware) LoRaWAN modem: AT commands over a UART, 115200 8N1.

Replies (RUI3 AT command manual; RAK's RUI3 source RAKWireless/RAK-STM32-RUI, atcmd.c status
table): every command ends with a status line, `OK` or one of AT_ERROR, AT_PARAM_ERROR,
AT_BUSY_ERROR, AT_TEST_PARAM_OVERFLOW, AT_NO_CLASSB_ENABLE, AT_NO_NETWORK_JOINED, AT_RX_ERROR,
AT_MODE_NO_SUPPORT, AT_COMMAND_NOT_FOUND, AT_UNSUPPORTED_BAND (>= 4.1.0); a duty-cycle
restriction is announced as `Restricted_Wait_<ms>_ms` before the status. A query `AT+XXX=?`
answers `AT+XXX=<value>` first. Asynchronous events start with `+EVT:` and come in two
spellings across RUI3 versions (underscores, or spaces: `+EVT:SEND_CONFIRMED_OK` /
`+EVT:SEND CONFIRMED OK`); a downlink is one line `+EVT:RX_1:<rssi>:<snr>:UNICAST:<port>:<hex>`
(RUI3 4.x) or the older three lines `+EVT:RX_1, RSSI <r>, SNR <s>`, `+EVT:UNICAST`,
`+EVT:<port>:<hex>`.

What the firmware really does, and this driver therefore expects (issue 18):
- `AT+NWM=<m>` restarts the module every time, even when the mode does not change (>= 3.5.2
  prints a bare `OK` without line end first, 3.2.0-3.5.1 restart before printing): setup asks
  `AT+NWM=?` and sets the mode only when it differs, then waits for the module to come back.
- `+EVT:TX_DONE` ends an unconfirmed send only from SDK v4.0.4_236 on; before, `OK` is all
  there is (RAK's own library takes it as the end): the send is over once its RX windows are.
- `AT+JOIN=1:0:8:<n>`: n is a retry count, one command sends up to 1 + n join requests; every
  failure and success is counted in `join_requests`, a late `+EVT:JOINED` sets `joined`.
- a payload too long for the data rate gets AT_PARAM_ERROR (never AT_TEST_PARAM_OVERFLOW), after
  the module sent an empty uplink with its pending MAC answers; after a confirmed downlink or
  one with FPending it sends an empty uplink by itself and AT+SEND gets AT_BUSY_ERROR meanwhile.
  Both count in `empty_uplinks`; a send refused that way is tried once more when the modem is
  done.
- Network time: `AT+TIMEREQ=1` (only once joined, else AT_NO_NETWORK_JOINED) makes the next
  uplinks carry a DeviceTimeReq until the answer comes; then the module prints
  `+EVT:TIMEREQ_OK` and clears the request (RUI3 source, service_lora.c MLME_DEVICE_TIME).
  `AT+LTIME=?` answers `AT+LTIME=<hh>h<mm>m<ss>s on <MM>/<DD>/<YYYY>` in UTC (source:
  At_LocalTime prints "<cmd>=<time>", service_lora_get_local_time removes the 18 leap seconds
  from the GPS-based system time and prints month first; a field capture agrees). The manual's
  examples show `LTIME:` without the command and day first (`on 22/10/2021`): a first number
  above 12 is read as the day, both prefixes are accepted.
- US915: RUI3 enables all 72 channels; setup selects sub-band 2 (channels 8-15, where TTN's
  gateways listen) with AT+MASK=0002 and allows DR0-4 only.
"""

import time

from micropython import const

from lorawan_modem import (
    ACKED,
    BUSY,
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
    EV_TIME_OK,
    EV_TIMEOUT,
    EV_TX_DONE,
    EV_VALUE,
    NO_ACK,
    PARAM,
    READY,
    SENT,
    LorawanModem,
    tohex,
    unhex,
    unix_from_utc,
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
    "AT_UNSUPPORTED_BAND": EV_PARAM,  # the firmware build lacks the configured region
}
_BANDS = {"EU868": 4, "US915": 5}
_MAX_DR = {"EU868": 5, "US915": 4}
_RESTART_MS = const(3000)  # AT+NWM: until the module answers again
_AUTO_UPLINK_MS = const(6000)  # the modem's own empty uplink and its RX windows


def _rx(port_text, hex_text):
    try:
        port = int(port_text)
        data = unhex(hex_text)
    except ValueError:
        return EV_NONE, None
    if port < 1 or not data:
        return EV_RX_META, None  # an empty downlink (ACK or MAC only) carries no command
    return EV_RX, (port, data)


def ltime_unix(text):
    """`15h08m55s on 08/17/2026` (UTC) -> unix seconds, or None if it is not such a time."""
    try:
        hms, _, date = text.strip().partition(" on ")
        h, rest = hms.split("h")
        mi, rest = rest.split("m")
        s = rest.rstrip("s")
        a, b, y = date.split("/")
        mo, d = int(a), int(b)
        if mo > 12:  # the manual's examples put the day first
            mo, d = d, mo
        t = (int(y), mo, d, int(h), int(mi), int(s))
    except ValueError:
        return None
    if not (1 <= t[1] <= 12 and 1 <= t[2] <= 31 and t[3] < 24 and t[4] < 60 and t[5] < 61):
        return None
    return unix_from_utc(*t)


class Rak3172(LorawanModem):
    name = "rak3172"
    PING = "AT"
    JOIN_RETRIES = 1
    JOIN_RETRY_INTERVAL_MS = 8000
    # join now, no auto-join, 8 s between attempts, 1 retry: up to two join requests
    JOIN_CMD = "AT+JOIN=1:0:8:1"
    DR_QUERY = "AT+DR=?"
    TIME_REQUEST = "AT+TIMEREQ=1"
    ENDS_WITH_DONE = False
    SENT_ON_OK = True

    def __init__(self, uart):
        super().__init__(uart)
        self._owes = False  # a downlink arrived: the modem may send an empty uplink by itself
        self._in_auto = False  # the events now coming belong to such an uplink, already counted
        self._rx_in_send = 0

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
            if ev == "TIMEREQ_OK":
                return EV_TIME_OK, None
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
        if line.startswith("LTIME:"):  # the manual's spelling of the AT+LTIME=? answer
            return EV_VALUE, line[6:].strip()
        if "RAKwireless" in line or line.startswith("Current Work Mode"):
            return EV_BOOT, None
        return EV_NONE, None

    def read_time(self):
        ev, value = self.command("AT+LTIME=?")
        if ev != EV_OK or not value:
            return None
        return ltime_unix(value)

    def setup_commands(self, deveui, joineui, appkey, region, dr, adr, retries):
        band = _BANDS.get(region)
        if band is None:
            raise ValueError("rak3172: unsupported region %r" % (region,))
        if dr < 0 or dr > _MAX_DR[region]:
            raise ValueError("rak3172: %s has DR0-%d, not DR%d" % (region, _MAX_DR[region], dr))
        cmds = ["AT+NJM=1", "AT+CLASS=A", "AT+BAND=%d" % band]
        if region == "US915":
            cmds.append("AT+MASK=0002")  # sub-band 2: channels 8-15 (TTN)
        cmds += [
            "AT+DEVEUI=" + deveui,
            "AT+APPEUI=" + joineui,
            "AT+APPKEY=" + appkey,
            "AT+ADR=%d" % (1 if adr else 0),
            "AT+DR=%d" % dr,
            "AT+RETY=%d" % retries,
        ]
        return cmds

    def setup(self, deveui, joineui, appkey, region="EU868", dr=5, adr=True, retries=0):
        cmds = self.setup_commands(deveui, joineui, appkey, region, dr, adr, retries)
        ev, _ = self.command("AT")
        if ev != EV_OK:
            return self._status_to_result(ev)
        ev, mode = self.command("AT+NWM=?")
        if ev != EV_OK:
            return self._status_to_result(ev)
        if mode != "1":
            ev = self._switch_to_lorawan()
            if ev != EV_OK:
                return self._status_to_result(ev)
        for cmd in cmds:
            ev, _ = self.command(cmd)
            if ev != EV_OK:
                return self._status_to_result(ev)
        self.rebooted = False
        self.joined = False
        self.dr = dr
        return READY

    def _switch_to_lorawan(self):
        """AT+NWM=1 restarts the module: wait for it, then until it answers again."""
        self.drain()
        self._write("AT+NWM=1")
        deadline = time.ticks_add(time.ticks_ms(), _RESTART_MS)
        while True:
            line = self._readline(deadline)
            if line is None or self._event(line)[0] == EV_BOOT:
                break
        self._part = b""  # the bare OK of >= 3.5.2, if no banner completed it
        ev = EV_TIMEOUT
        for _ in range(3):
            ev, _ = self.command("AT", 500)
            if ev == EV_OK:
                break
        return ev

    def _unsolicited(self, ev):
        # the modem's own empty uplink shows as a downlink or a TX_DONE nobody asked for
        if ev == EV_RX:
            self._auto_evidence()
        elif ev == EV_TX_DONE:
            if self._in_auto:
                self._in_auto = False  # the end of the uplink already counted
            elif self._owes:
                self.empty_uplinks += 1
                self._owes = False

    def _auto_evidence(self):
        """A downlink we did not ask for came with the modem's own uplink (counted unless that
        uplink was counted already, by its AT_BUSY_ERROR); it may call for one more."""
        if not self._in_auto:
            self.empty_uplinks += 1
        self._in_auto = self.tx_done_seen  # its TX_DONE, on firmware that prints one, follows
        self._owes = True

    def send(self, port, payload, confirmed=False, timeout_ms=None, toa_ms=None):
        r = self._send_once(port, payload, confirmed, timeout_ms, toa_ms)
        if r == BUSY and self._owes:
            # the modem is sending its own empty uplink after the last downlink: count it,
            # let it finish, try once more
            self.empty_uplinks += 1
            self._owes = False
            self._in_auto = True
            self._settle(_AUTO_UPLINK_MS)
            r = self._send_once(port, payload, confirmed, timeout_ms, toa_ms)
        if r == PARAM:
            self.empty_uplinks += 1  # the MAC-answer flush RUI3 sends before refusing
        return r

    def _send_once(self, port, payload, confirmed, timeout_ms, toa_ms):
        self._rx_in_send = 0
        r = super().send(port, payload, confirmed, timeout_ms, toa_ms)
        if r in (SENT, ACKED, NO_ACK):
            self._in_auto = False
            # one downlink answers our uplink; any further one came with the modem's own
            for _ in range(self._rx_in_send - 1):
                self._auto_evidence()
            self._owes = self._rx_in_send > 0
        return r

    def _event(self, line):
        ev, arg = LorawanModem._event(self, line)
        if ev == EV_RX:
            self._rx_in_send += 1
        return ev, arg

    def _settle(self, ms):
        t = time.ticks_add(time.ticks_ms(), ms)
        while True:
            line = self._readline(t)
            if line is None:
                return
            ev, _ = self._event(line)
            self._unsolicited(ev)
            if ev == EV_TX_DONE:
                return

    def _prepare(self, port, confirmed):
        if self.confirmed is not confirmed:
            ev, _ = self.command("AT+CFM=%d" % (1 if confirmed else 0))
            if ev != EV_OK:
                return self._status_to_result(ev)
            self.confirmed = confirmed
        return None

    def send_command(self, port, payload, confirmed):
        return "AT+SEND=%d:%s" % (port, tohex(payload))
