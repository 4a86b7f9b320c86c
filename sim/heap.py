"""Heap accounting for the simulation: what the station's cycles need, apart from the simulation.

On a board the chips compute in silicon; here the models run in the same interpreter as the
firmware and allocate (floats, bisection, trace rows). To measure what the *firmware* needs,
every call into a model goes through `call()`, which adds the model's allocation to `excluded`.
The figure is exact while automatic collection is disabled (`CycleMeter` does that).
`CycleMeter(station)` measures each cycle from outside: the station carries no instrumentation.
"""

import gc

excluded = 0


def call(fn, *args):
    global excluded
    before = gc.mem_alloc()
    try:
        return fn(*args)
    finally:
        used = gc.mem_alloc() - before
        if used > 0:
            excluded += used


def count():
    return excluded


class CycleMeter:
    """The heap of a station's cycles, measured around `station._cycle` (Station.cycle collects
    the garbage first, then calls it).

    live_heap        bytes in use after that collection, this cycle: flat over a long run
    live_heap_early  the same at the third cycle, after the first cycles' imports and allocations
    With `allocations`, no collection during the cycle, so everything it allocates stays
    counted (less the simulated chips' own, `excluded`): an upper bound of the heap one cycle
    needs on top of the live data.
    first_alloc      the first cycle's (it imports the drivers on first use)
    peak_alloc       the most demanding later cycle's
    """

    def __init__(self, station, allocations=False):
        self.station = station
        self.allocations = allocations
        self.live_heap = 0
        self.live_heap_early = 0
        self.first_alloc = 0
        self.peak_alloc = 0
        self._cycle = station._cycle
        station._cycle = self._measured

    def _measured(self):
        base = gc.mem_alloc()
        self.live_heap = base
        if self.station.cycles == 2:
            self.live_heap_early = base
        if self.allocations:
            gc.disable()
            ex0 = excluded
        try:
            self._cycle()
        finally:
            if self.allocations:
                used = gc.mem_alloc() - base - (excluded - ex0)
                gc.enable()
                if self.station.cycles <= 1:
                    self.first_alloc = used
                elif used > self.peak_alloc:
                    self.peak_alloc = used
