"""One interface for LoRaWAN AT-command modems on a UART (drivers/rak3172.py, drivers/lora_e5.py).

    m = Rak3172(uart)  or  LoraE5(uart)
    m.setup(deveui, joineui, appkey, region="EU868", dr=5, adr=True)  -> result
    m.join(timeout_ms)                     -> JOINED | JOIN_FAILED | BUSY | NO_CHANNEL | ...
    m.send(port, payload, confirmed, toa_ms=airtime)
                                           -> SENT | ACKED | NO_ACK | BUSY | NO_CHANNEL |
                                              NOT_JOINED | LENGTH | PARAM | ERROR | TIMEOUT
    m.downlink()                           -> (port, bytes) received since the last call, or None
    m.request_time()                       -> True: the next uplink carries a DeviceTimeReq
    m.network_time()                       -> unix seconds once the answer came (else None)
    m.joined, m.dr, m.wait_ms              link status: joined, data rate, modem-reported wait
    m.join_requests, m.empty_uplinks       what the radio sent that the caller did not ask for
                                           one by one (join retries, MAC flushes): counters

A command's reply is the first status line that belongs to it: RUI3 ends every command with a
status line; the LoRa-E5 prefixes every reply line with the command's name (`+DR: ...`), so a
line with another prefix (the second line of an earlier reply, an event) is never taken as the
reply (`REPLY_BY_KEY`).

Each dialect supplies `parse(line) -> (event, arg)` turning one reply line into an event; the
transaction logic here is shared. Every wait has a deadline (ticks_diff) and the UART is
injected. Reply lines are short text read once per command, not a hot path: they are decoded
into new strings (and a line split across UART reads is joined by concatenation), which the
cycle's heap budget covers. Keys go to the modem and nowhere else: nothing here logs a command line.
"""

import time

from micropython import const

# send/join results
SENT = const(0)  # unconfirmed uplink transmitted
ACKED = const(1)  # confirmed uplink acknowledged by the network
NO_ACK = const(2)  # confirmed uplink transmitted, no acknowledgement
BUSY = const(3)
NO_CHANNEL = const(4)  # duty cycle: no free channel / band closed (see wait_ms)
NOT_JOINED = const(5)
LENGTH = const(6)  # payload too long for the current data rate
ERROR = const(7)
TIMEOUT = const(8)  # the modem did not answer in time
JOINED = const(9)
JOIN_FAILED = const(10)
PARAM = const(11)
READY = const(12)  # setup done
RESULT_NAMES = (
    "sent", "acked", "no_ack", "busy", "no_channel", "not_joined", "length", "error", "timeout",
    "joined", "join_failed", "param", "ready",
)  # fmt: skip

# reply-line events
EV_NONE = const(0)  # unrelated or informational line
EV_OK = const(1)
EV_ERROR = const(2)
EV_PARAM = const(3)
EV_BUSY = const(4)
EV_NO_CHANNEL = const(5)  # arg: wait in ms, or -1
EV_NOT_JOINED = const(6)
EV_LENGTH = const(7)
EV_JOINED = const(8)
EV_JOIN_FAILED = const(9)
EV_TX_DONE = const(10)
EV_ACK = const(11)
EV_NO_ACK = const(12)
EV_RX = const(13)  # arg: (port, bytes)
EV_DONE = const(14)  # end of a transaction (LoRa-E5 "Done")
EV_BOOT = const(15)  # the modem (re)started
EV_VALUE = const(16)  # arg: text of a queried value
EV_RX_META = const(17)  # RSSI/SNR line of a downlink window; the data follows
EV_ACK_WAIT = const(18)  # confirmed uplink sent, waiting for the ACK
EV_TIMEOUT = const(19)  # no final status line before the deadline (command())
EV_TIME_OK = const(20)  # the network answered a DeviceTimeReq (RUI3 +EVT:TIMEREQ_OK)

# LoRaWAN network time (DeviceTimeAns) counts seconds since the GPS epoch, 1980-01-06: that is
# 315964800 unix seconds, and GPS time runs ahead of UTC by the leap seconds since (18 since 2017)
GPS_EPOCH_UNIX_S = const(315964800)
GPS_LEAP_S = const(18)
_EDGE_POLL_MS = const(50)  # reading the modem's clock until its second turns: +-50 ms
_EDGE_MAX_MS = const(1300)
# earliest plausible network time (2023-11-14): a modem clock before it was never set
_MIN_UNIX_S = 1700000000

_LINE = const(256)
_RX_END_MS = const(3000)  # from the end of an uplink to the end of its RX2 window, with margin
_TOA_GUESS_MS = const(3000)  # airtime assumed when the caller gives none (SF12, long frame)
_LINGER_MS = const(60)  # more lines of one reply follow within a few character times
_DOWN_MAX = const(4)
_DRAIN_MS = const(500)  # the most a drain outside a transaction may take


class ModemError(OSError):
    """The modem does not answer at all (wiring, power, baud rate)."""


def unhex(text):
    """bytes of a hex string (spaces allowed); ValueError if malformed."""
    t = text.replace(" ", "")
    if len(t) % 2:
        raise ValueError("odd hex length")
    out = bytearray(len(t) // 2)
    for i in range(len(out)):
        out[i] = int(t[2 * i : 2 * i + 2], 16)
    return bytes(out)


def tohex(data):
    h = "0123456789ABCDEF"
    out = []
    for b in data:
        out.append(h[b >> 4])
        out.append(h[b & 15])
    return "".join(out)


def unix_from_utc(y, mo, d, h, mi, s):
    """Unix seconds of a UTC date and time (proleptic Gregorian; no port's epoch involved)."""
    # days since 1970-01-01 by the civil-from-days inverse (H. Hinnant's algorithm)
    y -= mo <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (mo + (-3 if mo > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    return days * 86400 + h * 3600 + mi * 60 + s


class LorawanModem:
    name = "modem"
    CMD_TIMEOUT_MS = 2000
    SEND_TIMEOUT_MS = 15000
    JOIN_TIMEOUT_MS = 20000
    REPLY_BY_KEY = False  # replies carry the command's name (LoRa-E5)
    JOIN_RETRIES = 0  # join requests the modem repeats by itself after a failed one
    JOIN_RETRY_INTERVAL_MS = 0
    SENT_ON_OK = False  # an unconfirmed send may end with OK alone (RUI3 before TX_DONE)

    def __init__(self, uart):
        self.uart = uart
        self._part = b""
        self._op_deadline = None  # the deadline of the send/join in progress (commands inside it)
        self.joined = False
        self.dr = 0
        self.wait_ms = -1
        self.confirmed = None  # current confirmed mode in the modem (RAK: AT+CFM)
        self.port = None  # current port (LoRa-E5: AT+PORT)
        self.rebooted = False
        self._down = []
        self.lines = 0
        self.unknown = 0
        self.join_requests = 0  # join requests transmitted (each success or failure seen)
        self.empty_uplinks = 0  # uplinks without payload the modem sent on its own
        self.tx_done_seen = False  # this modem announces the end of a send (+EVT:TX_DONE)
        self.time_pending = False  # a DeviceTimeReq rides on the next uplinks until answered
        self.time_answered = False  # the network's DeviceTimeAns came: the modem's clock is set
        self._rx_window = False  # a downlink window had data or MAC commands (last send)

    # --- dialect hooks ---
    @staticmethod
    def parse(line):
        raise NotImplementedError

    @staticmethod
    def line_key(line):
        """The command name a reply line belongs to (REPLY_BY_KEY dialects), else None."""
        return None

    # --- line I/O ---
    def _write(self, text):
        self.uart.write(text.encode())
        self.uart.write(b"\r\n")

    def _readline(self, deadline):
        """One reply line as str (stripped), or None when the deadline passed.

        UART.readline returns what has arrived when its own timeout ends, which can be half a
        line; the start is kept until the rest arrives.
        """
        while time.ticks_diff(deadline, time.ticks_ms()) > 0:
            raw = self.uart.readline()
            if not raw:
                continue
            if raw[-1] != 10:  # no line end yet
                if len(self._part) + len(raw) > _LINE:
                    self._part = b""  # a line longer than any reply: noise
                self._part += raw
                continue
            if self._part:
                raw = self._part + raw
                self._part = b""
            try:
                line = raw.decode().strip()
            except UnicodeError:
                continue  # line noise
            if line:
                self.lines += 1
                return line
        return None

    def _event(self, line):
        ev, arg = self.parse(line)
        if ev == EV_BOOT:
            self.rebooted = True
            self.joined = False
            self.confirmed = None
            self.port = None
            self.time_pending = False  # the request was in the modem's RAM
            self.time_answered = False
        elif ev == EV_NOT_JOINED:
            self.joined = False
        elif ev == EV_RX:
            if len(self._down) < _DOWN_MAX:
                self._down.append(arg)
        elif ev == EV_JOINED:
            self.joined = True
            if arg is None:  # not "Joined already": a join request went out and was accepted
                self.join_requests += 1
        elif ev == EV_JOIN_FAILED:
            self.join_requests += 1
        elif ev == EV_TX_DONE:
            self.tx_done_seen = True
        elif ev == EV_TIME_OK:
            self.time_answered = True
            self.time_pending = False
        elif ev == EV_RX_META:
            self._rx_window = True
        elif ev == EV_NONE:
            self.unknown += 1
        return ev, arg

    def drain(self, deadline=None):
        """Read and interpret whatever the modem said on its own (events, a reboot banner, a
        join accepted after the modem's own retry), until it is quiet or `deadline` (default:
        _DRAIN_MS from now) passes: a modem that never goes quiet cannot hold the caller."""
        if deadline is None:
            deadline = time.ticks_add(time.ticks_ms(), _DRAIN_MS)
        while self.uart.any() and time.ticks_diff(deadline, time.ticks_ms()) > 0:
            line = self._readline(time.ticks_add(time.ticks_ms(), 50))
            if line is None:
                return
            self._unsolicited(self._event(line)[0])

    def _unsolicited(self, ev):
        """An event outside any transaction (dialects count what it tells)."""

    @staticmethod
    def command_key(text):
        """ "AT+DR=5" -> "DR", "AT" -> "AT": the name its reply lines carry."""
        if not text.startswith("AT+"):
            return "AT"
        end = text.find("=")
        return text[3:] if end < 0 else text[3:end]

    def command(self, text, timeout_ms=None):
        """Send one command; (event, value) of its final status line (EV_OK, EV_ERROR, ...)."""
        deadline = time.ticks_add(time.ticks_ms(), timeout_ms or self.CMD_TIMEOUT_MS)
        op = self._op_deadline
        if op is not None and time.ticks_diff(op, deadline) < 0:
            deadline = op  # a command inside a send or join never outlasts it
        self.drain(deadline)  # one deadline for the whole command, chatter included
        self._write(text)
        key = self.command_key(text) if self.REPLY_BY_KEY else None
        value = None
        while True:
            line = self._readline(deadline)
            if line is None:
                return EV_TIMEOUT, value
            ev, arg = self._event(line)
            if key is not None and self.line_key(line) != key:
                self._unsolicited(ev)
                continue  # a late line of an earlier reply, or an event: not ours
            if ev == EV_VALUE:
                value = arg
            elif ev == EV_OK:
                if key is not None:
                    self._linger(key)
                return ev, (arg if arg is not None else value)
            elif ev in (EV_ERROR, EV_PARAM, EV_BUSY, EV_NO_CHANNEL, EV_NOT_JOINED, EV_LENGTH):
                if ev == EV_NO_CHANNEL:
                    self.wait_ms = arg
                return ev, value

    def _linger(self, key):
        """Read the further lines of a multi-line reply (`+DR: DR4` then `+DR: EU868 DR4 ...`)."""
        t = time.ticks_add(time.ticks_ms(), _LINGER_MS)
        while True:
            line = self._readline(t)
            if line is None:
                return
            ev, _ = self._event(line)
            if self.line_key(line) != key:
                self._unsolicited(ev)
            else:
                t = time.ticks_add(time.ticks_ms(), _LINGER_MS)

    def _ok(self, text):
        ev, _ = self.command(text)
        return ev == EV_OK

    # --- the interface ---
    def alive(self):
        ev, _ = self.command(self.PING)
        return ev != EV_TIMEOUT

    def downlink(self):
        if self._down:
            return self._down.pop(0)
        return None

    def _transaction(self, deadline, confirmed, toa_ms):
        """Follow a send until its outcome; returns a result code."""
        acked = False
        started = False
        end_by_ok = None  # RUI3 without TX_DONE: the send is over once its RX windows are
        while True:
            wait_until = deadline
            if end_by_ok is not None and time.ticks_diff(end_by_ok, deadline) < 0:
                wait_until = end_by_ok
            line = self._readline(wait_until)
            if line is None:
                if end_by_ok is not None and time.ticks_diff(deadline, time.ticks_ms()) > 0:
                    return SENT  # RAK's own library takes OK as the end when no TX_DONE comes
                return TIMEOUT
            ev, arg = self._event(line)
            if ev == EV_OK:
                started = True
                if self.SENT_ON_OK and not confirmed and not self.tx_done_seen:
                    end_by_ok = time.ticks_add(time.ticks_ms(), toa_ms + _RX_END_MS)
                continue
            if ev == EV_TX_DONE:
                if not confirmed:
                    return SENT
                continue
            if ev == EV_ACK:
                acked = True
                if self.ENDS_WITH_DONE:
                    continue
                return ACKED
            if ev == EV_NO_ACK:
                return NO_ACK
            if ev == EV_DONE:
                if confirmed:
                    return ACKED if acked else NO_ACK
                return SENT
            if ev == EV_BUSY:
                if self.ENDS_WITH_DONE:
                    self._finish(deadline)
                return BUSY
            if ev == EV_NO_CHANNEL:
                self.wait_ms = arg
                if self.ENDS_WITH_DONE or not started:
                    # LoRa-E5 still ends with Done; RUI3 follows with AT_BUSY_ERROR
                    self._finish(deadline)
                return NO_CHANNEL
            if ev == EV_NOT_JOINED:
                self._finish(deadline)
                return NOT_JOINED
            if ev == EV_LENGTH:
                self._finish(deadline)
                return LENGTH
            if ev in (EV_ERROR, EV_PARAM):
                self._finish(deadline)
                return PARAM if ev == EV_PARAM else ERROR
            if ev == EV_BOOT:
                return ERROR

    def _finish(self, deadline):
        """Swallow the rest of a failed transaction (a final status or Done) briefly."""
        short = time.ticks_add(time.ticks_ms(), 200)
        if time.ticks_diff(deadline, short) < 0:
            short = deadline
        while self.uart.any() or time.ticks_diff(short, time.ticks_ms()) > 0:
            line = self._readline(short)
            if line is None:
                return
            ev, _ = self._event(line)
            if ev in (EV_DONE, EV_BUSY, EV_ERROR, EV_OK):
                return

    def _join_transaction(self, deadline, timeout_ms):
        failures = 0
        accepted = False
        while True:
            line = self._readline(deadline)
            if line is None:
                if accepted:
                    return JOINED  # "Network joined" without the Done (captures show both)
                # after a failed request the modem's own retry may still be waiting for its
                # sub-band: its outcome comes later and drain() takes it (joined, counted)
                return JOIN_FAILED if failures else TIMEOUT
            ev, arg = self._event(line)
            if ev == EV_JOINED:
                self.joined = True
                accepted = True
                if arg is not None or not self.ENDS_WITH_DONE:
                    return JOINED  # "Joined already" is the whole reply (no Done follows)
            elif ev == EV_JOIN_FAILED:
                failures += 1
                if failures <= self.JOIN_RETRIES:
                    # the modem tries again by itself after its interval: wait for that one too
                    deadline = time.ticks_add(
                        time.ticks_ms(), self.JOIN_RETRY_INTERVAL_MS + timeout_ms
                    )
                    continue
                if not self.ENDS_WITH_DONE:
                    return JOIN_FAILED
                self.joined = False
            elif ev == EV_DONE:
                return JOINED if self.joined else JOIN_FAILED
            elif ev == EV_BUSY:
                self._finish(deadline)
                return BUSY
            elif ev == EV_NO_CHANNEL:
                self.wait_ms = arg
                self._finish(deadline)
                return NO_CHANNEL
            elif ev in (EV_ERROR, EV_PARAM):
                return ERROR

    def join(self, timeout_ms=None):
        timeout_ms = timeout_ms or self.JOIN_TIMEOUT_MS
        deadline = time.ticks_add(time.ticks_ms(), timeout_ms)
        self.drain(deadline)
        self.wait_ms = -1
        self._write(self.JOIN_CMD)
        r = self._join_transaction(deadline, timeout_ms)
        if r == JOINED:
            self.joined = True
            self.query_dr()
        return r

    def send(self, port, payload, confirmed=False, timeout_ms=None, toa_ms=None):
        """Transmit one uplink; toa_ms (its airtime) bounds the wait for the end of an
        unconfirmed send on modems that do not announce it."""
        if port < 1 or port > 223:
            raise ValueError("LoRaWAN port must be 1..223")
        deadline = time.ticks_add(time.ticks_ms(), timeout_ms or self.SEND_TIMEOUT_MS)
        self.drain(deadline)  # one deadline for the whole send, chatter included
        self.wait_ms = -1
        self._op_deadline = deadline
        try:
            r = self._prepare(port, confirmed)
        finally:
            self._op_deadline = None
        if r is not None:
            return r
        self._rx_window = False
        self._write(self.send_command(port, payload, confirmed))
        r = self._transaction(deadline, confirmed, _TOA_GUESS_MS if toa_ms is None else toa_ms)
        if r in (SENT, ACKED, NO_ACK):
            self._grace()
            self._time_after_send()
        return r

    def _time_after_send(self):
        """A dialect whose modem announces no DeviceTimeAns decides here whether it came."""

    # --- network time (LoRaWAN DeviceTimeReq / DeviceTimeAns) ---
    def request_time(self):
        """Ask the network for the time with the next uplink; True if the modem took it."""
        ev, _ = self.command(self.TIME_REQUEST)
        if ev == EV_OK:
            self.time_pending = True
            self.time_answered = False
        return ev == EV_OK

    def read_time(self):
        """The modem's clock in whole unix seconds (UTC), or None (dialects)."""
        raise NotImplementedError

    def network_time(self):
        """Unix seconds (int) learnt from the network's DeviceTimeAns, read just as the modem's
        clock turns to a new second (so the whole second is exact to the poll interval), or
        None while no answer came or the modem's clock is not plausible. Once per answer."""
        if not self.time_answered:
            return None
        self.time_answered = False
        first = self.read_time()
        if first is None or first < _MIN_UNIX_S:
            return None
        deadline = time.ticks_add(time.ticks_ms(), _EDGE_MAX_MS)
        while time.ticks_diff(deadline, time.ticks_ms()) > 0:
            time.sleep_ms(_EDGE_POLL_MS)
            t = self.read_time()
            if t is None:
                return None
            if t != first:
                return t  # the second has just begun
        return first  # the clock did not turn: the whole second it showed, at worst 1 s late

    def _grace(self):
        # a downlink line may follow the final event by a few bytes' time
        t = time.ticks_add(time.ticks_ms(), 30)
        while self.uart.any() or time.ticks_diff(t, time.ticks_ms()) > 0:
            line = self._readline(t)
            if line is None:
                return
            self._event(line)

    def _prepare(self, port, confirmed):
        return None

    def setup(self, deveui, joineui, appkey, region="EU868", dr=5, adr=True, retries=0):
        """Configure OTAA with the keys, region and data rate; READY or the failing result."""
        for cmd in self.setup_commands(deveui, joineui, appkey, region, dr, adr, retries):
            ev, _ = self.command(cmd)
            if ev != EV_OK:
                return self._status_to_result(ev)
        self.rebooted = False
        self.joined = False
        self.dr = dr
        return READY

    def query_dr(self):
        ev, value = self.command(self.DR_QUERY)
        if ev == EV_OK and value:
            i = value.find("DR")  # "DR4" (LoRa-E5), "EU868 DR4 SF8" never read as 868
            digits = ""
            for ch in value[i + 2 :] if i >= 0 else value:
                if "0" <= ch <= "9":
                    digits += ch
                elif digits:
                    break
            if digits:
                self.dr = int(digits)
        return self.dr

    def _status_to_result(self, ev):
        return {EV_BUSY: BUSY, EV_NO_CHANNEL: NO_CHANNEL, EV_NOT_JOINED: NOT_JOINED,
                EV_LENGTH: LENGTH, EV_PARAM: PARAM, EV_TIMEOUT: TIMEOUT}.get(ev, ERROR)  # fmt: skip
