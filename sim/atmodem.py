"""Common core of the simulated LoRaWAN AT modems (sim/rak3172.py, sim/lora_e5.py).

A model is a SimUART peer: `receive(data, now_us)` collects command lines, each dialect turns
them into replies sent with `self.uart.send_to_host(bytes, delay_us)`, so replies take wire time
and radio time in virtual time. The radio side: time on air from the data rate and PHY length,
the EU868 sub-band 1 % duty cycle enforced like a certified modem does (refusing to transmit
while the band is closed), join accept 5 s and RX1 1 s after the end of a transmission, and
every transmission printed as `@@RF tx kind=<join|up> dr= bytes= toa_ms= t=` so a test can
check the airtime the station really used. The network side is sim/netserver.py.

Faults (`inject(kind, count=1)`): busy, nochannel, noack, joindeny, reboot (the modem restarts
when the next command arrives: the command is lost, a boot banner is sent, the session is gone).

What a modem does later on its own (a join retry 8 s after a failed attempt, an empty uplink
after a downlink with FPending) is a timer (`after(at_us, fn)`): the simulated UART asks
`next_tx_us()` while the firmware waits and runs due timers in `poll()`, at their own virtual
time. Command replies go out with `reply()` at their own time, so they can overtake an event
scheduled earlier for later (sim/uart.py `queued=False`), as on a real UART.

`empty_uplinks`, `join_requests` and `airtime_ms` count what the radio really sent, for tests
that compare it with what the station booked.
"""

import airtime

from sim import netserver, vtime

_CMD_US = 3000  # command processing time
_RX1_US = 1000000
_JOIN_ACCEPT_US = 5000000
_RX_WINDOW_US = 100000


def time_gmtime(unix_s):
    """gmtime for any unix second, also before 1970 (an unset RUI3 clock)."""
    if unix_s < 0:  # RUI3's unset clock: the last minute of 1969 (the first 18 s after power-on)
        return (1969, 12, 31, 23, 59, unix_s % 60)
    return vtime.gmtime(unix_s)


class AtModemModel:
    BANNER = b""
    CLOCK_AT_POWER_ON_S = (
        946684800  # the module's clock (UTC) after power-on, until the network sets it
    )

    def __init__(self, env=None, region="EU868", deveui="", **_):
        # the DevEUI the module left the factory with (in its flash: kept across power cycles);
        # AT+DEVEUI / AT+ID=DevEui override it until the next power-on
        self.factory_deveui = deveui.upper()
        self.uart = None
        self.env = env
        self._buf = bytearray()
        self.region = region
        self.faults = {}
        self.commands = 0
        self.tx_log = []  # last transmissions: (t_s, kind, dr, phy_bytes, toa_ms)
        self.airtime_ms = 0
        self.join_requests = 0
        self.empty_uplinks = 0
        self._timers = []  # [(at_us, fn)] sorted
        self.power_on()

    def power_on(self):
        self.joined = False
        self.nwm = 1
        self.njm = 1
        self.deveui = self.factory_deveui
        self.appeui = ""
        self.appkey = ""
        self.adr = True
        self.dr = 0
        self.confirmed = False
        self.retries = 0
        self.port = 1
        self.fcnt = 0
        self.band_free_us = 0
        self.busy_until_us = 0
        self.mac_pending = False  # a MAC answer waits for the next uplink (after LinkADRReq)
        self._timers = []
        self.time_req = False  # a DeviceTimeReq rides on every uplink until it is answered
        self.time_set = False  # the last uplink brought a DeviceTimeAns
        # the module's own clock (UTC): unix microseconds at virtual time _clock_at_us; its
        # crystal is taken as exact (what matters here is the station's RTC)
        self._clock_us = self.CLOCK_AT_POWER_ON_S * 1000000
        self._clock_at_us = vtime.now_us()

    def power_cycle(self, now_us):
        """The station's power cut also cuts the modem: RAM, session and settings are gone."""
        self._buf[:] = b""
        self.power_on()

    # --- simulation side ---
    def inject(self, kind, count=1):
        if kind not in ("busy", "nochannel", "noack", "joindeny", "reboot"):
            raise ValueError("modem fault %r unknown" % kind)
        self.faults[kind] = self.faults.get(kind, 0) + count

    def _take(self, kind):
        n = self.faults.get(kind, 0)
        if n > 0:
            self.faults[kind] = n - 1
            return True
        return False

    def receive(self, data, now_us):
        self._buf.extend(data)
        while True:
            i = self._buf.find(b"\n")
            if i < 0:
                if len(self._buf) > 600:
                    self._buf[:] = b""  # garbage without a line end: a real modem drops it
                return
            line = bytes(self._buf[:i]).strip()
            self._buf[: i + 1] = b""
            if not line:
                continue
            try:
                text = line.decode()
            except UnicodeError:
                continue
            self.commands += 1
            if self._take("reboot"):
                self.power_on()
                self.say_raw(self.BANNER, 20000)
                continue
            self.handle(text)

    # --- timers: what the modem does later by itself ---
    def after(self, at_us, fn):
        self._timers.append((at_us, fn))
        self._timers.sort(key=lambda t: t[0])

    def next_tx_us(self):
        return self._timers[0][0] if self._timers else None

    def poll_due(self, now_us):
        return bool(self._timers) and self._timers[0][0] <= now_us

    def poll(self, now_us):
        while self._timers and self._timers[0][0] <= now_us:
            at, fn = self._timers.pop(0)
            fn(at)

    # --- replies ---
    def say(self, text, delay_us=_CMD_US):
        """A line after everything already on its way (the next line of a transaction)."""
        self.uart.send_to_host(text.encode() + b"\r\n", delay_us)

    def say_at(self, text, at_us):
        self.uart.send_to_host(text.encode() + b"\r\n", 0, at_us)

    def reply(self, text, end=b"\r\n"):
        """The answer to a command: at its own time, before events scheduled for later."""
        self.uart.send_to_host(text.encode() + end, _CMD_US, None, False)

    def say_raw(self, data, delay_us=_CMD_US):
        if data:
            self.uart.send_to_host(data, delay_us)

    # --- radio ---
    def toa_ms(self, phy_bytes):
        dr = min(self.dr, airtime.max_dr(self.region))
        sf, bw, _ = airtime._table(self.region)[dr]
        return (airtime.time_on_air_us(sf, bw, phy_bytes) + 999) // 1000

    def band_wait_ms(self):
        w = (self.band_free_us - vtime.now_us()) // 1000
        return w if w > 0 else 0

    def _transmit(self, kind, phy_bytes, at_us=None):
        toa = self.toa_ms(phy_bytes)
        now = vtime.now_us() if at_us is None else at_us
        self.airtime_ms += toa
        if kind == "join":
            self.join_requests += 1
        elif kind == "empty":
            self.empty_uplinks += 1
        self.book_duty(now, toa)
        self.tx_log.append((now // 1000000, kind, self.dr, phy_bytes, toa))
        if len(self.tx_log) > 32:
            self.tx_log.pop(0)  # the full record is in the @@RF lines
        if not netserver.quiet:
            print(
                "@@RF tx kind=%s dr=%d bytes=%d toa_ms=%d t=%d"
                % (kind, self.dr, phy_bytes, toa, now // 1000000)
            )
        return toa

    def book_duty(self, now_us, toa_ms):
        """The sub-band closes for 99 x the airtime after each transmission (ETSI 1 %)."""
        if airtime._DUTY.get(self.region, 0):
            self.band_free_us = now_us + toa_ms * 1000 * airtime._DUTY[self.region]

    def do_join(self, at_us=None):
        """Transmit a join request; returns (ok, delay_us until the outcome is known)."""
        toa = self._transmit("join", airtime.JOIN_REQUEST, at_us)
        if self._take("joindeny"):
            ok = False
        else:
            ok = netserver.join(self.deveui)
        if ok:
            self.joined = True
            self.fcnt = 0
            return True, toa * 1000 + _JOIN_ACCEPT_US + _RX_WINDOW_US
        return False, toa * 1000 + _JOIN_ACCEPT_US + 1000000 + _RX_WINDOW_US  # both windows empty

    def clock_unix_s(self, now_us=None):
        """The module's clock, whole unix seconds (UTC)."""
        now_us = vtime.now_us() if now_us is None else now_us
        return (self._clock_us + now_us - self._clock_at_us) // 1000000

    def _device_time(self, tx_end_us):
        """The DeviceTimeReq on an uplink that ended at `tx_end_us`: True when answered (the
        module's clock is then set from the GPS time, as LoRaMac-node does)."""
        self.time_set = False
        if not self.time_req:
            return False
        ans = netserver.device_time(self.deveui, tx_end_us)
        if ans is None:
            return False
        gps_s, frac = ans
        self._clock_us = (
            gps_s + netserver.GPS_EPOCH_UNIX_S - netserver.GPS_LEAP_S
        ) * 1000000 + frac * 1000000 // 256
        self._clock_at_us = tx_end_us
        self.time_req = False
        self.time_set = True
        return True

    def do_uplink(self, port, payload, confirmed):
        """Transmit an uplink; returns (acked, downlink, delay_us until the outcome is known).

        A pending MAC answer rides along in FOpts (not in the application payload)."""
        self.mac_pending = False
        toa = self._transmit("up", len(payload) + airtime.OVERHEAD)
        self.fcnt += 1
        acked, down = netserver.uplink(self.deveui, self.fcnt, port, payload, self.dr, confirmed)
        if confirmed and self._take("noack"):
            acked, down = False, None
        self._mac_commands()
        if self._device_time(vtime.now_us() + toa * 1000) or acked or down is not None:
            return acked, down, toa * 1000 + _RX1_US + _RX_WINDOW_US
        return acked, down, toa * 1000 + _RX1_US + 1000000 + _RX_WINDOW_US

    def do_empty_uplink(self, at_us=None):
        """An uplink without payload (FOpts only): a MAC answer or an ACK of a confirmed
        downlink that the modem sends by itself. Returns (airtime in ms, downlink or None)."""
        self.mac_pending = False
        toa = self._transmit("empty", airtime.OVERHEAD, at_us)
        self.fcnt += 1
        down = netserver.empty_uplink(self.deveui, self.fcnt, self.dr)
        self._mac_commands()
        return toa, down

    def _mac_commands(self):
        # LinkADRReq from the server: the modem takes the new data rate, the answer waits
        dr = netserver.take_adr(self.deveui)
        if dr is not None:
            self.dr = dr
            self.mac_pending = True

    def max_payload(self):
        return airtime.max_payload(self.region, min(self.dr, airtime.max_dr(self.region)))
