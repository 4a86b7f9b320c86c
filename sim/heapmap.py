"""What each module costs on the heap when its code runs from a ROMFS image (bytecode in flash).

    micropython -X heapsize=600K sim/heapmap.py build/romfs/station.romfs [set|module ...]

Mounts the image as sim/romboot.py does, then imports the modules one after another (in the
order given, so a module's own imports are charged to the first module that needs them) and
prints `module bytes` for each: gc.mem_alloc() after gc.collect(), before and after the import.
That is the module's resident cost: globals dict, function and class objects, constant objects
(floats, bytes), interned names. Shared tables (the interned-name pools, sys.modules) grow by
doubling and are charged to the import that made them grow: single lines can jump by several KB,
the total is exact. Sets: `console`, `mqtt`, `lorawan` (the firmware modules a
station with that uplink imports, in the station's own order), `sim` (the simulation).
Built by `stationctl run --romfs` (host_tools/stationctl/station/romfs.py); docs/memory.md uses it.
"""

import gc
import sys

import vfs

_CORE = ("diag", "config", "sample", "sensors", "lifecycle", "codec", "version", "station", "hal")
_DRIVERS = ("sht4x", "scd4x", "bme280", "pms5003", "sds011", "sgp40", "voc_index")
_DELIVERY = ("uplink", "journal", "delivery")
SETS = {
    "console": _CORE + _DELIVERY + _DRIVERS,
    "mqtt": _CORE + _DELIVERY + ("uplink_mqtt", "commands") + _DRIVERS,
    "lorawan": _CORE
    + _DELIVERY
    + ("uplink_lorawan", "lorawan_modem", "rak3172", "airtime", "commands")
    + _DRIVERS,
    "sim": (
        "sim.vtime",
        "sim.env",
        "sim.board",
        "sim.heap",
        "sim.netserver",
        "sim.netclock",
        "sim.atmodem",
        "sim.rak3172",
        "sim.lora_e5",
        "sim.powerfs",
    ),
}


def main(argv):
    with open(argv[0], "rb") as f:
        image = f.read()
    vfs.mount(vfs.VfsRom(image), "/rom")
    sys.path[:] = ["/rom/fw", "/rom/drv", "/rom", "/rom/lib", ".frozen"]
    names = []
    for a in argv[1:]:
        names.extend(SETS.get(a, (a,)))
    gc.collect()
    start = gc.mem_alloc()
    print("rom_bytes=%d heap_after_mount=%d" % (len(image), start))
    for name in names:
        if name in sys.modules:
            continue
        gc.collect()
        before = gc.mem_alloc()
        __import__(name)
        gc.collect()
        print("%-16s %6d" % (name, gc.mem_alloc() - before))
    gc.collect()
    print("%-16s %6d" % ("total", gc.mem_alloc() - start))


main(sys.argv[1:])
