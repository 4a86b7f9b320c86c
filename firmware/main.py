"""Board entry point: MicroPython runs main.py after boot.py.

A station whose firmware cannot even be imported (a bad deploy) keeps its REPL and says why,
so a technician can redeploy over USB; a crash after that is handled by station.main.
"""

try:
    import station
except Exception as exc:  # keep the REPL usable whatever is broken
    import sys

    print('      0.000 E BOOT.FAILED exc=%s msg="%s"' % (type(exc).__name__, exc))
    sys.print_exception(exc)
else:
    station.main()
