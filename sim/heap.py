"""Heap accounting for the simulation: bytes the simulated hardware allocates on the heap.

On a board the chips compute in silicon; here the models run in the same interpreter as the
firmware and allocate (floats, bisection, trace rows). To measure what the *firmware* needs,
every call into a model goes through `call()`, which adds the model's allocation to `excluded`.
The figure is exact while automatic collection is disabled (the station's heap probe does that).
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
