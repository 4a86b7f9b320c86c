"""Host-side test kit (CPython): helpers the host tests share, one job per module.

    cli           stationctl(): the command line run as a program, as a technician runs it
    micropython   run_mp: run code or a script inside the pinned unix MicroPython
    sim_device    a simulated station on a pseudo-terminal (stationctl sim-device)
    station_run   the virtual station as a subprocess, followed line by line
    mqtt_proxy    a TCP proxy that breaks the link to the broker on purpose
    mqtt_rogue    a misbehaving MQTT broker: faults a real broker cannot be made to produce
    chipbus       bus adapters that let third-party CPython drivers reach the chip models
    postgres      a real PostgreSQL server (initdb/pg_ctl) for the collector tests

The MicroPython-side kit (assertions, the test runner, a station on a simulated board, bus
replay) is tests/mpkit/, on the MicroPython path of every mp_test_*.py.
"""
