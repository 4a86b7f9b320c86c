"""sim/drivercost.py: every driver's steady-state read allocates nothing and takes its datasheet time."""

from __future__ import annotations

import re
import shutil

import pytest
from hostkit.micropython import run_mp
from stationctl.mpenv import REPO_ROOT, micropython_path, wasm32_command

# virtual ms per read: conversion/command times of the datasheets plus bus or 9600-baud wire time
EXPECTED_MS = {
    "bme280": (9.3, 15),  # forced conversion x1/x1/x1, max 9.3 ms (BME280 9.1)
    "sht4x": (8.3, 12),  # high repeatability, max 8.3 ms
    "scd4x": (2.0, 6),  # data-ready query + read_measurement, 1 ms each
    "sgp40": (30.0, 33),  # measure_raw_signal, 30 ms
    "pms5003": (35.0, 60),  # 7-byte request + 32-byte frame at 9600 baud
    "sds011": (25.0, 45),  # 19-byte query + 10-byte frame at 9600 baud
}


@pytest.mark.parametrize("port", ["unix", "wasm32"])
def test_reads_allocate_nothing_and_take_datasheet_time(port):
    # on wasm32 small ints are 31-bit as on the boards: an integer above 2**30 on a driver's
    # read path is a heap object there and fails this test
    if port == "wasm32" and shutil.which("node") is None:
        pytest.skip("Node is not installed: the 32-bit MicroPython runs under Node")
    if port == "wasm32":
        # that port has no host filesystem: run.mjs copies the MICROPYPATH folders into its
        # memory, so the test kit the script puts on its path must be named here
        mpkit = REPO_ROOT / "tests" / "mpkit"
        proc = run_mp(
            script="sim/drivercost.py",
            interpreter=wasm32_command() + ["-X", "heapsize=1M"],
            env_extra={"MICROPYPATH": f"{mpkit}:{micropython_path()}"},
            timeout=300,
        )
    else:
        proc = run_mp(script="sim/drivercost.py", heapsize="1M", timeout=300)
    rows = re.findall(r"^(\w+)\s+read\s+([\d.]+) ms\s+driver\s+(\d+) B/read", proc.stdout, re.M)
    assert {r[0] for r in rows} == set(EXPECTED_MS), proc.stdout
    for name, ms, alloc in rows:
        lo, hi = EXPECTED_MS[name]
        assert lo <= float(ms) <= hi, (name, ms)
        assert int(alloc) == 0, (name, alloc)
