"""The station cycle: wake, sample, check, encode, hand to the uplink, sleep.

    st = Station(hal, board_cfg)
    st.boot()        # config, banner, sensors, uplink
    st.run()         # forever (the simulated board ends it with SimStop)

One cycle (`cycle()`): read every fitted sensor (a failing one never stops the others), merge
duplicate channels by priority, mark warm-up / fault / implausible per channel, build the sample,
encode it and send it. Timing: cycles start on a fixed schedule (boot + k * interval_s) so sleep
time absorbs the cycle's own duration and the schedule does not drift.
"""

import gc
import time

import bootid
import clock
import codec
import config
import diag
import lifecycle
import sample as S
import sensors
from version import VERSION

# channels checked for stuck values, and how many identical consecutive readings mean "stuck"
_STUCK_RUN = 6
_STUCK_CHANNELS = (S.TEMPERATURE, S.HUMIDITY, S.PRESSURE, S.CO2)


class Station:
    def __init__(self, hal, board_cfg):
        self.hal = hal
        self.board_cfg = board_cfg
        self.cfg = None
        self.secrets = None
        self.sample = S.Sample()
        self.frame = bytearray(256)
        self.slots = []
        self.uplink = None
        self.seq = 0
        self.boot_id = 0  # this boot's number, kept on flash (bootid.py)
        self.cycles = 0
        self.uplinked = 0
        self.failed_sends = 0
        self.delivery = None
        self._last = [None] * S.N_CHANNELS
        self._same = [0] * S.N_CHANNELS
        self.reboot_pending = False  # set by a reboot command; act after its ack is sent
        self.status_pending = False  # set by a status request (commands.status_frame)

    # --- boot ---
    def boot(self):
        diag.reset_uptime()
        clock.reset()  # uptimes start again: an offset learnt in an earlier boot means nothing now
        # the reset is counted before anything that could fail: a crash while reading the config
        # (or anywhere after) still leads to safe mode instead of a crash loop
        self.life = lifecycle.Lifecycle(self.hal)
        self.reset_info = self.life.on_boot()
        self.crumbs = self.life.crumbs
        self.crumbs.enter("config")
        # counted on flash (RTC memory forgets a power cut): uptime records name their boot
        self.boot_id = bootid.advance(self.hal.fs_root)
        cfg, source = self._load_config()
        self.cfg = cfg
        diag.set_level("DIWE".index(cfg["log_level"]))
        sm = cfg["safe_mode"]
        self.life.limits(sm["resets"], sm["window_s"], sm["hold_s"])
        diag.info(
            "BOOT",
            "climate-station",
            fw=VERSION,
            board=self.hal.name,
            station=cfg["station_id"],
            config=config.digest(cfg),
            config_source=source,
            uid=self.hal.unique_id(),
            boot_id=self.boot_id,
            **self.reset_info,
        )
        self.seq = self._restore_seq()
        if self.life.safe_mode:
            diag.warn(
                "SAFE.ACTIVE",
                None,
                remaining_s=self.life.remaining_s(),
                resets=self.reset_info["unexpected_resets"],
            )
            return
        self.slots = sensors.build(self.board_cfg, diag.log, cfg["interval_s"])
        diag.info(
            "SENSORS",
            None,
            fitted=",".join(s.name for s in self.slots) or "none",
            interval_s=cfg["interval_s"],
        )
        self.uplink = self._make_uplink(cfg)
        self.delivery = self._open_delivery(cfg)
        self.uplink.status_frame = self._status_frame  # e.g. MQTT publishes one after connecting
        self.uplink.connect()

    def _load_config(self):
        """(cfg, source); config.load never raises for bad content, and if reading fails in a way
        it did not foresee the station still comes up on its defaults and says so."""
        try:
            cfg, source = config.load(self.hal.fs_root, diag.log)
        except Exception as exc:  # no config problem may stop the station
            diag.exception("CONFIG.INVALID", exc, None, problem="config not loadable")
            cfg, source = config.defaults(), "defaults"
        try:
            self.secrets = config.load_secrets(self.hal.fs_root, diag.log)
        except Exception as exc:  # as above; secrets are never echoed
            diag.error(
                "SECRETS.INVALID", None, problem="secrets not loadable", exc=type(exc).__name__
            )
            self.secrets = config.defaults(config.SECRETS_SCHEMA)
        return cfg, source

    def _make_uplink(self, cfg):
        import uplink

        kind = cfg["uplink"]
        if kind == "file":
            return uplink.FileUplink(self.hal.fs_root + "/frames.txt")
        if kind == "console":
            return uplink.ConsoleUplink()
        try:
            if kind == "mqtt":
                import uplink_mqtt

                return uplink_mqtt.MqttUplink(cfg, self.secrets, self.hal)
            if kind == "lorawan":
                import uplink_lorawan

                return uplink_lorawan.LorawanUplink(cfg, self.secrets, self.hal, self.board_cfg)
        except ImportError as exc:
            diag.exception("UPLINK.UNAVAILABLE", exc, kind)
        return uplink.ConsoleUplink()

    def _open_delivery(self, cfg):
        import delivery
        import journal

        jnl = journal.Journal(self.hal.fs_root, max_bytes=cfg["journal"]["max_bytes"]).open()
        if jnl.last_seq > self.seq:
            self.seq = jnl.last_seq  # RTC memory does not survive a power cut; the journal does
        timeout_ms = 0
        if cfg["uplink"] == "mqtt" and cfg["mqtt"]["receipts"]:
            timeout_ms = cfg["mqtt"]["receipt_timeout_s"] * 1000
        checked_link = False
        up = self.uplink
        if up.name == "lorawan" and up.receipts_on and up.check_interval_s:
            # receipts come with the link checks: one missed is a check interval; a receipt
            # with a gap before its run is final (the frames were lost), re-send at once
            timeout_ms = 2 * up.check_interval_s * 1000
            checked_link = True
        d = delivery.Delivery(jnl, self.uplink, self.frame, timeout_ms)
        d.checked_link = checked_link
        d.boot_first_seq = (self.seq + 1) & 0xFFFFFFFF  # records from here on are this boot's
        d.boot_id = self.boot_id
        return d

    def deliver(self, frame):
        """Journal the frame first, then drain the journal through the uplink (delivery.py)."""
        d = self.delivery
        d.store(self.seq, frame)
        self.uplinked += d.drain(self.cfg["interval_s"] * 500, min_pending=self.cfg["batch"])
        if d.j.pending:
            self.failed_sends += 1
        d.downlinks(self.handle_downlink)
        if self.status_pending:
            self.status_pending = False
            d.send_status()
        self.uplink.sleep(self.cfg["interval_s"] * 1000)
        if self.reboot_pending:
            self.reboot_pending = False
            diag.warn("REBOOT", None, reason="command")
            self._save_seq()
            self.crumbs.set_reason("command")  # a requested reset, not a crash: never counted
            self.hal.reset()

    def _status_frame(self, buf):
        import commands

        return commands.status_frame(self, buf)

    def handle_downlink(self, payload):
        """Check and apply one downlink command (firmware/commands.py); returns the ack frame."""
        import commands

        return commands.apply(self, payload)

    def _restore_seq(self):
        return self.crumbs.seq  # RTC memory; the journal corrects it after a power cut

    def _save_seq(self):
        self.crumbs.seq = self.seq
        self.crumbs.save()

    # --- one cycle ---
    def read_sensors(self, smp, now_ms):
        """Read all sensors into smp: merged values, fault and warm-up bits."""
        log = diag.log
        sensors.use_config(self.cfg)  # settings a command may have changed (e.g. scd4x.asc)
        for slot in self.slots:
            slot.prepare(log)  # e.g. wake the particle sensors: their warm-ups overlap
        for slot in self.slots:
            ok = slot.read(self.hal, now_ms, log, smp.values)
            warm = slot.warming_up(now_ms)
            for ch in slot.channels:
                bit = 1 << ch
                v = slot.vals[ch]
                if smp.values[ch] is not None or (smp.implausible & bit):
                    continue  # a higher-priority sensor already delivered this channel
                if not ok or v is None:
                    if ok and warm:
                        smp.warmup |= bit  # warming up, no value yet (VOC index blackout)
                    else:
                        smp.fault |= bit
                    continue
                smp.fault &= ~bit
                smp.set(ch, v)
                if warm:
                    smp.warmup |= bit
                else:
                    smp.warmup &= ~bit
            if ok:
                diag.info("SENSE.OK", slot.name, **_fields(slot))
        for slot in self.slots:
            slot.feedback(smp.values, log)  # e.g. this cycle's pressure to the SCD4x

    def check_plausibility(self, smp):
        for ch in _STUCK_CHANNELS:
            v = smp.values[ch]
            if v is None:
                self._same[ch] = 0
                continue
            if v == self._last[ch] and not (ch == S.HUMIDITY and v >= 100.0):
                self._same[ch] += 1
            else:
                self._same[ch] = 0
            self._last[ch] = v
            if self._same[ch] >= _STUCK_RUN - 1:
                smp.implausible |= 1 << ch
        rh = smp.values[S.HUMIDITY]
        if rh is not None and codec.rh_high(rh):  # the format's rule: every decoder agrees
            smp.flags |= S.FLAG_RH_HIGH
        if smp.implausible:
            diag.warn("SENSE.IMPLAUSIBLE", None, channels=_mask_names(smp.implausible))

    def build_sample(self):
        smp = self.sample
        smp.clear()
        now_ms = time.ticks_ms()
        self.read_sensors(smp, now_ms)
        bat = self.hal.battery_v()
        if bat is not None:
            smp.set(S.BATTERY, bat)
        self.check_plausibility(smp)
        self.seq = (self.seq + 1) & 0xFFFFFFFF
        smp.seq = self.seq
        if self.hal.time_synced():
            smp.time = time.time()
            smp.flags |= S.FLAG_CLOCK_SYNCED
        else:
            smp.time = int(diag.uptime_s())
            smp.boot = self.boot_id  # an uptime means something only with its boot
        return smp

    def cycle(self):
        gc.collect()  # each cycle starts from the live data alone (sim/heap.py measures here)
        self._cycle()
        self.hal.feed()

    def _cycle(self):
        self.crumbs.enter("sense")
        smp = self.build_sample()
        fields = {"seq": smp.seq}
        for i in range(S.N_CHANNELS):
            if smp.values[i] is not None:
                fields[S.KEYS[i]] = smp.values[i]
        fields["health"] = "%x/%x/%x/%x" % (smp.fault, smp.warmup, smp.implausible, smp.flags)
        diag.info("SAMPLE", None, **fields)
        self.crumbs.enter("encode")
        # a journal record: absolute time (it may wait); delivery re-encodes it with `now`
        n = codec.encode_sample(smp, self.frame)
        self.crumbs.enter("uplink")
        self.deliver(memoryview(self.frame)[:n])
        self._save_seq()
        self.cycles += 1

    def run(self, max_cycles=None):
        """Run cycles forever (or max_cycles). Returns at once in safe mode (REPL stays usable)."""
        if self.life.safe_mode:
            self.safe_mode()
            return
        interval_ms = self.cfg["interval_s"] * 1000
        # a healthy cycle feeds the watchdog; a hang longer than one interval plus margin resets
        self.hal.watchdog(interval_ms + max(60000, interval_ms // 2))
        next_at = time.ticks_ms()
        while max_cycles is None or self.cycles < max_cycles:
            try:
                self.cycle()
            except Exception as exc:  # a cycle bug must not kill the station
                diag.exception("CYCLE.ERROR", exc)
            next_at = time.ticks_add(next_at, interval_ms)
            wait = time.ticks_diff(next_at, time.ticks_ms())
            if wait < 0:
                # the cycle overran: skip the missed slots instead of bursting
                missed = (-wait) // interval_ms + 1
                next_at = time.ticks_add(next_at, missed * interval_ms)
                wait = time.ticks_diff(next_at, time.ticks_ms())
                diag.warn("CYCLE.OVERRUN", None, skipped=missed)
            self.crumbs.enter("sleep")
            self.hal.sleep_ms(wait)

    def safe_mode(self):
        """Crash loop: no cycle. Report, try one status frame, schedule the resume, return."""
        life = self.life
        self.crumbs.enter("safe")
        hold_ms = life.remaining_s() * 1000
        diag.error(
            "SAFE.ENTER",
            None,
            hold_s=life.remaining_s(),
            last_phase=self.reset_info["last_phase"],
            last_reason=self.reset_info["last_reason"],
        )
        try:
            self.send_status()
        except Exception as exc:  # safe mode must come up whatever else is broken
            diag.exception("SAFE.STATUS_FAILED", exc)
        self.hal.schedule_reset(hold_ms, life.expire)

    def send_status(self):
        """One status frame through the uplink, the way a status request sends it (delivery.py)."""
        if self.delivery is None:
            return False  # no uplink is opened in safe mode (boot() returns before)
        return self.delivery.send_status()


def _fields(slot):
    out = {}
    for ch in slot.channels:
        v = slot.vals[ch]
        if v is not None:
            out[_SHORT[ch]] = v
    return out


_SHORT = (
    "temp_c",
    "rh_pct",
    "p_hpa",
    "co2_ppm",
    "pm1_ugm3",
    "pm25_ugm3",
    "pm10_ugm3",
    "voc",
    "bat_v",
)


def _mask_names(mask):
    return ",".join(S.KEYS[i] for i in range(S.N_CHANNELS) if mask & (1 << i))


def load_board_cfg(path="board.json"):
    import json

    with open(path) as f:
        return json.load(f)


def main(board_cfg=None):
    """Entry point on a board (main.py) and under the simulated board."""
    from hal import Hal, HalError

    if board_cfg is None:
        board_cfg = load_board_cfg()
    try:
        hal = Hal(board_cfg)
    except HalError as exc:
        # a reset cannot mend a wrong board.json: keep the REPL up for a redeploy, say why
        diag.error("BOARD.INVALID", None, msg=str(exc))
        return
    st = Station(hal, board_cfg)
    try:
        st.boot()
        st.run()
    except KeyboardInterrupt:
        # Ctrl-C at the console (a technician, or stationctl taking the REPL): the REPL comes up;
        # the reset that follows is not a crash, whatever phase the cycle was in
        interrupted(hal)
        raise
    except Exception as exc:  # a bug that escapes the cycle: record it, reset, count it
        crash(hal, exc)


def interrupted(hal):
    """Record that the firmware was stopped from the console, so the next boot does not count it."""
    try:
        lifecycle.Breadcrumbs(hal).set_reason("interrupted")
    except Exception:  # RTC memory unusable: the REPL must still come up
        pass


def crash(hal, exc, delay_ms=10000):
    """The firmware failed outside the cycle's own error handling: leave a breadcrumb, report,
    and reset after a pause (long enough to read the line). Repeated crashes lead to safe mode."""
    try:
        crumbs = lifecycle.Breadcrumbs(hal)
        crumbs.reason = "crash"
        crumbs.save()
    except Exception:  # RTC memory unusable: the reset still happens
        pass
    diag.exception("CRASH", exc, None, reset_in_ms=delay_ms)
    hal.sleep_ms(delay_ms)
    hal.reset()


def resume():
    """At the REPL of a station in safe mode: leave safe mode and restart the station now."""
    from hal import Hal

    hal = Hal(load_board_cfg())
    lifecycle.Lifecycle(hal).resume()
    diag.warn("REBOOT", None, reason="resume")
    hal.reset()
