# The station cycle on the simulated board: config errors, absent and failing sensors, health bits.
import sample as S
from mptest import eq
from stationkit import BME, Rig


def test_boot_banner_names_version_board_digest_and_reset_cause():
    r = Rig().boot()
    boot = r.find("BOOT")[0]
    for key in ("fw=", "board=test-sim", "config=", "reset=power_on"):
        if key not in boot:
            raise AssertionError("%s missing in %s" % (key, boot))


def test_a_day_of_cycles_on_schedule():
    r = Rig().boot().run_cycles(144)
    eq(r.st.cycles, 144, "cycles")
    eq(r.st.uplinked, 144, "uplinked")
    samples = r.find("SAMPLE")
    eq(len(samples), 144, "SAMPLE lines")
    # fixed schedule: uptimes are exact multiples of the interval (no drift from cycle duration)
    starts = [float(line.split()[0]) for line in r.find("SENSE.OK")]
    for i, t in enumerate(starts):
        if abs(t - i * 600) > 0.5:
            raise AssertionError("cycle %d started at %.3f" % (i, t))


def test_broken_config_file_logs_and_keeps_running():
    r = Rig(config_text='{"interval_s": 300, "uplink": ').boot().run_cycles(3)
    if not r.find("CONFIG.INVALID") or not r.find("CONFIG.FALLBACK"):
        raise AssertionError(r.lines[:5])
    eq(r.st.cfg["interval_s"], 600, "defaults used")
    eq(r.st.cycles, 3, "cycles run")


def test_missing_sensor_is_reported_and_cycle_continues():
    absent = dict(BME)
    absent["sim_absent"] = True
    r = Rig(sensors=[absent]).boot().run_cycles(4)
    lines = r.find("SENSOR.ABSENT")
    if not lines or "errno=19" not in lines[0]:
        raise AssertionError(r.lines[:6])
    eq(r.st.cycles, 4, "cycles run")
    smp = r.st.sample
    eq(smp.fault & 7, 7, "temperature/humidity/pressure fault bits")
    if smp.values[S.BATTERY] is None:
        raise AssertionError("battery channel stopped flowing")


def test_nacking_sensor_retried_with_backoff_then_recovers():
    r = Rig().boot()
    bus = r.hal.i2c("main")
    r.run_cycles(1)
    bus.inject(0x76, "nack")
    r.run_cycles(6)
    fails = r.find("SENSOR.FAIL") + r.find("SENSOR.ABSENT")
    if not fails or "errno=5" not in fails[0]:
        raise AssertionError(r.lines)
    eq(r.st.sample.fault & 7, 7, "fault bits while NACKing")
    bus.clear()
    r.run_cycles(3)
    if not r.find("SENSOR.RECOVERED"):
        raise AssertionError("no recovery line")
    eq(r.st.sample.fault, 0, "fault bits cleared")
    if r.st.sample.values[S.TEMPERATURE] is None:
        raise AssertionError("no temperature after recovery")


def test_backoff_grows_between_attempts():
    absent = dict(BME)
    absent["sim_absent"] = True
    r = Rig(sensors=[absent]).boot().run_cycles(30)
    retries = [int(x.split("retry_s=")[1].split()[0]) for x in r.find("SENSOR.ABSENT")]
    # doubling backoff: 2, 4, 8, ... so over 30 cycles (5 h) there are far fewer attempts than cycles
    if retries[:4] != [2, 4, 8, 16] or len(retries) >= 30:
        raise AssertionError(retries)


def test_out_of_range_value_is_flagged_not_sent():
    r = Rig().boot()
    r.board.models["bme280"].inject_value("force", "temperature_c", value=150.0)
    r.run_cycles(1)
    smp = r.st.sample
    eq(smp.values[S.TEMPERATURE], None, "out-of-range temperature not sent as a number")
    eq(smp.implausible & 1, 1, "implausible bit")
    if smp.values[S.PRESSURE] is None:
        raise AssertionError("other channels must keep flowing")


def test_stuck_sensor_is_flagged_implausible():
    r = Rig().boot()
    r.board.models["bme280"].inject_value("stuck")
    r.run_cycles(8)
    if not r.st.sample.implausible & (1 << S.TEMPERATURE):
        raise AssertionError("stuck temperature not flagged")
    if not r.find("SENSE.IMPLAUSIBLE"):
        raise AssertionError("no diagnostic")


def test_high_humidity_sets_pm_warning_flag():
    r = Rig().boot()
    r.env.overrides = {"humidity_pct": 85.0}
    r.run_cycles(1)
    eq(r.st.sample.flags & S.FLAG_RH_HIGH, S.FLAG_RH_HIGH, "RH>70 flag")
    r.env.overrides = {"humidity_pct": 50.0}
    r.run_cycles(1)
    eq(r.st.sample.flags & S.FLAG_RH_HIGH, 0, "flag cleared")
