"""Small assertion helpers for MicroPython-side tests (imported by tests/mp_test_*.py)."""

import os

try:
    _getenv = os.getenv
except AttributeError:
    # the WebAssembly port's os has no getenv: its runner (tests/wasm32/run.mjs) writes the
    # MP_* variables down in a module instead
    from wasm32env import getenv as _getenv

# private scratch folder of this test file's run (set by tests/conftest.py)
TMP = _getenv("MP_TMP") or "/tmp"
# I2C port error profile this run simulates (sim/i2c.py PROFILES; set by tests/conftest.py)
PORT_PROFILE = _getenv("MP_PORT_PROFILE") or "generic"


class Skip(Exception):
    """Raise to mark a MicroPython-side test as skipped."""


def approx(actual, expected, tol, what=""):
    if actual is None or abs(actual - expected) > tol:
        raise AssertionError("%s: %r not within %r of %r" % (what, actual, tol, expected))


def raises(exc_type, fn, *args, **kw):
    """Call fn and return the exception it raises; fail if it raises nothing or another type."""
    try:
        fn(*args, **kw)
    except exc_type as exc:
        return exc
    raise AssertionError("%s not raised by %s" % (exc_type.__name__, fn))


def eq(actual, expected, what=""):
    if actual != expected:
        raise AssertionError("%s: %r != %r" % (what, actual, expected))
