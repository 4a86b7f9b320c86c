"""Simulated hardware for the unix port of MicroPython. Never deployed to a board.

Import order matters: `sim.vtime.install()` replaces the `time` module in sys.modules with the
virtual clock before any firmware or driver module is imported.
"""
