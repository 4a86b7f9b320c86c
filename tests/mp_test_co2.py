# Remote CO2 calibration and compensation: ASC from the station config, forced recalibration as a
# downlink command (ack carries the correction), barometric compensation every cycle.
# mp-heapsize: 1M
# mp-port-profiles: generic esp32 rp2
import commands  # noqa: I001
import sample as S
from mptest import PORT_PROFILE, eq
from stationkit import Rig

from sim import vtime

SCD = {"type": "scd4x", "name": "scd4x", "bus": "main", "address": 0x62}
BME = {"type": "bme280", "name": "bme280", "bus": "main", "address": 0x76}


def rig(sensors):
    r = Rig(sensors=sensors)
    r.cfg["i2c"]["main"]["sim_port_profile"] = PORT_PROFILE
    return r.boot()


def frc(ppm, cmd_id=9):
    return bytes((0x28, cmd_id, ppm >> 8, ppm & 0xFF))


def test_pressure_compensation_from_the_barometer_every_cycle():
    r = rig([BME, SCD])
    m = r.board.models["scd4x"]
    for p in (1013.0, 990.4, 990.6, 1021.2):
        r.env.overrides = {"pressure_hpa": p, "co2_ppm": 600.0}
        r.run_cycles(1)
        eq(m.ambient_hpa, int(p + 0.5), "SCD4x compensates with the barometer's %r hPa" % p)
    # the chip lost the setting (brown-out of the sensor alone): back at the next cycle
    m.ambient_hpa = 0
    r.run_cycles(1)
    eq(m.ambient_hpa, 1021, "re-sent every cycle, not only on a change")
    r.run_cycles(1)
    if abs(r.st.sample.values[S.CO2] - 600) > 1:
        raise AssertionError("compensated CO2 %r" % r.st.sample.values[S.CO2])


def test_asc_from_the_station_config_applied_while_idle():
    r = rig([SCD])
    m = r.board.models["scd4x"]
    r.run_cycles(1)
    eq(m.asc, 1, "factory default: ASC on")
    ack = commands.apply(r.st, b'\x27\x03\x09scd4x.asc"off"')
    eq(ack, b"\x58\x03\x00", "set_config scd4x.asc accepted")
    r.run_cycles(1)
    # the model NACKs set_automatic_self_calibration during periodic measurement: it was idle
    eq(m.asc, 0, "ASC off on the chip")
    eq(m.mode, 1, "periodic measurement running again")
    n = m.commands
    r.run_cycles(2)
    eq(r.st.sample.values[S.CO2] is not None, True, "still measuring")
    if m.commands - n > 12:
        raise AssertionError("ASC rewritten every cycle (%d commands)" % (m.commands - n))
    ack = commands.apply(r.st, b'\x27\x04\x09scd4x.asc"maybe"')
    eq(ack[2], commands.BAD_VALUE, "not a choice")


def test_forced_recalibration_downlink_acks_the_correction():
    r = rig([SCD])
    r.env.overrides = {"co2_ppm": 500.0, "pressure_hpa": 1013.25}  # the altitude's pressure
    r.run_cycles(1)
    ack = commands.apply(r.st, frc(520))
    eq(len(ack), 5, "ack with a result")
    eq(ack[:3], b"\x58\x09\x00", "done")
    eq(ack[3] << 8 | ack[4], 20, "correction +20 ppm")
    r.run_cycles(1)
    eq(r.st.sample.values[S.CO2], 520, "the sensor now reads the reference")
    # the correction can be negative
    ack = commands.apply(r.st, frc(450, 10))
    eq(ack[2], commands.OK, "done")
    eq((ack[3] << 8 | ack[4]) - 65536, -70, "correction -70 ppm")


def test_forced_recalibration_refused_with_a_reason():
    r = rig([SCD])
    lines = r.lines
    ack = commands.apply(r.st, frc(420, 1))
    eq(ack, b"\x58\x01\x09", "not_ready before the first reading")
    vtime.advance_ms(1000)
    r.run_cycles(1)
    # measured, but not for 3 minutes since it was (re)opened
    slot = r.st.slots[0]
    slot.opened_at = vtime.ticks_add(vtime.ticks_ms(), -60000)
    ack = commands.apply(r.st, frc(420, 2))
    eq(ack, b"\x58\x02\x09", "not_ready after 60 s")
    reasons = [line for line in lines if "COMMAND.REJECTED" in line]
    if "needs 180 s" not in reasons[-1]:
        raise AssertionError(reasons[-1])
    eq(commands.apply(r.st, frc(100, 3)), b"\x58\x03\x04", "reference outside 400..5000 ppm")
    eq(commands.apply(r.st, b"\x28\x04\x01"), b"\x58\x04\x03", "one byte short")
    r2 = rig([BME])
    eq(commands.apply(r2.st, frc(420, 5)), b"\x58\x05\x08", "no SCD4x: unsupported")
