# LoRaWAN network time: DeviceTimeReq through the simulated RAK3172 (RUI3 AT+TIMEREQ / AT+LTIME)
# and LoRa-E5 (AT+LW=DTR / AT+RTC), answered by the simulated network server with GPS time; the
# station's drifting RTC (sim/vtime.py) kept within 2 s of the true time over a week.
from sim import vtime

vtime.install()


import clock  # noqa: E402
import config  # noqa: E402
import diag  # noqa: E402
import uplink_lorawan  # noqa: E402
from hal import Hal  # noqa: E402
from lora_e5 import rtc_unix  # noqa: E402
from lorawan_rig import KEYS, fresh  # noqa: E402
from mptest import approx, eq  # noqa: E402
from rak3172 import ltime_unix  # noqa: E402

from sim import netserver  # noqa: E402
from sim.board import SimBoard  # noqa: E402
from sim.env import Environment  # noqa: E402

FS = "/tmp/mp_lorawan_time_fs"
_WEEK_S = 7 * 86400
_HOUR_US = 3600 * 1000000
LINES = []


def setup():
    fresh(FS, LINES, level=diag.INFO)
    diag.reset_uptime()
    clock.reset()


def _station(kind, time_sync_h=8):
    board_cfg = {
        "board": "test-lorawan-time",
        "uart": {
            "modem": {"id": 2, "tx": 4, "rx": 5, "baud": 115200 if kind == "rak3172" else 9600}
        },
        "modem": {"type": kind, "name": "modem", "uart": "modem"},
    }
    SimBoard(board_cfg, Environment("synthetic"), fs_root=FS, time_synced=False).activate()
    hal = Hal(board_cfg)
    cfg = config.defaults()
    cfg["lorawan"]["dr"] = 5
    cfg["lorawan"]["time_sync_h"] = time_sync_h
    return hal, uplink_lorawan.LorawanUplink(cfg, KEYS, hal, board_cfg)


def _week(kind, time_sync_h=8):
    """A week of hourly uplinks with the station's RTC 50 ppm fast; (error at the end in s,
    worst error of a synced clock seen at an uplink, uplink, hal)."""
    hal, up = _station(kind, time_sync_h)
    vtime.set_drift_ppm(50)
    worst = 0.0
    for _ in range(7 * 24):
        eq(up.send(b"\x01\x02\x03", 1), True, "uplink delivered")
        if hal.time_synced():
            worst = max(worst, abs(vtime.clock_error_s()))
        vtime.advance_us(_HOUR_US)
    return vtime.clock_error_s(), worst, up, hal


def _check_synced_week(kind):
    err, worst, up, hal = _week(kind)
    print(
        "%s: clock error after a week at 50 ppm, synced every 8 h: %.3f s (worst %.3f s)"
        % (kind, err, worst)
    )
    eq(hal.time_synced(), True, "synced by the network")
    if not abs(err) < 2.0 or not worst < 2.0:
        raise AssertionError(
            "%s: clock error %.3f s (worst %.3f s), want < 2 s" % (kind, err, worst)
        )
    eq(clock.source, "lorawan", "the time came from the network")
    # at join and every 8 h: 22 requests in a week, each answered by one downlink (about 3 a day)
    if not 21 <= up.time_syncs <= 22:
        raise AssertionError("%d syncs in a week, want 21-22" % up.time_syncs)
    eq(netserver.time_answers, up.time_syncs, "one DeviceTimeAns per sync")
    sets = [ln for ln in LINES if "CLOCK.SET" in ln]
    eq(len(sets), up.time_syncs, "CLOCK.SET lines")
    eq("source=lorawan" in sets[-1], True, "named source")


def test_rak3172_station_stays_within_2_s_over_a_week_with_50_ppm_drift():
    _check_synced_week("rak3172")


def test_lora_e5_station_stays_within_2_s_over_a_week_with_50_ppm_drift():
    _check_synced_week("lora_e5")


def test_without_network_time_the_drift_is_the_whole_error():
    err, _, up, hal = _week("rak3172", time_sync_h=0)
    approx(err, 30.24, 0.05, "50 ppm of a week (and the join), never corrected")
    eq(hal.time_synced(), False, "never synced")
    eq(netserver.time_answers, 0, "no time requested: no downlink spent")


def test_netserver_answers_with_gps_time_at_the_end_of_the_uplink():
    # 2023-11-14T22:13:20Z = unix 1700000000; GPS epoch 1980-01-06 = unix 315964800; GPS is
    # 18 leap seconds ahead of UTC
    gps_s, frac = netserver.device_time("70B3D57ED0000001", 500000)  # 0.5 s into the simulation
    eq(gps_s, 1700000000 - 315964800 + 18, "GPS seconds")
    eq(frac, 128, "fraction in 1/256 s")
    netserver.down = True
    eq(netserver.device_time("70B3D57ED0000001", 0), None, "no gateway heard it: no answer")


def test_time_replies_of_both_dialects_parse_and_junk_does_not():
    eq(ltime_unix("22h13m20s on 11/14/2023"), 1700000000, "RUI3 source: month first")
    eq(ltime_unix("22h13m20s on 14/11/2023"), 1700000000, "manual example: day first")
    eq(rtc_unix("2023-11-14 22:13:20"), 1700000000, "LoRa-E5 +RTC")
    for junk in ("", "22h13m20s", "25h00m00s on 11/14/2023", "ERROR", "22h13m20s on 13/13/2023"):
        eq(ltime_unix(junk), None, "not a time: %r" % junk)
    for junk in ("", "2023-13-01 00:00:00", "2023-11-14", "x-y-z 1:2:3"):
        eq(rtc_unix(junk), None, "not a time: %r" % junk)


def test_time_request_before_join_is_refused_and_an_unset_modem_clock_is_never_taken():
    hal, up = _station("rak3172")
    m = up.modem
    eq(
        m.setup(KEYS["lorawan_deveui"], KEYS["lorawan_joineui"], KEYS["lorawan_appkey"]),
        12,
        "ready",
    )
    eq(m.request_time(), False, "RUI3: AT+TIMEREQ only once joined")
    m.time_answered = True  # as if an answer came, with the module's clock never set
    eq(m.network_time(), None, "a 1969 clock is not the time")
    eq(hal.time_synced(), False, "station clock untouched")


def test_a_modem_without_the_time_command_is_asked_once_an_hour_not_at_every_uplink():
    hal, up = _station("rak3172")
    from sim.board import current

    model = current().models["modem"]
    asked = []

    def old_firmware(val):  # a firmware without AT+TIMEREQ
        asked.append(val)
        model.say("AT_COMMAND_NOT_FOUND")

    model._c_TIMEREQ = old_firmware
    for _ in range(3 * 6):  # three hours of 10-minute uplinks
        eq(up.send(b"\x01\x02\x03", 1), True, "uplinks go on")
        vtime.advance_us(_HOUR_US // 6)
    eq(len(asked), 3, "asked at join, then once an hour")
    eq(hal.time_synced(), False, "no time")
