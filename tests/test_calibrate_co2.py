"""`stationctl calibrate-co2` end to end: the real CLI, a real broker (Mosquitto), the real
firmware on the virtual station with an SCD4x model. Refused with the reason while the sensor has
just started, done with the correction in the ack once it has measured for 3 minutes."""

from __future__ import annotations

import json
import shutil
import threading
import time

import pytest
from hostkit.cli import stationctl
from hostkit.station_run import StationRun
from stationctl.virtual.broker import Broker, Subscriber

BOARD = {
    "board": "unix-sim-co2",
    "family": "unix",
    "i2c": {"main": {"id": 0, "scl": 22, "sda": 21, "freq": 100000}},
    "sensors": [
        {"type": "bme280", "name": "bme280", "bus": "main", "address": 118},
        {"type": "scd4x", "name": "scd4x", "bus": "main", "address": 98},
    ],
}
TOPIC = "climate/station-0000"


def _calibrate(broker, results, key, cmd_id):
    results[key] = stationctl(
        "calibrate-co2", "--ppm", "415", "--station", "station-0000",
        "--port", str(broker.port), "--cmd-id", str(cmd_id), "--timeout", "60",
    )  # fmt: skip


def test_calibrate_co2_over_mqtt(tmp_path):
    # amqtt does not deliver QoS 1 messages queued for a persistent session that reconnects, so
    # a command sent between two cycles never arrives there: the real broker of a deployment
    if not shutil.which("mosquitto"):
        pytest.skip("needs mosquitto (Debian: apt-get install mosquitto)")
    board = tmp_path / "board.json"
    board.write_text(json.dumps(BOARD))
    broker = Broker("mosquitto").start()
    results: dict[str, object] = {}
    threads: list[threading.Thread] = []
    args = [
        "--board", str(board), "--uplink", "mqtt", "--trace", "synthetic",
        "--set", f"mqtt.port={broker.port}", "--pace", "0.004",
    ]  # fmt: skip
    try:
        # a first boot leaves the station's session (its /cmd subscription) at the broker
        StationRun([*args, "--cycles", "1"], tmp_path / "fs1").wait()
        # the command waits there while the station is off; it reboots with a fresh sensor
        sub = Subscriber(broker.port, TOPIC + "/cmd").start()
        threads.append(threading.Thread(target=_calibrate, args=(broker, results, "early", 1)))
        threads[-1].start()
        deadline = time.monotonic() + 30
        while not sub.snapshot() and time.monotonic() < deadline:
            time.sleep(0.05)
        sub.stop()

        def on_line(run, line):
            if len(run.produced) == 2 and "late" not in results:
                results["late"] = None
                threads.append(
                    threading.Thread(target=_calibrate, args=(broker, results, "late", 2))
                )
                threads[-1].start()

        run = StationRun([*args, "--cycles", "5"], tmp_path / "fs2", on_line).wait()
        for t in threads:
            t.join(60)
    finally:
        broker.close()
    early, late = results["early"], results["late"]
    assert early.returncode == 1, early.stdout + early.stderr
    assert "refused: not_ready" in early.stdout and "3 minutes" in early.stdout
    assert any("recalibration needs 180 s" in ln for ln in run.find("COMMAND.REJECTED"))
    assert late.returncode == 0, late.stdout + late.stderr
    assert "CO2 recalibrated to 415 ppm, correction" in late.stdout
    done = run.find("COMMAND.DONE")
    assert any("calibrate_co2" in ln and "correction_ppm=" in ln for ln in done), done
