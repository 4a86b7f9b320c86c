"""LoRaWAN uplink through an AT-command modem (RAK3172 or LoRa-E5, picked by the board config).

Board config: `"modem": {"type": "rak3172" | "lora_e5", "uart": "modem"}`; keys (DevEUI,
JoinEUI, AppKey) from the secrets file, never logged. Station config `lorawan`: region, dr, adr,
confirmed, port, fair_use_s, join_retries.

Before every transmission (join or uplink) the airtime it will take is checked against the daily
fair-use budget and the sub-band duty cycle (firmware/airtime.py); when the budget is spent the
frame is not sent and the samples wait in the journal. Everything the radio sends is booked
(join limits, duty cycle, fair use, `airtime_ms`), also what the modem sends by itself: every
join request of a join command (RUI3 retries one), the empty uplinks with which RUI3 flushes
MAC answers or acknowledges a confirmed downlink (drivers count them: `join_requests`,
`empty_uplinks`). A send refused as too long (LENGTH, or RUI3's AT_PARAM_ERROR) re-reads the
data rate: the network may have lowered it (ADR). A frame counts as delivered when the modem
reports it transmitted (unconfirmed) or acknowledged (confirmed = true, the setting that makes
delivery end-to-end). OTAA joins back off exponentially (15 s .. 1 h, jitter) within the
LoRaWAN join airtime limits. Downlinks on the command port are handed to the station.

Network time: after each join, and then every `lorawan.time_sync_h` hours, the next uplink
carries a DeviceTimeReq (RUI3 `AT+TIMEREQ=1`, LoRa-E5 `AT+LW=DTR`); once the modem has the
answer its clock is read at the turn of a second and the station's clock set from it
(firmware/clock.py, `CLOCK.SET source=lorawan`). Each answer is a downlink: TTN allows some ten
a day, so the default (8 h) spends three.
"""

import random
import time

from micropython import const

import airtime
import clock
import codec
import diag
import lorawan_modem as lm
from uplink import Uplink

_MAX_WAIT_MS = const(30000)  # wait in the cycle for the band to reopen if it is at most this
_JOIN_BACKOFF_MIN_MS = const(15000)
_JOIN_BACKOFF_MAX_MS = const(3600000)
_CMD_PORT = codec.FPORT_COMMAND
_ACK_PORT = codec.FPORT_ACK
_STATUS_PORT = codec.FPORT_STATUS
_TIME_RETRY_S = const(3600)  # a refused time request is tried again after this
_RECEIPT_PORT = codec.FPORT_RECEIPT
_CHECK_RETRY_S = const(1800)  # after a failed link check: the next one (costs no downlink unheard)
_RECEIPTS_MAX = const(8)
_DAY_S = const(86400)
_SPARE_DOWNLINKS = const(2)  # planned aside: a reboot's join and time answer, a lost ACK
_DR_TOP = {"EU868": 5, "US915": 4}  # uplink data rates at 125 kHz and the one at 500 kHz


def _driver(kind, uart):
    if kind == "rak3172":
        from rak3172 import Rak3172

        return Rak3172(uart)
    if kind == "lora_e5":
        from lora_e5 import LoraE5

        return LoraE5(uart)
    raise ValueError("unknown modem type %r (rak3172, lora_e5)" % (kind,))


class LorawanUplink(Uplink):
    name = "lorawan"

    def __init__(self, cfg, secrets, hal, board_cfg):
        lw = cfg["lorawan"]
        self.region = lw["region"]
        self.adr = lw["adr"]
        self.dr_cfg = lw["dr"]
        self.confirmed = lw["confirmed"]
        self.join_retries = lw["join_retries"]
        s = secrets or {}
        self._keys = (
            s.get("lorawan_deveui", ""),
            s.get("lorawan_joineui", ""),
            s.get("lorawan_appkey", ""),
        )
        self.hal = hal
        self.modem = None
        spec = board_cfg.get("modem")
        if spec:
            try:
                self.modem = _driver(
                    spec.get("type"), hal.uart(spec.get("uart", "modem"), timeout_ms=100)
                )
            except (ValueError, OSError) as exc:
                diag.exception("LORAWAN.NO_MODEM", exc)
        else:
            diag.error("LORAWAN.NO_MODEM", None, reason="board config has no modem entry")
        self.duty = airtime.DutyCycle(self.region)
        self.join_limit = airtime.JoinLimit()
        self.pace = lw.get("pace", True)
        # the pace may run ahead by two full-length SF12 frames (after a quiet spell)
        self.pace_burst_ms = 2 * airtime.frame_ms(self.region, 0, 51) if self.pace else 0
        self.fair = airtime.FairUse(
            hal.fs_root + "/airtime.txt", lw["fair_use_s"] * 1000, self.pace_burst_ms
        )
        if self.dr_cfg > _DR_TOP.get(self.region, 5):
            # RUI3 and the LoRa-E5 refuse DR5 in US915 (DR0-4): say so, use the fastest one
            diag.error(
                "LORAWAN.CONFIG",
                None,
                reason="dr_not_in_region",
                dr=self.dr_cfg,
                region=self.region,
            )
            self.dr_cfg = _DR_TOP[self.region]
        self.airtime_ms = 0  # all airtime booked since start (joins, uplinks, modem's own)
        self._joins_booked = 0
        self._empties_booked = 0
        self.ready = False
        self.next_join = time.ticks_ms()
        self.join_failures = 0
        self.joins = 0
        self.inbox = []
        self._budget_day = -1
        self.results = {}
        self.time_sync_s = lw.get("time_sync_h", 8) * 3600
        self._time_due_s = None  # uptime at which to ask the network for the time (None: never)
        self.time_syncs = 0
        # link checks: one confirmed data uplink now and then; the network's ACK proves the link,
        # the application side's receipt (port _RECEIPT_PORT, in the same downlink) says which
        # records it has. Planned within `lorawan.downlinks_per_day` (docs/uplinks.md).
        self.receipts_on = lw.get("receipts", False) and not self.confirmed
        self.downlinks_per_day = lw.get("downlinks_per_day", 0)
        self.check_interval_s = check_interval_s(self.downlinks_per_day, self.time_sync_s)
        self._check_due_s = 0  # uptime at which the next data uplink goes confirmed
        self.link_down = False  # the last link check failed: send nothing but checks
        self._retry_s = _CHECK_RETRY_S
        self.link_losses = 0  # failed link checks (delivery re-sends what no receipt covered)
        self.checks = 0
        self.receipts = []  # (seq, n) receipts that arrived, oldest first
        self.receipts_in = 0  # receipts that arrived since start
        # a passed check whose receipt has not come: a real network server sends what the
        # application queued after the uplink only in a later uplink's RX window (docs/uplinks.md)
        self.receipt_owed = False
        # downlinks booked over any 24 hours (persisted like the airtime: reboots do not reopen
        # the budget): checks two each, time answers and join accepts one
        self.downlinks = airtime.FairUse(hal.fs_root + "/downlinks.txt", self.downlinks_per_day)
        self.last_result = None  # the modem's answer to the last send (lm.*), None: not sent

    # --- airtime ---
    def _book(self, toa_ms):
        self.fair.spend(toa_ms)
        self.duty.spend(toa_ms)
        self.airtime_ms += toa_ms

    def _book_modem_own(self):
        """Book what the modem transmitted beyond what was asked one by one: every join request
        (a join command may send several) and its own empty uplinks."""
        m = self.modem
        dr = min(m.dr, airtime.max_dr(self.region))
        while self._joins_booked < m.join_requests:
            self._joins_booked += 1
            toa = airtime.join_ms(self.region, dr)
            self.join_limit.spend(toa)
            self._book(toa)
        while self._empties_booked < m.empty_uplinks:
            self._empties_booked += 1
            self._book(airtime.frame_ms(self.region, dr, 0))

    # --- link ---
    def max_payload(self):
        if self.modem is None:
            return 0
        return airtime.max_payload(self.region, min(self.modem.dr, airtime.max_dr(self.region)))

    def _backoff(self, why, wait_ms=None):
        self.join_failures += 1
        if wait_ms is None or wait_ms < 0:
            b = _JOIN_BACKOFF_MIN_MS << min(self.join_failures - 1, 10)
            if b > _JOIN_BACKOFF_MAX_MS:
                b = _JOIN_BACKOFF_MAX_MS
            wait_ms = b - b // 4 + (random.getrandbits(16) * (b // 2)) // 65536
        self.next_join = time.ticks_add(time.ticks_ms(), wait_ms)
        diag.warn(
            "LORAWAN.JOIN_FAILED",
            self.modem.name,
            reason=why,
            retry_s=wait_ms // 1000,
            failures=self.join_failures,
        )

    def _band_ready(self):
        w = self.duty.wait_ms()
        if w == 0:
            return True
        if w > _MAX_WAIT_MS:
            return False
        time.sleep_ms(w)  # a short wait for the sub-band to reopen beats a lost cycle
        return True

    def _budget_ok(self, toa_ms):
        if self.pace:
            if self.fair.paced_allows(toa_ms, self.pace_burst_ms):
                return True
            if self.fair.allows(toa_ms):
                return False  # budget left today, but not yet earned: samples keep batching
        elif self.fair.allows(toa_ms):
            return True
        if self._budget_day != self.fair.day:
            self._budget_day = self.fair.day
            diag.warn(
                "LORAWAN.BUDGET", None, used_ms=self.fair.used_ms, budget_ms=self.fair.budget_ms
            )
        return False

    def connect(self):
        """Set the modem up and join (OTAA); bounded by the modem timeouts, never raises."""
        m = self.modem
        if m is None:
            return False
        m.drain()  # a late outcome of the modem's own join retry, its own uplinks
        self._book_modem_own()
        if m.rebooted:
            m.rebooted = False
            self.ready = False
            diag.warn("LORAWAN.MODEM_RESTARTED", m.name)
        if self.ready and m.joined:
            return True
        wait = time.ticks_diff(self.next_join, time.ticks_ms())
        if 0 < wait <= 2 * _JOIN_BACKOFF_MAX_MS:  # longer: an old deadline seen across the wrap
            return False
        if not (self._keys[0] and self._keys[1] and self._keys[2]):
            diag.error(
                "LORAWAN.NO_KEYS",
                None,
                missing=",".join(
                    n for n, k in zip(("deveui", "joineui", "appkey"), self._keys) if not k
                ),
            )
            self.next_join = time.ticks_add(time.ticks_ms(), _JOIN_BACKOFF_MAX_MS)
            return False
        if not self.ready:
            try:
                r = m.setup(
                    self._keys[0], self._keys[1], self._keys[2], self.region, self.dr_cfg, self.adr
                )
            except (ValueError, OSError) as exc:
                diag.exception("LORAWAN.SETUP", exc, m.name)
                r = lm.ERROR
            if r != lm.READY:
                self._backoff("setup_" + lm.RESULT_NAMES[r])
                return False
            self.ready = True
            m.dr = self.dr_cfg
        # a join command may send 1 + JOIN_RETRIES requests: all must fit the limits
        toa = airtime.join_ms(self.region, min(m.dr, airtime.max_dr(self.region))) * (
            1 + m.JOIN_RETRIES
        )
        if not self.join_limit.allows(toa):
            self._backoff("join_duty_limit", _JOIN_BACKOFF_MAX_MS)
            return False
        # joins count against the fair-use budget but are not paced (pacing batches data)
        if not self.fair.allows(toa) or not self._band_ready():
            return False
        r = m.join()
        self._book_modem_own()  # each join request the modem sent (RUI3 retries by itself)
        if r == lm.JOINED:
            self.joins += 1
            self.join_failures = 0
            self.downlinks.spend(1)  # the join accept (not refused: the station must join)
            diag.info("LORAWAN.JOINED", m.name, dr=m.dr, joins=self.joins)
            if self.time_sync_s:
                self._time_due_s = 0  # a new session: ask for the time with the first uplink
            return True
        if r == lm.TIMEOUT:
            self.ready = False  # the modem may have restarted: set it up again
        self._backoff(lm.RESULT_NAMES[r], m.wait_ms if r == lm.NO_CHANNEL else None)
        return False

    # --- frames ---
    def _tx(self, frame, port, confirmed):
        """Transmit with every check; True when delivered as configured."""
        m = self.modem
        n = len(frame)
        limit = self.max_payload()
        if n > limit:
            diag.warn("LORAWAN.LENGTH", m.name, bytes=n, max=limit, dr=m.dr)
            return False
        toa = airtime.frame_ms(self.region, min(m.dr, airtime.max_dr(self.region)), n)
        if not self._budget_ok(toa):
            return False
        if not self._band_ready():
            return False
        self._ask_time()
        r = m.send(port, frame, confirmed, toa_ms=toa)
        self.last_result = r
        self.results[r] = self.results.get(r, 0) + 1
        if r in (lm.SENT, lm.ACKED, lm.NO_ACK):
            self._book(toa)
            self._take_time()
        elif r in (lm.LENGTH, lm.PARAM):
            m.query_dr()  # the network lowered the data rate (ADR): the flush went out at it
        self._book_modem_own()
        while True:
            down = m.downlink()
            if down is None:
                break
            if down[0] == _CMD_PORT and len(self.inbox) < 4:
                self.inbox.append(down[1])
            elif down[0] == _RECEIPT_PORT and len(down[1]) == 3 and down[1][0] == 1:
                if len(self.receipts) >= _RECEIPTS_MAX:
                    self.receipts.pop(0)  # a newer receipt reaches at least as far
                self.receipts.append((down[1][1], down[1][2]))
                self.receipts_in += 1
        if r == lm.SENT and not confirmed:
            self.receipt_owed = False  # its window brought the receipt, or none is coming
        if r == lm.ACKED or (r == lm.SENT and not confirmed):
            return True
        if r == lm.NO_CHANNEL and m.wait_ms > 0:
            self.duty.free_at = time.ticks_add(time.ticks_ms(), m.wait_ms)
        elif r in (lm.TIMEOUT, lm.ERROR):
            self.ready = False
        diag.warn("LORAWAN.SEND", m.name, result=lm.RESULT_NAMES[r], bytes=n, port=port)
        return False

    # --- network time ---
    def _ask_time(self):
        """Put a DeviceTimeReq on this uplink when one is due (a refused request is tried again
        after an hour; an unanswered one again after the period)."""
        due = self._time_due_s
        if due is None or not self.modem.joined:
            return
        now_s = diag.uptime_ms() // 1000
        if now_s < due:
            return
        if self.modem.request_time():
            self._time_due_s = now_s + self.time_sync_s
            self.downlinks.spend(1)  # its answer (booked when asked: an unheard one is rare)
        else:
            # refused (busy, a firmware without the command): not at every uplink, each
            # attempt costs a command and a timeout may cost seconds
            self._time_due_s = now_s + min(self.time_sync_s, _TIME_RETRY_S)

    def _take_time(self):
        t = self.modem.network_time()
        if t is None:
            return
        try:
            clock.set_wall_time(self.hal, t, "lorawan")
        except ValueError as exc:
            diag.warn("LORAWAN.TIME", self.modem.name, reason=str(exc))
            return
        self.time_syncs += 1

    # --- link checks (receipts on) ---
    def _checked_send(self, frame, port):
        """A data uplink: unconfirmed, or confirmed when a link check is due. While the last
        check failed only checks go out (what is sent blind into an outage is lost)."""
        now_s = diag.uptime_ms() // 1000
        if now_s < self._check_due_s:
            if self.link_down:
                return False  # the samples wait in the journal for the next check
            return self._tx(frame, port, False)
        # a passed check costs two downlinks on a real network (the ACK, then the receipt the
        # application queues); an unheard one costs none, but is booked the same: the station
        # cannot tell it from a lost ACK
        if not self.downlinks.allows(2):
            self._check_due_s = now_s + _CHECK_RETRY_S  # budget spent: when some is free again
            if self.link_down:
                return False
            return self._tx(frame, port, False)
        self.last_result = None
        receipts_before = self.receipts_in
        ok = self._tx(frame, port, True)
        if not ok and self.last_result != lm.NO_ACK:
            # not a check: not sent (airtime budget, band, modem busy or failing); try again
            # with the next frame
            return False
        self.checks += 1
        self.downlinks.spend(2)
        if ok:
            if self.link_down:
                diag.info("LORAWAN.LINK_BACK", self.modem.name, checks=self.checks)
            self.link_down = False
            self.receipt_owed = self.receipts_in == receipts_before
            self._retry_s = _CHECK_RETRY_S
            self._check_due_s = now_s + self.check_interval_s
        else:
            if not self.link_down:
                self.link_losses += 1
                diag.warn("LORAWAN.LINK_LOST", self.modem.name, checks=self.checks)
            self.link_down = True
            # 30 min, then doubling up to the check interval: a day's outage spends a few
            self._check_due_s = now_s + self._retry_s
            self._retry_s = min(2 * self._retry_s, max(self.check_interval_s, _CHECK_RETRY_S))
        return ok

    def check_due(self):
        """True when the next data uplink would be a link check (one is due and fits the
        downlink budget)."""
        if not self.receipts_on or diag.uptime_ms() // 1000 < self._check_due_s:
            return False
        return self.downlinks.allows(2)

    def receipt(self):
        if self.receipts:
            return self.receipts.pop(0)
        return None

    def send(self, frame, port=1):
        if not self.connect():
            return False
        if self.receipts_on and port == codec.FPORT_DATA:
            return self._checked_send(frame, port)
        return self._tx(frame, port, self.confirmed)

    def send_ack(self, frame):
        return self.modem is not None and self.modem.joined and self._tx(frame, _ACK_PORT, False)

    def send_status(self, frame):
        return self.modem is not None and self.modem.joined and self._tx(frame, _STATUS_PORT, False)

    def poll(self):
        if self.inbox:
            return self.inbox.pop(0)
        return None


def check_interval_s(downlinks_per_day, time_sync_s):
    """Seconds between link checks: the day's downlink budget less the time answers, a join and
    a spare two, two downlinks a check; 0 when not even one check fits."""
    left = downlinks_per_day
    if time_sync_s:
        left -= (_DAY_S + time_sync_s - 1) // time_sync_s
    left -= 1 + _SPARE_DOWNLINKS  # a join accept now and then, a reboot's join and time answer
    if left < 2:
        return 0
    return _DAY_S // (left // 2)
