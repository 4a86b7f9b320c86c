# Station integration of the six sensor types: merge rule, compensation, warm-up, PM wake overlap.
# mp-heapsize: 1M
# mp-port-profiles: generic esp32 rp2
import sample as S  # noqa: I001
from mptest import PORT_PROFILE, approx, eq
from stationkit import Rig

from sim import vtime

SHT = {"type": "sht4x", "name": "sht4x", "bus": "main", "address": 0x44}
SCD = {"type": "scd4x", "name": "scd4x", "bus": "main", "address": 0x62}
BME = {"type": "bme280", "name": "bme280", "bus": "main", "address": 0x76}
SGP = {"type": "sgp40", "name": "sgp40", "bus": "main", "address": 0x59}
PMS = {"type": "pms5003", "name": "pms5003", "uart": "pm"}
SDS = {"type": "sds011", "name": "sds011", "uart": "pm2"}
ALL = [BME, SHT, SCD, SGP, PMS, SDS]  # config order is not read order


def rig(sensors):
    r = Rig(sensors=sensors)
    r.cfg["uart"] = {"pm": {"id": 1, "baud": 9600}, "pm2": {"id": 2, "baud": 9600}}
    r.cfg["i2c"]["main"]["sim_port_profile"] = PORT_PROFILE  # the port's NACK errnos
    return r.boot()


def samples(r):
    out = []
    for line in r.find("SAMPLE"):
        fields = dict(p.split("=", 1) for p in line.split()[3:] if "=" in p)
        out.append(fields)
    return out


def health(fields):
    return [int(x, 16) for x in fields["health"].split("/")]


def test_read_order_is_priority_order():
    r = rig(ALL)
    eq(
        [s.kind for s in r.st.slots],
        ["sht4x", "scd4x", "bme280", "pms5003", "sds011", "sgp40"],
        "order",
    )


def test_sht4x_wins_temperature_then_scd4x_then_bme280():
    r = rig([BME, SHT, SCD])
    r.env.overrides = {"temperature_c": 20.0, "humidity_pct": 50.0}
    r.run_cycles(1)
    r.board.models["scd4x"].inject_value("offset", "temperature_c", delta=3.0)
    r.board.models["bme280"].inject_value("offset", "temperature_c", delta=6.0)
    r.run_cycles(1)
    approx(r.st.sample.values[S.TEMPERATURE], 20.0, 0.011, "from the SHT4x")
    r.board.buses["main"].inject(0x44, "absent")
    r.run_cycles(1)
    approx(r.st.sample.values[S.TEMPERATURE], 23.0, 0.02, "SHT4x gone: from the SCD4x")
    eq(r.st.sample.fault, 0, "channel delivered by the next sensor: no fault bit")
    r.board.buses["main"].inject(0x62, "absent")
    r.run_cycles(1)
    approx(r.st.sample.values[S.TEMPERATURE], 26.0, 0.02, "then from the BME280")


def test_sgp40_compensated_with_merged_humidity_and_temperature():
    r = rig([SGP, SHT])
    r.env.overrides = {"temperature_c": 12.5, "humidity_pct": 81.0}
    r.run_cycles(2)
    rh_told, t_told = r.board.models["sgp40"].last_told
    approx(rh_told, 81.0, 0.01, "RH sent to the SGP40")
    approx(t_told, 12.5, 0.01, "T sent to the SGP40")


def test_scd4x_gets_the_cycle_pressure_for_its_next_readings():
    r = rig([SCD, BME])
    r.env.overrides = {"pressure_hpa": 934.6, "co2_ppm": 800.0}
    r.run_cycles(1)
    eq(r.board.models["scd4x"].ambient_hpa, 935, "ambient pressure set from the BME280")
    r.run_cycles(1)
    approx(r.st.sample.values[S.CO2], 800, 1, "compensated CO2")


def test_warmup_bits_without_faults():
    r = rig([SHT, SCD, SGP])
    r.run_cycles(9)
    s = samples(r)
    fault, warm, impl, _ = health(s[0])
    eq(fault, 0, "no fault bits while warming up")
    eq(warm, (1 << S.CO2) | (1 << S.VOC), "SCD4x first reading and VOC blackout (SHT4x is not)")
    if "voc_index" in s[0]:
        raise AssertionError("no VOC index during the blackout")
    # the first sample counts as one 600 s interval (as in Sensirion's algorithm): the 45 s
    # blackout is over at the second sample, not one cycle later
    if "voc_index" not in s[1]:
        raise AssertionError("VOC index from the second sample on")
    eq(health(s[1])[1], 1 << S.VOC, "VOC index still learning")
    eq(health(s[8])[1], 0, "learning over after about 45 min")
    if "voc_index" not in s[8]:
        raise AssertionError("VOC index after learning")


def test_pm_sensors_sleep_between_cycles_and_warm_up_together():
    r = rig([PMS, SDS])
    r.run_cycles(2)
    pms = r.board.models["pms5003"]
    sds = r.board.models["sds011"]
    eq((pms.asleep, sds.asleep), (True, True), "lasers off between cycles")
    ok = [line for line in r.find("SENSE.OK")]
    t_pms = float(ok[-2].split()[0])
    t_sds = float(ok[-1].split()[0])
    start = 600.0
    # both woken at the cycle start: one 30 s warm-up, not two in a row
    if not (30.0 <= t_pms - start <= 32.0 and t_sds - t_pms < 1.0):
        raise AssertionError(
            "PM read at %.3f / %.3f s into the cycle" % (t_pms - start, t_sds - start)
        )
    eq(r.st.sample.fault, 0, "no faults")


def test_failed_pm_sensor_leaves_other_channels_and_recovers():
    r = rig([SHT, PMS])
    r.run_cycles(1)
    r.board.uarts["pm"].inject("absent", None)
    r.run_cycles(1)
    pm_bits = (1 << S.PM1_0) | (1 << S.PM2_5) | (1 << S.PM10)
    eq(r.st.sample.fault, pm_bits, "PM channels faulty")
    if r.st.sample.values[S.TEMPERATURE] is None:
        raise AssertionError("temperature must keep flowing")
    r.board.uarts["pm"].clear()
    vtime.advance_ms(10)
    r.run_cycles(2)
    eq(r.st.sample.fault, 0, "recovered")
    if not r.find("SENSOR.RECOVERED"):
        raise AssertionError("recovery logged")


def test_scd4x_settings_from_the_board_config():
    scd = dict(SCD, asc=False, temperature_offset_c=2.5, altitude_m=450)
    r = rig([scd])
    r.run_cycles(1)
    m = r.board.models["scd4x"]
    eq((m.asc, m.altitude_m), (0, 450), "ASC off, altitude")
    approx(m.temp_offset_word * 175 / 65535, 2.5, 0.01, "temperature offset")
    eq(m.mode, 1, "measuring")
    bad = dict(SCD, altitude_m=9000)
    r = rig([bad])
    r.run_cycles(1)
    if not r.find("SENSOR.ABSENT"):
        raise AssertionError("a bad setting is reported")
    eq(r.board.models["scd4x"].altitude_m, 0, "bad input changed nothing")


def test_sht4x_heater_pulse_only_in_near_saturated_air():
    r = rig([SHT])
    r.env.overrides = {"humidity_pct": 80.0}
    r.run_cycles(2)
    m = r.board.models["sht4x"]
    eq(m.heater_on_us, 0, "no heating at 80 %RH")
    r.env.overrides = {"humidity_pct": 97.0, "temperature_c": 8.0}
    r.run_cycles(2)
    eq(m.heater_on_us, 2 * 100000, "one 0.1 s pulse per cycle at 97 %RH")
    approx(r.st.sample.values[S.HUMIDITY], 97.0, 0.011, "the reported value is the unheated one")


def test_watchdog_fed_during_the_pm_fan_warmup():
    # a board's watchdog can be ~8 s (ESP32); the 30 s fan warm-up must not trip it
    r = rig([PMS, SDS])
    r.run_cycles(1)
    r.hal._wdt = r.board.watchdog(8388)
    now = vtime.ticks_ms()
    for slot in r.st.slots:
        slot.prepare(lambda *a, **k: None)
    for slot in r.st.slots:
        eq(slot.read(r.hal, now, lambda *a, **k: None, [None] * S.N_CHANNELS), True, slot.name)
    if r.board.wdt.fed < 25:
        raise AssertionError("watchdog fed %d times during the warm-up" % r.board.wdt.fed)


def test_scd41_single_shot_mode_and_pms_active_mode():
    scd = dict(SCD, mode="single_shot")
    pms = dict(PMS, passive=False)
    r = rig([scd, BME, pms])
    r.env.overrides = {"co2_ppm": 612.0}
    r.run_cycles(3)
    m = r.board.models["scd4x"]
    eq(m.mode, 0, "idle between single shots")
    eq(m.measurements, 3, "one measurement per cycle")
    approx(r.st.sample.values[S.CO2], 612, 1, "CO2")
    eq(r.board.models["pms5003"].active, True, "PMS5003 left in active mode")
    eq(r.st.sample.fault, 0, "no faults")
    first_warm = (1 << S.CO2) | (1 << S.TEMPERATURE) | (1 << S.HUMIDITY)  # SCD4x outranks BME280
    eq(health(samples(r)[0])[1], first_warm, "first single shot marked warm-up")
    eq(health(samples(r)[1])[1], 0, "the second is not")
    r = rig([dict(SCD, mode="turbo")])
    r.run_cycles(1)
    if not r.find("SENSOR.ABSENT"):
        raise AssertionError("a bad mode is reported")


def _voc_rig(fs=None):
    r = Rig(sensors=[SHT, SGP], fs=fs)
    r.cfg["i2c"]["main"]["sim_port_profile"] = PORT_PROFILE
    return r.boot()


def test_voc_index_learning_survives_a_bus_error():
    r = _voc_rig()
    r.env.overrides = {"voc_ppb": 100.0}
    r.run_cycles(12)  # past the 45-min initial learning at 600 s
    before = r.st.sample.values[S.VOC]
    eq(r.st.slots[-1].driver.index.learning, False, "learned")
    index = r.st.slots[-1].driver.index
    r.board.buses["main"].inject(0x59, "nack", count=1)
    r.run_cycles(1)
    eq(r.st.sample.values[S.VOC], None, "the failed cycle has no VOC value")
    r.run_cycles(1)
    after = r.st.sample.values[S.VOC]
    if r.st.slots[-1].driver.index is not index:
        raise AssertionError("re-open after one bus error started a fresh VOC index")
    if after is None or abs(after - before) > 3:
        raise AssertionError("VOC index %r before the error, %r after" % (before, after))
    eq(health(samples(r)[-1])[1] & (1 << S.VOC), 0, "not learning again")


def test_voc_state_persisted_every_3_h_and_restored_after_a_reset():
    from mptest import TMP

    fs = TMP + "/voc_fs"
    r = _voc_rig(fs)
    r.env.overrides = {"voc_ppb": 100.0}
    r.run_cycles(20)  # 3 h 20 min: learned, then saved once
    path = fs + "/voc-sgp40"
    with open(path) as f:
        serial, saved_s, mean, std = f.read().split()
    eq(int(serial), r.st.slots[-1].driver.sgp.serial, "state tagged with the chip's serial")
    # a reset (same flash): the new boot restores the state instead of learning 45 min anew
    saved = open(path).read()
    r2 = Rig(sensors=[SHT, SGP], fs=fs + "2")
    with open(fs + "2/voc-sgp40", "w") as f:
        f.write(saved)
    vtime.reset(epoch_s=int(saved_s) + 600)  # the reset came 10 min after the last save
    r2.cfg["i2c"]["main"]["sim_port_profile"] = PORT_PROFILE
    r2.env.overrides = {"voc_ppb": 100.0}
    r2.boot()
    r2.run_cycles(3)
    voc = r2.st.slots[-1].driver
    eq(voc.restored, True, "restored from flash")
    eq(voc.index.learning, False, "no initial learning after the restore")
    s = samples(r2)
    if "voc_index" not in s[1]:
        raise AssertionError("VOC index right after the blackout")
    eq(health(s[1])[1] & (1 << S.VOC), 0, "the restored index is not marked as learning")


def test_voc_state_too_old_or_from_another_chip_is_not_restored():
    from mptest import TMP

    fs = TMP + "/voc_old"
    r = Rig(sensors=[SHT, SGP], fs=fs)
    r.cfg["i2c"]["main"]["sim_port_profile"] = PORT_PROFILE
    serial = 0x000003349A1F
    with open(fs + "/voc-sgp40", "w") as f:
        f.write("%d %d 10000.0 30.0\n" % (serial, 1700000000 - 5 * 3600))  # 5 h old
    r.boot()
    r.run_cycles(1)
    eq(r.st.slots[-1].driver.restored, False, "5 h old: learn afresh")
    r = Rig(sensors=[SHT, SGP], fs=fs)
    with open(fs + "/voc-sgp40", "w") as f:
        f.write("%d %d 10000.0 30.0\n" % (serial + 1, 1700000000 - 600))
    r.boot()
    r.run_cycles(1)
    eq(r.st.slots[-1].driver.restored, False, "another chip's state")
    r = Rig(sensors=[SHT, SGP], fs=fs)
    with open(fs + "/voc-sgp40", "w") as f:
        f.write("garbage")
    r.boot()
    r.run_cycles(1)
    eq(r.st.slots[-1].driver.restored, False, "damaged file ignored")
    eq(r.st.sample.values[S.TEMPERATURE] is not None, True, "the station runs on")
