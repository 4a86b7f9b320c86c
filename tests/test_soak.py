"""The short soak (make test): three simulated days of the six-sensor LoRaWAN station under a
seeded storm of faults. The 30-day version is `make soak`."""

from __future__ import annotations

from stationctl.virtual import soak


def test_three_day_soak_loses_nothing_and_keeps_the_budget(tmp_path):
    r = soak.run_soak(days=3, seed=7, fs=tmp_path / "fs", intensity=3)
    print(soak.format_report(r))
    assert r["exit_code"] == 0, r.get("error_tail")
    assert r["samples_produced"] >= 3 * 144
    assert r["lost"] == 0
    # with receipts the journal still holds what arrived after the last receipt
    assert r["delivered"] + r["pending_at_end"] >= r["samples_produced"]
    assert r["decode_errors"] == 0 and r["cycle_errors"] == 0
    assert r["airtime_ms_per_day_max"] <= 30000
    # the default config: unconfirmed uplinks, link checks (their ACK carries the receipt),
    # time answers and joins within the daily downlink budget (with confirmed uplinks: ~100)
    assert r["downlink_budget"] == 10
    assert 1 <= r["downlinks_per_day_max"] <= r["downlink_budget"]
    assert r["downlinks_per_day_mean"] <= r["downlinks_per_day_max"]
    assert r["heap_growth_per_boot_max"] <= 4096
    assert r["faults_scheduled"] >= 8
    assert sum(r["resets"].values()) >= 1
    assert soak.passed(r)


def test_schedule_is_reproducible_from_its_seed():
    import json

    cfg = json.loads(soak.BOARD.read_text())
    a = soak.draw_schedule(30, 3, "lorawan", cfg)
    b = soak.draw_schedule(30, 3, "lorawan", cfg)
    c = soak.draw_schedule(30, 4, "lorawan", cfg)
    assert a == b and a != c
    kinds = {f.split(":")[0] for f in a.faults}
    assert {"gateway", "modem", "power"} <= kinds
    assert any(f.startswith("power:cutwrite") for f in a.faults)


def test_half_day_mqtt_soak_counts_what_the_collector_stored(tmp_path):
    """MQTT: delivered means stored by the collector (`stationctl collect`), with the station on
    delivery receipts; two broker kills (SIGKILL) and a network outage lose nothing."""
    r = soak.run_soak(days=0.5, seed=46, uplink="mqtt", fs=tmp_path / "fs", intensity=3)
    print(soak.format_report(r))
    assert r["exit_code"] == 0, r.get("error_tail")
    assert r["broker_restarts"] == 2
    assert r["samples_produced"] >= 72
    assert r["lost"] == 0
    assert r["delivered"] + r["pending_at_end"] >= r["samples_produced"]
    assert soak.passed(r)
