# Laser particle sensors: off between samples (duty cycle), run time counted and kept on flash.
# mp-heapsize: 1M
from mptest import TMP, eq
from stationkit import Rig

from sim import vtime

PMS = {"type": "pms5003", "name": "pms5003", "uart": "pm"}
SDS = {"type": "sds011", "name": "sds011", "uart": "pm2"}


def _rig(sensors, fs):
    r = Rig(sensors=sensors, fs=fs)
    r.cfg["uart"] = {"pm": {"id": 1, "baud": 9600}, "pm2": {"id": 2, "baud": 9600}}
    return r


def test_lasers_off_between_samples_and_run_time_counted():
    fs = TMP + "/laser_fs"
    r = _rig([PMS, SDS], fs).boot()
    r.run_cycles(1)
    # before the driver opened it, the sensor ran by itself since power-on: not the station's count
    start = {}
    for name in ("pms5003", "sds011"):
        slot = [s for s in r.st.slots if s.name == name][0]
        start[name] = (r.board.models[name].laser_on_us(vtime.now_us()) / 1e6, slot.laser_s)
    t0 = vtime.now_us()
    r.run_cycles(20)  # 200 min at 600 s
    now = vtime.now_us()
    for name in ("pms5003", "sds011"):
        m = r.board.models[name]
        eq(m.asleep, True, name + " asleep between samples")
        on_s = m.laser_on_us(now) / 1e6 - start[name][0]
        duty = on_s / ((now - t0) / 1e6)
        # a 30 s fan warm-up and one read per 600 s cycle: about 5 %, never left on
        if not 0.04 < duty < 0.07:
            raise AssertionError("%s laser duty cycle %.3f (%.0f s on)" % (name, duty, on_s))
        slot = [s for s in r.st.slots if s.name == name][0]
        counted = slot.laser_s - start[name][1]
        if abs(counted - on_s) > 2:
            raise AssertionError("%s counted %d s, the laser was on %.1f s" % (name, counted, on_s))
        # saved on flash every 600 s of laser time
        with open(fs + "/laser-" + name) as f:
            saved = int(f.read())
        if not 600 <= saved <= slot.laser_s:
            raise AssertionError("%s saved %d s of %d" % (name, saved, slot.laser_s))


def test_run_time_continues_from_flash_after_a_reset():
    fs = TMP + "/laser_fs2"
    r = _rig([PMS], fs)
    with open(fs + "/laser-pms5003", "w") as f:
        f.write("%d\n" % (7999 * 3600 + 3590))
    r.boot()
    eq(r.st.slots[0].laser_hours(r.hal), 7999, "hours from flash before the first read")
    r.run_cycles(1)
    eq(r.st.slots[0].laser_hours(r.hal), 8000, "30 s more: the rated 8,000 h")
    r = _rig([PMS], fs)
    with open(fs + "/laser-pms5003", "w") as f:
        f.write("garbage")
    r.boot()
    eq(r.st.slots[0].laser_hours(r.hal), 0, "a damaged count starts again at 0")


def test_status_frame_carries_the_laser_run_hours():
    import codec
    import commands

    fs = TMP + "/laser_fs3"
    r = _rig([PMS, SDS], fs)
    with open(fs + "/laser-sds011", "w") as f:
        f.write("%d\n" % (1234 * 3600 + 10))
    r.boot()
    buf = bytearray(64)
    n = commands.status_frame(r.st, buf)
    kinds = [codec.SENSOR_TYPES[b & 0x7F] for b in buf[16 : 16 + (buf[15] & 0x1F)]]
    eq(n, 16 + 2 + 4 + 4, "two sensors, two run-hour words, the dropped count")
    hours = {kinds[i]: (buf[18 + 2 * i] << 8) | buf[19 + 2 * i] for i in range(2)}
    eq(hours, {"pms5003": 0, "sds011": 1234}, "run hours in the sensors' order")
    eq(bytes(buf[22:26]), bytes(4), "nothing dropped, after the run hours")
