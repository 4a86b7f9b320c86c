# The allocation checks catch big-int intermediates only on a port whose small ints are as
# narrow as a board's: this proves the wasm32 port is one, and that heap_lock catches them there.
# mp-ports: unix wasm32
import sys

import micropython

from mptest import eq


def _double(x):
    return x * 2  # at run time, so the compiler cannot fold it into a constant


def _allocates(fn, arg):
    micropython.heap_lock()
    try:
        fn(arg)
    except MemoryError:
        micropython.heap_unlock()
        return True
    micropython.heap_unlock()
    return False


def test_small_int_width_is_the_ports():
    if sys.platform == "webassembly":
        eq(sys.maxsize, (1 << 31) - 1, "wasm32 small ints are 31-bit, as on ESP32 and RP2040")
    else:
        eq(sys.maxsize, (1 << 63) - 1, "unix port small ints are 63-bit")


def test_heap_lock_catches_an_int_above_2_to_the_30():
    eq(_allocates(_double, (1 << 29) - 1), False, "2**30 - 2 is a small int everywhere")
    eq(_allocates(_double, 1 << 29), sys.maxsize < (1 << 31), "2**30 is a heap int on 32-bit")
    eq(_allocates(_double, -(1 << 29)), False, "-2**30 is the smallest 31-bit small int")
    eq(_allocates(_double, -(1 << 29) - 1), sys.maxsize < (1 << 31), "below -2**30")
