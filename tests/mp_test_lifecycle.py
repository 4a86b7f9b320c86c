# Watchdog, reset breadcrumbs, crash-loop safe mode on the simulated board, once per board
# family: the simulated board follows it (ESP32: RTC memory; rp2: no RTC memory, the HAL keeps
# the breadcrumbs in the watchdog's scratch registers and a file). The unix simulation's board
# has RTC memory like the ESP32.
# mp-port-profiles: esp32 rp2
from sim import vtime

vtime.install()  # before any firmware module: `time` is the virtual clock

import lifecycle  # noqa: E402
from mptest import PORT_PROFILE, eq  # noqa: E402
from stationkit import Rig as _Rig  # noqa: E402
from stationkit import run_device  # noqa: E402

FAMILY = {"generic": "unix", "esp32": "esp32", "rp2": "rp2"}[PORT_PROFILE]


def Rig(**kw):  # noqa: N802 - the kit's Rig on this run's board family
    return _Rig(family=FAMILY, **kw)


def _boots(r):
    return r.find("BOOT")


def test_watchdog_resets_a_hung_cycle_and_breadcrumb_names_the_phase():
    r = Rig()
    r.board.end_s = 0
    # the sensor hangs the bus for 3 hours once: the watchdog must end it
    r.hal.i2c("main")

    done = []

    def hang_later(now_us):
        if now_us >= 1800 * 1000000 and not done:
            done.append(1)
            r.hal.i2c("main").inject(0x76, "slow", count=1, delay_us=3 * 3600 * 1000000)

    vtime.add_hook(hang_later)
    boots = run_device(r, 4 * 3600)
    vtime.remove_hook(hang_later)
    resets = r.find("SIM.RESET")
    if not resets or "cause=watchdog" not in resets[0]:
        raise AssertionError(r.lines[-20:])
    second = _boots(r)[1]
    for needle in ("reset=watchdog", "last_phase=sense", "last_reason=watchdog"):
        if needle not in second:
            raise AssertionError("%s not in %s" % (needle, second))
    if boots != 2:
        raise AssertionError("boots %d" % boots)
    # the station came back and kept sampling after the reset
    if len(r.find("SAMPLE")) < 10:
        raise AssertionError("too few samples after the reset")


def test_watchdog_fires_within_interval_plus_margin():
    r = Rig()
    r.hal.i2c("main")
    r.board.buses["main"].inject(0x76, "slow", count=1, delay_us=24 * 3600 * 1000000)
    run_device(r, 3000)
    line = r.find("SIM.RESET")[0]
    t_reset = float(line.split()[0])  # uptime of the first boot = time since t0
    # interval 600 s: timeout = 600 + 300 -> 60 s floor -> 900 s; an RP2040 caps it at 8.388 s
    lo, hi = (8.3, 9.0) if FAMILY == "rp2" else (890, 1000)
    if not lo <= t_reset - 0 <= hi:
        raise AssertionError("watchdog fired at %.1f s" % t_reset)


def test_crash_loop_enters_safe_mode_then_resumes_after_hold():
    r = Rig(config_text='{"safe_mode": {"resets": 3, "window_s": 7200, "hold_s": 3600}}')
    r.hal.i2c("main")
    # every read hangs for a day: each boot ends in a watchdog reset
    r.board.buses["main"].inject(0x76, "slow", delay_us=24 * 3600 * 1000000)

    def heal(now_us):
        if now_us >= 4 * 3600 * 1000000:
            r.board.buses["main"].clear()

    vtime.add_hook(heal)
    run_device(r, 9 * 3600)
    vtime.remove_hook(heal)
    codes = r.codes()
    if "SAFE.ENTER" not in codes:
        raise AssertionError(r.lines[-30:])
    i = codes.index("SAFE.ENTER")
    wd = [x for x in r.lines[:i] if x.split()[2] == "SIM.RESET" and "watchdog" in x]
    eq(len(wd), 3, "three watchdog resets before safe mode")
    # safe mode ran no cycle until its hold time ended, then the station booted normally
    after = codes[i + 1 :]
    if "SAMPLE" not in after:
        raise AssertionError("no samples after safe mode: %r" % after[:20])
    j = after.index("BOOT")
    if "SAMPLE" in after[:j]:
        raise AssertionError("a cycle ran in safe mode")
    boot_after = [x for x in _boots(r) if "last_reason=safe_timeout" in x]
    if not boot_after:
        raise AssertionError("no boot reporting the end of safe mode")


def test_resume_command_leaves_safe_mode():
    r = Rig()
    c = lifecycle.Breadcrumbs(r.hal)
    c.safe = True
    c.safe_until = vtime.time() + 99999
    c.save()
    life = lifecycle.Lifecycle(r.hal)
    life.on_boot()
    if not life.safe_mode:
        raise AssertionError("safe mode not kept across a reset")
    life.resume()
    life2 = lifecycle.Lifecycle(r.hal)
    info = life2.on_boot()
    eq((life2.safe_mode, info["last_reason"]), (False, "command"), "resumed")


def test_power_cut_clears_breadcrumbs_and_is_not_a_crash():
    r = Rig()
    c = lifecycle.Breadcrumbs(r.hal)
    c.phase = "uplink"
    c.save()
    r.board.on_reset("power_cut")  # power lost: RTC memory (scratch registers on rp2) gone
    life = lifecycle.Lifecycle(r.hal)
    info = life.on_boot()
    eq((info["last_reason"], info["unexpected_resets"]), ("power_on", 0), "power cut")


def test_reset_mid_cycle_without_watchdog_counts_as_crash():
    r = Rig()
    c = lifecycle.Breadcrumbs(r.hal)
    c.phase = "journal"
    c.save()
    r.board.next_reset_cause = "soft"
    life = lifecycle.Lifecycle(r.hal)
    info = life.on_boot()
    eq(
        (info["last_phase"], info["last_reason"], info["unexpected_resets"]),
        ("journal", "crash", 1),
        "crash",
    )


def test_garbage_in_rtc_memory_is_ignored():
    r = Rig()
    r.hal.rtc_memory(b"\xff" * 40)
    life = lifecycle.Lifecycle(r.hal)
    info = life.on_boot()
    eq(info["last_reason"], "power_on", "invalid breadcrumbs treated as power-on")


def test_capped_watchdog_is_fed_in_slices_of_a_long_sleep():
    # an RP2040 caps the watchdog at 8.3 s; a 10-minute sleep must not reset the board,
    # but a hang inside a cycle still must
    from stationkit import board_cfg

    cfg = board_cfg()
    cfg["wdt_max_ms"] = 8000
    r = Rig()
    r.cfg.update(cfg)
    r.board.cfg.update(cfg)
    run_device(r, 3 * 3600)
    eq(len(r.find("SIM.RESET")), 0, "no reset during normal sleeps")
    eq(r.hal.wdt_ms, 8000, "capped timeout")
    r.hal.i2c("main").inject(0x76, "slow", count=1, delay_us=60 * 1000000)
    run_device(r, 1200)
    resets = r.find("SIM.RESET")
    if not resets or "watchdog" not in resets[0]:
        raise AssertionError("a 60 s hang inside a cycle must trip an 8 s watchdog")


def test_crash_outside_the_cycle_leaves_a_breadcrumb_and_resets():
    import station

    from sim.board import SimReset

    r = Rig()
    orig = station.Station.boot

    def broken_boot(self):
        orig(self)
        raise RuntimeError("bug in boot")

    station.Station.boot = broken_boot
    try:
        try:
            station.main(r.cfg)
            raise AssertionError("main returned")
        except SimReset as reset:
            eq(reset.cause, "soft", "reset after the crash")
    finally:
        station.Station.boot = orig
    crash = r.find("CRASH")
    if not crash or "RuntimeError" not in crash[0]:
        raise AssertionError(r.lines[-5:])
    r.board.on_reset("soft")
    life = lifecycle.Lifecycle(r.hal)
    info = life.on_boot()
    eq((info["last_reason"], info["unexpected_resets"]), ("crash", 1), "crash counted")


def test_ctrl_c_at_the_console_during_boot_is_not_a_crash():
    # stationctl verify/configure take the REPL with Ctrl-C; when that lands while the station is
    # still booting (phase config) the soft reset that follows must not count towards safe mode
    import station

    r = Rig()
    orig = station.Station.boot

    def interrupted_boot(self):
        c = lifecycle.Breadcrumbs(self.hal)
        c.phase = "config"
        c.save()
        raise KeyboardInterrupt

    station.Station.boot = interrupted_boot
    try:
        try:
            station.main(r.cfg)
            raise AssertionError("main returned")
        except KeyboardInterrupt:
            pass  # the REPL comes up, as on a board
    finally:
        station.Station.boot = orig
    r.board.on_reset("soft")
    info = lifecycle.Lifecycle(r.hal).on_boot()
    eq(
        (info["last_phase"], info["last_reason"], info["unexpected_resets"]),
        ("config", "interrupted", 0),
        "Ctrl-C is not a crash",
    )


def test_breadcrumbs_survive_a_reset_on_this_family():
    # On an RP2040 machine.RTC has no memory(): the HAL must keep the breadcrumbs elsewhere or
    # the reset reason, the crash-loop counter and safe mode silently vanish (issue 12).
    r = Rig()
    c = lifecycle.Breadcrumbs(r.hal)
    c.phase = "journal"
    c.seq = 1234
    c.resets = [1700000100, 1700000000, 0, 0]
    c.save()
    r.board.on_reset("watchdog")
    again = lifecycle.Breadcrumbs(r.hal)
    eq(
        (again.valid, again.phase, again.seq, again.resets),
        (True, "journal", 1234, c.resets),
        "kept",
    )


def test_rp2_keeps_the_often_changing_breadcrumbs_off_flash():
    import os

    if FAMILY != "rp2":
        return
    r = Rig()
    c = lifecycle.Breadcrumbs(r.hal)
    c.save()
    names = os.listdir(r.board.fs_root)
    eq(
        (".rtc_memory" in names, ".rp2_scratch" in names, ".rtc_tail" in names),
        (False, True, True),
        "where",
    )
    # phase changes every cycle: only the scratch registers change, the flash file is not written
    os.remove(r.board.fs_root + "/.rtc_tail")
    for phase in ("sense", "encode", "journal", "uplink", "sleep"):
        c.enter(phase)
        c.seq += 1
    eq(".rtc_tail" in os.listdir(r.board.fs_root), False, "no flash write for a phase change")
    c.resets[0] = 1700000500  # an unexpected reset: the rare part changes, the file is rewritten
    c.save()
    eq(".rtc_tail" in os.listdir(r.board.fs_root), True, "flash written for a new reset time")
