"""Run the virtual station with all code from a ROMFS image, as on a board with code in flash.

    micropython -X heapsize=N sim/romboot.py build/romfs/station.romfs [vstation options]

The image bytes themselves sit in this process's heap (the unix port has no flash to map), so
the runner reports them apart: `@@SIM rom_bytes=N`. Everything else on the heap is what a board
would need in RAM. Built by host_tools/stationctl/station/romfs.py.
"""

import gc
import sys

import vfs


def main():
    path = sys.argv[1]
    with open(path, "rb") as f:
        image = f.read()
    vfs.mount(vfs.VfsRom(image), "/rom")
    # code comes from the image only: drop the source folders from the path
    sys.path[:] = ["/rom/fw", "/rom/drv", "/rom", "/rom/lib", ".frozen"]
    gc.collect()
    print("@@SIM rom_bytes=%d heap_after_mount=%d" % (len(image), gc.mem_alloc()))
    sys.argv[:] = [sys.argv[0]] + sys.argv[2:]
    import sim.vstation  # noqa: F401  (runs the station)


main()
