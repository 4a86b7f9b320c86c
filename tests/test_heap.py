"""Device-sized memory: the station's heap per cycle and over time, with code in flash (ROMFS).

The station runs from a ROMFS image (bytecode executed in place, as on a board with a romfs
partition) with its heap probe on: no garbage collection inside a cycle, so a cycle's figure is
everything it allocates; allocations of the simulated chips are counted apart and left out.
"""

from __future__ import annotations

import re
import subprocess
import sys

from mpy import REPO


def test_cycle_heap_is_small_and_live_heap_flat(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "stationctl.cli", "run", "--romfs", "--heap", "--days", "2",
         "--uplink", "console", "--fs", str(tmp_path / "fs")],
        capture_output=True, text=True, timeout=600, cwd=str(REPO))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    m = re.search(r"sim: heap first_cycle_alloc=(\d+) peak_cycle_alloc=(\d+) live_first=(\d+) "
                  r"live_last=(\d+)", proc.stdout)
    assert m, proc.stdout[-2000:]
    first, peak, live_first, live_last = map(int, m.groups())
    before = int(re.search(r"heap_before_firmware=(\d+)", proc.stdout)[1])
    firmware_live = live_first - before
    print(f"cycle alloc: first {first} B, steady peak {peak} B; live heap {live_first} -> "
          f"{live_last} B; firmware's share of the live heap {firmware_live} B")
    assert 0 < peak < 16 * 1024, "a steady-state cycle must fit in 16 KiB"
    assert 0 < firmware_live < 48 * 1024, "the firmware's own objects must leave room in 64 KiB"
    assert live_last - live_first <= 512, "live heap grows over two days"
    assert "summary: samples=288 uplinked=288 lost=0" in proc.stdout
