# Heap economy of firmware and simulation parts (docs/memory.md): what they keep and allocate.
import gc

from mptest import TMP, approx, eq


def _alloc(fn, *args):
    """Bytes fn(*args) allocates (no collection in between)."""
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        fn(*args)
        return gc.mem_alloc() - before
    finally:
        gc.enable()


def test_config_keeps_no_schema_between_validations():
    import config

    # the schema is built on use; the module's globals hold no dict of it
    for name in ("SCHEMA", "SECRETS_SCHEMA"):
        if name in config.__dict__:
            raise AssertionError("config.%s is resident" % name)
    # ... but reads as before, for the code that looks entries up
    eq(config.SCHEMA["interval_s"], ("int", 600, (10, 86400)), "SCHEMA entry")
    eq(config.SECRETS_SCHEMA["lorawan_appkey"], ("hex", "", 32), "SECRETS_SCHEMA entry")
    eq(config.defaults(config.SCHEMA), config.defaults(), "defaults from the schema read")
    try:
        config.NO_SUCH_NAME  # noqa: B018 - the lookup itself is the test
    except AttributeError:
        pass
    else:
        raise AssertionError("unknown attribute must raise AttributeError")


def test_voc_index_step_allocates_little():
    from voc_index import VocIndex

    v = VocIndex()
    for i in range(300):  # past blackout and initial learning
        v.process(30000 + (i * 37) % 500, 600.0)
    per_call = _alloc(lambda: [v.process(30200 + i, 600.0) for i in range(10)]) // 10
    # 3.7 KB per call on the 64-bit unix port before the constants were folded
    if per_call > 3200:
        raise AssertionError("VocIndex.process allocates %d bytes per call" % per_call)


def _trace(path):
    # a row every 10 s from 0 to 190 s, with v = t
    with open(path, "w") as f:
        f.write("time;v\n")
        for k in range(20):
            s = k * 10
            f.write("2020-01-01T00:%02d:%02d;%d\n" % (s // 60, s % 60, s))


def test_trace_small_step_back_does_not_reread_the_file():
    from sim.env import TraceReader

    path = TMP + "/trace_step_back.csv"
    _trace(path)
    r = TraceReader(path, ";", 0, {"v": (1, 1.0)})
    rewinds = [0]
    rewind = r._rewind

    def counting():
        rewinds[0] += 1
        rewind()

    r._rewind = counting
    approx(r.sample(25.0)[0], 25.0, 1e-9, "t=25")
    approx(r.sample(31.0)[0], 31.0, 1e-9, "t=31")
    approx(r.sample(29.0)[0], 29.0, 1e-9, "t=29, a step back across a row")
    approx(r.sample(30.0)[0], 30.0, 1e-9, "t=30, on the row")
    approx(r.sample(45.0)[0], 45.0, 1e-9, "t=45")
    eq(rewinds[0], 1, "the file is read from its start once")
    approx(r.sample(5.0)[0], 5.0, 1e-9, "a jump back further than a row rereads")
    eq(rewinds[0], 2, "rewinds after a long jump back")
    r.close()


def test_cycle_meter_measures_the_station_from_outside():
    from stationkit import Rig

    from sim import heap

    rig = Rig(fs=TMP + "/meter_fs").boot()
    for name in ("heap_probe", "peak_alloc", "live_heap"):
        eq(hasattr(rig.st, name), False, "the station carries no instrumentation: " + name)
    meter = heap.CycleMeter(rig.st, allocations=True)
    rig.run_cycles(4)
    eq(rig.st.cycles, 4, "cycles ran through the meter")
    eq(gc.isenabled(), True, "collection back on after a measured cycle")
    eq(meter.first_alloc > meter.peak_alloc > 0, True, "first cycle imports, later ones allocate")
    eq(meter.live_heap_early > 0 and meter.live_heap > 0, True, "live heap taken")
