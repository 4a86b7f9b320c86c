# MicroPython code that `stationctl verify` and `configure` send to a station (never imported on
# the host). It uses the station's own deployed modules (hal, config, sensors, drivers) and
# prints one repr() dict. Secret values never leave the station: only which keys are set.
import json
import sys


def _scfsroot():
    from hal import Hal

    with open("/board.json") as f:
        print(repr(Hal(json.load(f)).fs_root))


def _scconfig():
    import config
    from hal import Hal

    with open("/board.json") as f:
        hal = Hal(json.load(f))
    r = {"fs_root": hal.fs_root}
    problems = []

    def log(level, code, subject=None, **kw):
        if level >= 2:
            problems.append("%s %s" % (code, kw.get("problem", kw.get("reason", ""))))

    cfg, source = config.load(hal.fs_root, log)
    r["source"] = source
    r["digest"] = config.digest(cfg)
    r["station_id"] = cfg["station_id"]
    r["uplink"] = cfg["uplink"]
    r["problems"] = problems
    sp = []

    def slog(level, code, subject=None, **kw):
        sp.append(kw.get("problem", code))

    sec = config.load_secrets(hal.fs_root, slog)
    r["secrets_set"] = sorted(k for k in sec if sec[k])
    r["secrets_problems"] = sp
    return r, cfg, hal


def _scidentity():
    """What runs on the station: MicroPython build and firmware version."""
    r = {"impl": sys.implementation.name, "version": sys.version, "platform": sys.platform}
    try:
        from version import VERSION

        r["firmware"] = VERSION
    except ImportError:
        r["firmware"] = None
    return r


def _scsensors(board, hal):
    """Read every fitted sensor once (up to three tries) with the firmware's own drivers."""
    import time

    import sample
    import sensors

    msgs = []

    def log(level, code, subject=None, **kw):
        if level >= 2:
            msgs.append((subject, code, kw.get("exc", ""), kw.get("errno", kw.get("msg", ""))))

    out = []
    for slot in sensors.build(board, log):
        ok = False
        vals = {}
        for _ in range(3):
            del msgs[:]
            ok = slot.read(hal, time.ticks_ms(), log)
            if ok:
                break
            slot.retry_at = None
            time.sleep_ms(50)
        if ok:
            for ch in slot.channels:
                v = slot.vals[ch]
                if v is not None:
                    vals[sample.KEYS[ch]] = v
        err = " ".join("%s %s %s" % (m[1], m[2], m[3]) for m in msgs if m[0] == slot.name)
        entry = {"name": slot.name, "type": slot.kind, "ok": ok, "values": vals, "error": err}
        if slot.kind in sensors.LASER:
            entry["laser_h"] = slot.laser_hours(hal)  # laser run time kept on flash
        out.append(entry)
    return out


def _scmodem(modem, hal):
    """Whether the fitted LoRaWAN modem answers."""
    import time

    m = {"type": modem.get("type")}
    try:
        import uplink_lorawan

        drv = uplink_lorawan._driver(modem["type"], hal.uart(modem.get("uart", "modem")))
        # a modem the firmware put to sleep wakes on the first command and misses it; one
        # busy with a transmission (airtime + receive windows) answers after a few seconds
        ok = False
        for _ in range(4):
            ok = bool(drv.alive())
            if ok:
                break
            drv.drain()
            time.sleep_ms(1000)
        m["ok"] = ok
    except Exception as e:  # noqa
        m["ok"] = False
        m["error"] = "%s %s" % (type(e).__name__, e)
    return m


def _scwifi(cfg, hal, u):
    """A Wi-Fi board: join a network with the firmware's own link (firmware/wifi.py) and say
    which one, how strong, or why none joined (the WIFI.DOWN reasons). True when up."""
    import config
    import diag
    import wifi

    seen = []
    diag.configure(level=diag.INFO, sink=seen.append)
    link = wifi.WifiLink(cfg, config.load_secrets(hal.fs_root), hal, hal.wlan())
    ok = link.ensure()
    u["wifi"] = {"ok": ok, "ssid": link.ssid, "rssi": link.rssi_dbm}
    if not ok:
        why = [ln.split(" WIFI.", 1)[1] for ln in seen if " WIFI.DOWN " in ln or " WIFI.NO_" in ln]
        u["ok"] = False
        u["error"] = "Wi-Fi: " + ("; ".join(why) or "no network joined")
    return ok


def _scuplink(cfg, modem, hal=None):
    """Whether the configured uplink can deliver: the broker reachable, the modem answering."""
    u = {"kind": cfg["uplink"]}
    if cfg["uplink"] == "mqtt" and hal is not None and hal.wlan() is not None:
        if not _scwifi(cfg, hal, u):
            return u
    if cfg["uplink"] == "mqtt":
        import socket

        s = socket.socket()
        try:
            s.settimeout(5)
            ai = socket.getaddrinfo(cfg["mqtt"]["host"], cfg["mqtt"]["port"])[0][-1]
            s.connect(ai)
            u["ok"] = True
        except OSError as e:
            u["ok"] = False
            u["error"] = "cannot reach %s:%d (%s)" % (
                cfg["mqtt"]["host"],
                cfg["mqtt"]["port"],
                e,
            )
        finally:
            s.close()
    elif cfg["uplink"] == "lorawan":
        # a join costs airtime and a network-server round trip, so verify does not try one: say
        # what was checked instead of calling the network reachable
        u["ok"] = bool(modem.get("ok"))
        u["error"] = "" if u["ok"] else "modem does not answer"
        u["detail"] = "modem answers (verify does not try a join)"
    else:
        u["ok"] = True
        u["error"] = "uplink %s needs no network" % cfg["uplink"]
    return u


def _sclifecycle(hal, cfg):
    """The breadcrumbs the firmware keeps in RTC memory: safe mode, last crash, resets in the
    crash-loop window."""
    import time

    try:
        import lifecycle

        sm = cfg["safe_mode"]
        lc = lifecycle.Lifecycle(hal, sm["resets"], sm["window_s"], sm["hold_s"])
        c = lc.crumbs
        return {
            "valid": c.valid,
            "safe": c.safe,
            "safe_until": c.safe_until,
            "reason": c.reason,
            "phase": c.phase,
            "recent_resets": lc._recent(),
            "max_resets": lc.max_resets,
            "window_s": lc.window_s,
            "now": time.time(),
        }
    except Exception as e:  # noqa: BLE001
        # report it; the other checks still run
        return {"error": "%s %s" % (type(e).__name__, e)}


def _scselftest(check_uplink):
    r = _scidentity()
    try:
        with open("/board.json") as f:
            board = json.load(f)
    except (OSError, ValueError) as e:
        r["error"] = "no usable /board.json: %s" % e
        print(repr(r))
        return
    r["board"] = board.get("board")
    c, cfg, hal = _scconfig()
    r["config"] = c
    try:
        r["reset"] = hal.reset_cause()
    except Exception as e:  # noqa
        r["reset"] = "unknown (%s)" % e
    try:
        r["uid"] = hal.unique_id()
    except Exception:  # noqa
        r["uid"] = None
    r["lifecycle"] = _sclifecycle(hal, cfg)
    import sample

    r["sensors"] = _scsensors(board, hal)
    r["ranges"] = {sample.KEYS[i]: sample.RANGES[i] for i in range(len(sample.KEYS))}
    modem = board.get("modem")
    if modem:
        r["modem"] = _scmodem(modem, hal)
    if check_uplink:
        r["uplink"] = _scuplink(cfg, r.get("modem", {}), hal)
    print(repr(r))
