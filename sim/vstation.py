"""Virtual station: the real firmware on the simulated board, under unix MicroPython.

    micropython sim/vstation.py --board board_configs/unix-sim.json --days 1 [options]

Options:
    --board PATH        board config (sensors fitted, buses)
    --config PATH       station config to install as config.json (default: keep / defaults)
    --secrets PATH      secrets file to install
    --fs DIR            the station's flash filesystem folder (default .run/station)
    --fresh             empty the filesystem folder first (a new station)
    --days N / --hours N / --cycles N   simulated duration (cycles at the configured interval)
    --interval S        sampling interval override (seconds)
    --uplink KIND       console | file | mqtt | lorawan (overrides the station config)
    --modem-firmware V  the simulated modem answers as firmware V (RAK3172: RUI3 3.4.2, 3.5.3,
                        4.0.1, 4.0.6, 4.2.0; LoRa-E5: 4.0.11)
    --set KEY=VALUE     override one station config key, e.g. mqtt.port=18830 (repeatable; JSON value)
    --install SRC=NAME  copy the host file SRC into the station's filesystem as NAME (e.g. the
                        broker's CA certificate, as `stationctl configure --ca-file` puts it there)
    --downlink PORT:HEX queue a LoRaWAN downlink at the simulated network server (repeatable)
    --pace F            real seconds per simulated second (0 = as fast as possible), so a host
                        test can act on a real broker at roughly known simulated times
    --trace NAME        stonehaven | office | synthetic
    --fault SPEC        SENSOR:KIND[@START_S[+DURATION_S]] (repeatable), e.g. bme280:nack@3600+1800
                        kinds: absent nack corrupt slow timeout (bus)  stuck force offset (value)
                        UART sensors: absent corrupt slow garbage truncate drop silent
                        power:cut@T (RAM and RTC memory lost, firmware restarted)
                        power:cutwrite*N@T (the power fails inside the next flash write, N bytes on)
                        clock:jump*S@T (the wall clock jumps by S seconds; ticks do not)
                        modem:busy|nochannel|noack|joindeny|reboot[*N]@T (the next N times)
                        gateway:down@T+D (no LoRaWAN gateway hears the station)
                        net:down@T+D (the station's network is unreachable: sockets fail)
                        wifi:badpass|noap|weak|nodhcp@T+D (a Wi-Fi board's access point rejects
                        the password, is gone, is heard weakly, gives no DHCP lease; sim/wlan.py)
    --rtc-drift-ppm P   the station's RTC runs P ppm fast (negative: slow); prints
                        `@@SIM clock day=D error_s=E` daily and `@@SIM clock end ...` (how far the
                        station's clock is from the true time; LoRaWAN stations resync by
                        DeviceTimeReq every lorawan.time_sync_h hours, 0 = never)
    --flash-bytes N     the station's flash holds N bytes of files in all: writes beyond fail
                        with ENOSPC (sim/powerfs.py), as on a full LittleFS
    --heap              measure heap: no GC inside a cycle, report the bytes the largest cycle
                        allocated and the live heap after collection (first and last cycle)
    --heap-every N      print `@@SIM live cycles=K live_heap=B` every N cycles (live heap after the
                        collection that starts a cycle): a long run shows whether anything grows
Prints the firmware's diagnostics, then `@@SIM key=value ...` lines for the host.
"""

import sys

# running as a script puts sim/ first on the path, where its chip models would shadow the drivers
if sys.path and sys.path[0].rstrip("/").endswith("sim"):
    sys.path.pop(0)

from sim import vtime  # noqa: E402

vtime.install()

import gc  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402

from sim import heap  # noqa: E402
from sim.board import SimBoard, SimReset, SimStop  # noqa: E402
from sim.env import Environment  # noqa: E402


def parse_args(argv):
    opts = {
        "board": "board_configs/unix-sim.json",
        "fs": ".run/station",
        "trace": "stonehaven",
        "faults": [],
    }
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--fresh", "--heap"):
            opts[a[2:]] = True
            i += 1
            continue
        if i + 1 >= len(argv):
            raise SystemExit("vstation: %s needs a value" % a)
        v = argv[i + 1]
        if a == "--fault":
            opts["faults"].append(v)
        elif a == "--set":
            opts.setdefault("set", []).append(v)
        elif a == "--downlink":
            opts.setdefault("downlink", []).append(v)
        elif a == "--install":
            opts.setdefault("install", []).append(v)
        elif a == "--pace":
            opts["pace"] = float(v)
        elif a in (
            "--board",
            "--config",
            "--secrets",
            "--fs",
            "--trace",
            "--uplink",
            "--modem-firmware",
        ):
            opts[a[2:]] = v
        elif a in (
            "--days",
            "--hours",
            "--cycles",
            "--interval",
            "--heap-every",
            "--flash-bytes",
            "--rtc-drift-ppm",
        ):
            opts[a[2:]] = float(v)
        else:
            raise SystemExit("vstation: unknown option %s" % a)
        i += 2
    return opts


def parse_fault(spec):
    """'bme280:nack@3600+1800' -> (target, kind, start_s, end_s or None)."""
    target, _, rest = spec.partition(":")
    if not target or not rest:
        raise ValueError("fault %r: expected SENSOR:KIND[@START[+DURATION]]" % spec)
    kind, _, when = rest.partition("@")
    start, end = 0.0, None
    if when:
        s, _, d = when.partition("+")
        start = float(s)
        if d:
            end = start + float(d)
    return target, kind, start, end


_SPECIAL = ("power", "net", "gateway", "modem", "clock", "wifi")
WIFI_KINDS = ("badpass", "noap", "weak", "nodhcp")


class FaultPlan:
    """Applies scheduled faults to the board's buses and models as virtual time passes."""

    BUS_KINDS = ("absent", "nack", "corrupt", "slow", "timeout")
    VALUE_KINDS = ("stuck", "force", "offset")
    # sensors on a UART (sim.uart faults, held for the fault's duration); "slow" delays every
    # answer by 3 s, beyond the drivers' deadlines
    UART_KINDS = ("absent", "corrupt", "slow", "garbage", "truncate", "drop", "silent")

    def __init__(self, board, specs):
        self.board = board
        self.items = []
        for spec in specs:
            target, kind, start, end = parse_fault(spec)
            if target in _SPECIAL:
                base = kind.partition("*")[0]
                if (
                    (target, base)
                    not in (
                        ("power", "cut"),
                        ("power", "cutwrite"),
                        ("net", "down"),
                        ("gateway", "down"),
                        ("clock", "jump"),
                    )
                    and not (
                        target == "modem"
                        and base in ("busy", "nochannel", "noack", "joindeny", "reboot")
                    )
                    and not (target == "wifi" and kind in WIFI_KINDS)
                ):
                    raise ValueError("fault %r: unknown kind %s" % (spec, kind))
                if target == "wifi" and "wifi" not in board.cfg:
                    raise ValueError("fault %r: the board has no Wi-Fi (no `wifi` entry)" % spec)
            else:
                # checked before the run starts: a wrong spec changes nothing
                entry = self._entry(target)
                kinds = self.UART_KINDS if "uart" in entry else self.BUS_KINDS
                if kind not in kinds + self.VALUE_KINDS:
                    raise ValueError(
                        "fault %r: %s is not a fault of %s (known: %s)"
                        % (spec, kind, target, " ".join(kinds + self.VALUE_KINDS))
                    )
            self.items.append([target, kind, start, end, "pending"])
        vtime.add_hook(self.tick)

    def _special(self, item, on):
        target, kind = item[0], item[1]
        base, _, arg = kind.partition("*")
        if target == "power" and base == "cutwrite":
            # power fails inside a flash write: after `arg` more bytes (default 37) are written
            if on:
                from sim import powerfs

                powerfs.install(self.board.fs_root)
                powerfs.arm(int(arg or 37))
                item[4] = "done"
                print("@@SIM fault_on target=power kind=cutwrite t=%d" % vtime.now_s())
            return True
        if target == "clock" and base == "jump":
            # the wall clock jumps by `arg` seconds (RTC reset, NTP correction); ticks do not
            if on:
                vtime.set_time(vtime.time() + int(arg or 3600))
                item[4] = "done"
                print("@@SIM fault_on target=clock kind=jump t=%d" % vtime.now_s())
            return True
        if target == "power" and kind == "cut":
            if on:
                item[4] = "done"
                print("@@SIM fault_on target=power kind=cut t=%d" % vtime.now_s())
                raise SimReset("power_cut")
            return True
        if target == "net" and kind == "down":
            from sim import netclock

            if on:
                netclock.down()
            else:
                netclock.up()
            return True
        if target == "wifi":
            from sim import wlan

            wlan.set_fault(kind, on)
            return True
        if target == "gateway" and kind == "down":
            from sim import netserver

            netserver.down = on
            return True
        if target == "modem":
            base, _, count = kind.partition("*")
            model = self.board.models.get("modem")
            if model is None:
                for m in self.board.models.values():
                    if hasattr(m, "inject") and hasattr(m, "do_uplink"):
                        model = m
            if model is None:
                return False
            if on:
                model.inject(base, int(count or 1))
            return True
        raise ValueError("fault %s:%s: unknown kind" % (target, kind))

    def _entry(self, target):
        for s in self.board.cfg.get("sensors", []):
            if s.get("name", s["type"]) == target:
                return s
        raise ValueError("fault target %r is not a fitted sensor" % target)

    def _apply(self, item, on):
        target, kind = item[0], item[1]
        if target in _SPECIAL:
            return self._special(item, on)
        entry = self._entry(target)
        if "uart" in entry and kind not in self.VALUE_KINDS:
            if kind not in self.UART_KINDS:
                raise ValueError("fault %s:%s: not a UART fault" % (target, kind))
            uart = self.board.uarts.get(entry["uart"])
            if uart is None:
                return False
            if on:
                uart.inject(kind, None, delay_us=3000000, keep=12, nbytes=12)
            else:
                uart.clear()
        elif kind in self.BUS_KINDS:
            bus = self.board.buses.get(entry.get("bus"))
            if bus is None:
                return False
            if on:
                bus.inject(entry.get("address"), kind)
            else:
                bus.clear(entry.get("address"))
        else:
            model = self.board.models.get(target)
            if model is None:
                return False
            if on:
                if kind == "force":
                    # out of range: the model's own choice (PM, CO2, raw VOC), else 150 degC
                    quantity, value = getattr(model, "FORCE", ("temperature_c", 150.0))
                    model.inject_value("force", quantity, value=value)
                elif kind == "offset":
                    quantity, delta = getattr(model, "OFFSET", ("temperature_c", 5.0))
                    model.inject_value("offset", quantity, delta=delta)
                else:
                    model.inject_value(kind)
            else:
                model.clear_values()
        return True

    def tick(self, now_us):
        t = now_us / 1000000
        for item in self.items:
            if item[4] == "pending" and t >= item[2]:
                if self._apply(item, True):
                    item[4] = "active"
                    print("@@SIM fault_on target=%s kind=%s t=%d" % (item[0], item[1], t))
            elif item[4] == "active" and item[3] is not None and t >= item[3]:
                self._apply(item, False)
                item[4] = "done"
                print("@@SIM fault_off target=%s kind=%s t=%d" % (item[0], item[1], t))


class _NoCopy(list):
    """sim.netserver's record of received uplinks, for runs where the host reads the @@NS lines."""

    def append(self, item):
        pass


def _copy(src, dst):
    with open(src, "rb") as f:
        data = f.read()
    with open(dst, "wb") as f:
        f.write(data)


def _rmtree(path):
    try:
        entries = os.listdir(path)
    except OSError:
        return
    for name in entries:
        p = path + "/" + name
        try:
            os.remove(p)
        except OSError:
            _rmtree(p)
            try:
                os.rmdir(p)
            except OSError:
                pass


def _wire_board(opts, board_cfg):
    """The simulated board with its chips powered and the trace open: (environment, board)."""
    if opts.get("modem-firmware"):
        # the simulated modem answers as this firmware generation (sim/rak3172.py FIRMWARES)
        if not board_cfg.get("modem"):
            raise SystemExit("vstation: --modem-firmware: the board config has no modem")
        board_cfg["modem"].setdefault("sim", {})["firmware"] = opts["modem-firmware"]
    if opts.get("fresh"):
        _rmtree(opts["fs"])
    env = Environment(opts["trace"])
    vtime.reset(epoch_s=env.start_unix)
    board = SimBoard(board_cfg, env, fs_root=opts["fs"])
    board.activate()
    if opts.get("pace"):
        vtime.set_real_sleep_factor(opts["pace"])
    if opts.get("config"):
        _copy(opts["config"], opts["fs"] + "/config.json")
    if opts.get("secrets"):
        _copy(opts["secrets"], opts["fs"] + "/secrets.json")
    for spec in opts.get("install", ()):
        src, _, name = spec.partition("=")
        _copy(src, opts["fs"] + "/" + name)
    if "wifi" in board_cfg:
        _wifi_credentials(opts["fs"] + "/secrets.json")

    # The chips are powered with the board, not when the firmware first talks to them: wire every
    # bus and UART (models attached) and open the trace now, so their objects count as the
    # simulation's heap; a board has them in silicon.
    for name, spec in board_cfg.get("i2c", {}).items():
        board.i2c(name, spec)
    for name, spec in board_cfg.get("uart", {}).items():
        try:
            board.uart(name, spec, spec.get("baud", 9600), spec.get("timeout_ms", 1000))
        except ValueError as exc:  # a model's arguments (e.g. --modem-firmware) it does not have
            raise SystemExit("vstation: %s" % exc) from None
    env.at(0)
    if "sim.netserver" in sys.modules:  # a LoRaWAN modem is fitted
        # the host reads every uplink from the @@NS lines; a copy kept in this process would grow
        # with the run and take heap the firmware is measured against
        sys.modules["sim.netserver"].received = _NoCopy()
    return env, board


def _wifi_credentials(path):
    """A Wi-Fi board joins the simulated access point (sim/wlan.py, loaded now so that its
    faults outlive a simulated reset): its credentials go into the station's secrets unless
    the run gave some."""
    from sim import wlan

    try:
        with open(path) as f:
            secrets = json.load(f)
    except (OSError, ValueError):
        secrets = {}
    if type(secrets) is not dict or secrets.get("wifi_ssid") or secrets.get("wifi_networks"):
        return
    secrets["wifi_ssid"] = wlan.SIM_SSID
    secrets["wifi_password"] = wlan.SIM_PASSWORD
    with open(path, "w") as f:
        json.dump(secrets, f)


def _import_firmware():
    """Load the firmware's modules now, so the start line's heap figure includes them (a reset
    unloads them; _run_boots imports them again)."""
    import config  # noqa: F401
    import diag  # noqa: F401
    import station  # noqa: F401
    from hal import Hal  # noqa: F401


def _apply_overrides(opts, board_cfg):
    """Write the run's --interval, --uplink and --set into the station's config file; returns
    the sampling interval in seconds."""
    import config

    cfg, source = config.load(opts["fs"])
    interval = opts.get("interval") or cfg["interval_s"]
    changed = False
    try:
        os.stat(opts["fs"] + "/config.json")
        has_file = True
    except OSError:
        has_file = False
    if has_file and source != "file":
        # leave a broken config file in place: the station must show the problem itself
        # (a --set written over it would replace it by defaults plus one key: a silent new config)
        print("@@SIM note=config_invalid_overrides_ignored")
        opts.pop("interval", None)
        opts.pop("uplink", None)
        opts.pop("set", None)
    if "wifi" in board_cfg and cfg["ntp"]["host"] == config.defaults()["ntp"]["host"]:
        # the simulated access point leads to loopback only: no public NTP server behind it (a
        # run names one in its config or with --set ntp.host=127.0.0.1, e.g. a local chronyd)
        opts.setdefault("set", []).insert(0, 'ntp.host=""')
    if opts.get("interval"):
        cfg = config.set_key(cfg, "interval_s", int(interval))
        changed = True
    if opts.get("uplink"):
        cfg = config.set_key(cfg, "uplink", opts["uplink"])
        changed = True
    for kv in opts.get("set", ()):
        key, _, val = kv.partition("=")
        try:
            val = json.loads(val)
        except ValueError:
            pass
        cfg = config.set_key(cfg, key, val)
        changed = True
    if changed:
        config.write_atomic(opts["fs"] + "/config.json", config.canonical(cfg))
    return interval


def _duration_s(opts, interval):
    if "cycles" in opts:
        return opts["cycles"] * interval - 1
    if "hours" in opts:
        return opts["hours"] * 3600
    return opts.get("days", 1) * 86400


def _queue_downlinks(specs):
    for spec in specs:
        from sim import netserver

        port, _, hexdata = spec.partition(":")
        netserver.queue_downlink(
            int(port), bytes(int(hexdata[i : i + 2], 16) for i in range(0, len(hexdata), 2))
        )


def _account(totals, st, meter):
    """Add one boot's figures (its station object and the meter of its cycles) to the totals."""
    totals["samples"] += st.cycles
    totals["uplinked"] += st.uplinked
    totals["peak_alloc"] = max(totals["peak_alloc"], meter.peak_alloc)
    totals.setdefault("first_alloc", meter.first_alloc)
    if meter.live_heap_early:
        totals.setdefault("live_first", meter.live_heap_early)
    totals["live_last"] = meter.live_heap
    d = st.delivery
    if d is not None:
        totals["max_depth"] = max(totals.get("max_depth", 0), d.max_depth)
        j = d.j
        totals["journal"] = (j.pending, j.dropped, j.acked, j.last_seq)


def _run_boots(board, board_cfg, opts, sim_modules, current):
    """Boot the firmware and run it until the simulated time is up, through every reset (the
    station of the running boot is current[0], the meter of its cycles current[1]); returns the
    run's totals."""
    import diag
    import station
    from hal import Hal

    totals = {"samples": 0, "uplinked": 0, "peak_alloc": 0}
    while True:
        cause = None
        try:
            current[0] = station.Station(Hal(board_cfg), board_cfg)
            current[1] = heap.CycleMeter(current[0], allocations=opts.get("heap", False))
            current[0].boot()
            current[0].run()
            # run() returns only in safe mode: the REPL is up, time passes until its timer fires
            board.idle()
        except SimStop:
            pass
        except SimReset as r:
            cause = r.cause
        if current[0] is not None:
            _account(totals, current[0], current[1])
        if cause is None:
            return totals
        diag.warn("SIM.RESET", None, cause=cause)
        board.on_reset(cause)
        if cause == "power_cut":
            try:
                os.remove(opts["fs"] + "/.rtc_memory")  # RTC memory does not survive power loss
            except OSError:
                pass
        # RAM is lost on a reset: the firmware's objects and modules with all their state go, and
        # the next boot imports them afresh (as a board does from flash)
        current[0] = current[1] = None
        for name in list(sys.modules):
            if name not in sim_modules:
                del sys.modules[name]
        gc.collect()
        diag = __import__("diag")
        station = __import__("station")
        Hal = __import__("hal").Hal


def _report_end(board, totals):
    gc.collect()
    resets = ",".join("%s:%d" % (k, v) for k, v in board.resets.items()) or "none"
    print(
        "@@SIM end samples=%d uplinked=%d resets=%s peak_cycle_alloc=%d heap_used=%d heap_free=%d sim_s=%d"
        % (
            totals["samples"],
            totals["uplinked"],
            resets,
            totals["peak_alloc"],
            gc.mem_alloc(),
            gc.mem_free(),
            vtime.now_s(),
        )
    )
    if True:  # live heap always; per-cycle allocation figures only with --heap
        print(
            "@@SIM heap first_cycle_alloc=%d peak_cycle_alloc=%d live_first=%d live_last=%d heap_total=%d"
            % (
                totals.get("first_alloc", 0),
                totals["peak_alloc"],
                totals.get("live_first", 0),
                totals.get("live_last", 0),
                gc.mem_alloc() + gc.mem_free(),
            )
        )
    j = totals.get("journal")
    if j is not None:
        print(
            "@@SIM journal pending=%d max_depth=%d dropped=%d acked=%d last_seq=%d"
            % (j[0], totals["max_depth"], j[1], j[2], j[3])
        )


def main(argv):
    opts = parse_args(argv)
    with open(opts["board"]) as f:
        board_cfg = json.load(f)
    env, board = _wire_board(opts, board_cfg)
    # the simulation's own live heap ends here: every later byte is the firmware's (its modules
    # included, which the lines below import to apply the run's config overrides)
    gc.collect()
    sim_heap = gc.mem_alloc()
    sim_modules = set(sys.modules)  # a reset unloads everything imported after this point
    _import_firmware()
    interval = _apply_overrides(opts, board_cfg)
    duration = _duration_s(opts, interval)
    board.end_s = duration
    if opts.get("flash-bytes"):
        from sim import powerfs

        powerfs.install(board.fs_root)
        powerfs.set_capacity(int(opts["flash-bytes"]))
    FaultPlan(board, opts["faults"])
    every = int(opts.get("heap-every") or 0)
    reported = [0]
    current = [None, None]  # the station of the running boot and the meter of its cycles

    def report_live(now_us):
        st = current[0]
        if st is not None and st.cycles and st.cycles % every == 0 and st.cycles != reported[0]:
            reported[0] = st.cycles
            print("@@SIM live cycles=%d live_heap=%d" % (st.cycles, current[1].live_heap))

    if every:
        vtime.add_hook(report_live)
    clock_watch = _ClockWatch(opts["rtc-drift-ppm"]) if "rtc-drift-ppm" in opts else None
    _queue_downlinks(opts.get("downlink", ()))
    gc.collect()
    print(
        "@@SIM start board=%s trace=%s duration_s=%d epoch=%d heap_before_firmware=%d heap_after_imports=%d"
        % (
            board_cfg.get("board"),
            opts["trace"],
            duration,
            env.start_unix,
            sim_heap,
            gc.mem_alloc(),
        )
    )
    totals = _run_boots(board, board_cfg, opts, sim_modules, current)
    _report_end(board, totals)
    if clock_watch is not None:
        clock_watch.report_end()


class _ClockWatch:
    """The station's RTC drifting by `ppm`: its error from the true time, daily and worst."""

    def __init__(self, ppm):
        self.ppm = ppm
        self.worst = 0.0
        self.day = 0
        vtime.set_drift_ppm(ppm)
        vtime.add_hook(self.tick)

    def tick(self, now_us):
        e = vtime.clock_error_s()
        if abs(e) > abs(self.worst):
            self.worst = e
        day = now_us // 86400000000
        if day > self.day:
            self.day = day
            print("@@SIM clock day=%d error_s=%.3f" % (day, e))

    def report_end(self):
        ns = sys.modules.get("sim.netserver")
        print(
            "@@SIM clock end drift_ppm=%g error_s=%.3f worst_error_s=%.3f time_answers=%d"
            % (self.ppm, vtime.clock_error_s(), self.worst, ns.time_answers if ns else 0)
        )


main(sys.argv[1:])
