"""sim/drivercost.py: every driver's steady-state read allocates nothing and takes its datasheet time."""

from __future__ import annotations

import re

from hostkit.micropython import run_mp

# virtual ms per read: conversion/command times of the datasheets plus bus or 9600-baud wire time
EXPECTED_MS = {
    "bme280": (9.3, 15),  # forced conversion x1/x1/x1, max 9.3 ms (BME280 9.1)
    "sht4x": (8.3, 12),  # high repeatability, max 8.3 ms
    "scd4x": (2.0, 6),  # data-ready query + read_measurement, 1 ms each
    "sgp40": (30.0, 33),  # measure_raw_signal, 30 ms
    "pms5003": (35.0, 60),  # 7-byte request + 32-byte frame at 9600 baud
    "sds011": (25.0, 45),  # 19-byte query + 10-byte frame at 9600 baud
}


def test_reads_allocate_nothing_and_take_datasheet_time():
    proc = run_mp(script="sim/drivercost.py", heapsize="1M", timeout=300)
    rows = re.findall(r"^(\w+)\s+read\s+([\d.]+) ms\s+driver\s+(\d+) B/read", proc.stdout, re.M)
    assert {r[0] for r in rows} == set(EXPECTED_MS), proc.stdout
    for name, ms, alloc in rows:
        lo, hi = EXPECTED_MS[name]
        assert lo <= float(ms) <= hi, (name, ms)
        assert int(alloc) == 0, (name, alloc)
