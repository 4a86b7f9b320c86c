"""A simulated week at 10-minute sampling on each uplink: nothing produced is lost.

MQTT: a real broker (amqtt, or Mosquitto when installed) behind a proxy the test controls: a
12-hour network outage, two broker kills with restart, three power cuts at random moments.
LoRaWAN (RAK3172, and a shorter run on the LoRa-E5): a 12-hour gateway outage, modem busy,
no-free-channel, lost ACKs, denied joins, a modem reboot and three power cuts; airtime is checked
against an independent time-on-air formula and the 30 s/day fair-use budget.
Each test prints produced / delivered / duplicates / max journal depth.
"""

from __future__ import annotations

import json
import math
import random
import re
import time
from collections import defaultdict

import pytest
from hostkit.mqtt_proxy import Proxy
from hostkit.station_run import StationRun, decode_seqs, report, wait_for
from stationctl.virtual import vstation
from stationctl.virtual.broker import Broker, Subscriber, kinds_available

DAY = 86400
PREFIX = "climate/station-0000"


def _power_cuts(seed: int, days: float) -> list[str]:
    rnd = random.Random(seed)
    # random moments in the first 5/7 of the run: the last days show the backlog drained
    end = days * DAY * 5 / 7
    return [f"power:cut@{rnd.uniform(3600, end):.3f}" for _ in range(3)]


@pytest.mark.parametrize("kind", ["amqtt", "mosquitto"])
def test_week_mqtt(tmp_path, kind):
    if kind not in kinds_available():
        pytest.skip(f"{kind} not installed (Debian: apt-get install {kind})")
    broker = Broker(kind).start()
    proxy = Proxy(broker.port)
    sub = Subscriber(broker.port, PREFIX + "/#").start()
    events: dict[str, int] = {}

    def restart_broker():
        broker.stop(kill=True)
        time.sleep(0.3)
        proxy.set_mode("refuse")  # until the subscriber listens again
        broker.start()
        sub.subscribed.clear()
        sub.client.reconnect()
        sub.wait_subscribed()
        proxy.set_mode("pass")

    def on_line(run, line):
        if not line.lstrip()[:1].isdigit() or " I SAMPLE " not in line:
            return
        n = len(run.produced)
        if n == 300 and "outage_from" not in events:
            events["outage_from"] = n
            proxy.set_mode("refuse")
        elif n == 372 and "outage_to" not in events:
            events["outage_to"] = n
            proxy.set_mode("pass")
        elif n in (520, 760) and f"restart_{n}" not in events:
            events[f"restart_{n}"] = n
            restart_broker()

    args = [
        "--days", "7", "--uplink", "mqtt", "--trace", "synthetic",
        "--set", f"mqtt.port={proxy.port}", "--set", "mqtt.timeout_s=2",
        *[a for f in _power_cuts(7, 7) for a in ("--fault", f)],
    ]  # fmt: skip
    t0 = time.monotonic()
    run = StationRun(args, tmp_path / "fs", on_line).wait(timeout=600)
    wall = time.monotonic() - t0
    wait_for(lambda: set(run.produced) <= set(decode_seqs(_up(sub))), timeout=10)
    seqs = decode_seqs(_up(sub))
    fig = report(f"week-mqtt-{kind}", run.produced, seqs, run)
    print(f"week-mqtt: wall={wall:.1f}s events={events} resets={run.end.get('resets')}")
    assert run.end.get("resets") == "power_cut:3"
    assert {"outage_from", "outage_to", "restart_520", "restart_760"} <= set(events)
    # a power cut restarts the schedule (boot + k * interval), so a cut can add or drop a slot
    assert abs(fig["produced"] - 1008) <= 3
    assert fig["lost"] == 0, sorted(set(run.produced) - set(seqs))[:20]
    assert fig["max_journal_depth"] >= 60  # the outage's samples waited in the journal
    assert run.journal["pending"] == "0"
    sub.stop()
    proxy.close()
    broker.close()


def _up(sub):
    return [(p, None) for t, p, _ in sub.snapshot() if t == PREFIX + "/up"]


def toa_ms_oracle(dr: int, phy_bytes: int) -> int:
    """EU868 time on air (Semtech AN1200.13), written independently of firmware/airtime.py."""
    sf = 12 - dr
    tsym = (2**sf) / 125.0
    de = 1 if sf >= 11 else 0
    payload_symbols = 8 + max(
        math.ceil((8 * phy_bytes - 4 * sf + 28 + 16) / (4 * (sf - 2 * de))) * 5, 0
    )
    return math.ceil((8 + 4.25) * tsym + payload_symbols * tsym - 1e-9)


def _lorawan_week(tmp_path, board: str, days: float, outage_at: float, seed: int):
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps(vstation.NS_SECRETS))
    d = DAY
    faults = [
        f"gateway:down@{outage_at}+{12 * 3600}",
        f"modem:busy*3@{1.2 * d}",
        f"modem:nochannel*3@{1.4 * d}",
        f"modem:noack*2@{2.3 * d}",
        f"modem:joindeny*2@{2.6 * d}",
        f"modem:reboot@{2.6 * d}",
        *_power_cuts(seed, days),
    ]
    args = [
        "--board", f"board_configs/{board}.json", "--secrets", str(secrets), "--uplink", "lorawan",
        "--set", "lorawan.dr=5", "--set", "lorawan.confirmed=true", "--trace", "synthetic",
        "--days", str(days), *[a for f in faults for a in ("--fault", f)],
    ]  # fmt: skip
    t0 = time.monotonic()
    run = StationRun(args, tmp_path / "fs").wait(timeout=600)
    wall = time.monotonic() - t0
    frames = []
    for line in run.lines:
        up = vstation.network_server_up(line)
        if up and up[0] == 1:
            frames.append((up[1], 1))
    seqs = decode_seqs(frames)
    fig = report(f"week-lorawan-{board}", run.produced, seqs, run)
    # airtime: every transmission (received or not) against the oracle, summed per UTC day
    epoch = int(
        re.search(r"epoch=(\d+)", next(x for x in run.lines if x.startswith("@@SIM start")))[1]
    )
    per_day: dict[int, int] = defaultdict(int)
    txs = 0
    for line in run.lines:
        tx = vstation.radio_tx(line)
        if tx:
            assert tx.toa_ms == toa_ms_oracle(tx.dr, tx.phy_bytes), line
            per_day[(epoch + tx.t_s) // DAY] += tx.toa_ms
            txs += 1
    worst = max(per_day.values())
    print(
        f"week-lorawan-{board}: wall={wall:.1f}s transmissions={txs} "
        f"airtime_ms_per_day={dict(sorted(per_day.items()))} worst={worst}"
    )
    assert run.end.get("resets") == "power_cut:3"
    assert fig["lost"] == 0, sorted(set(run.produced) - set(seqs))[:20]
    assert abs(fig["produced"] - int(days * DAY / 600)) <= 3  # a power cut restarts the schedule
    assert worst <= 30000, f"fair-use budget exceeded: {worst} ms in one day"
    assert run.journal["pending"] == "0"
    assert fig["max_journal_depth"] >= 60
    assert (
        fig["duplicates"] >= 1
    )  # a lost ACK: the network had the frame, the station sent it again
    for code in ("LORAWAN.SEND", "LORAWAN.JOIN_FAILED"):
        assert run.find(code), f"{code} never happened: the fault did not bite"
    sends = " ".join(run.find("LORAWAN.SEND"))
    for result in ("result=busy", "result=no_channel", "result=no_ack"):
        assert result in sends
    # the modem reboot: RUI3 announces it; the LoRa-E5 restarts silently (the command in flight is
    # lost: timeout) and later says "not joined"
    assert (
        run.find("LORAWAN.MODEM_RESTARTED")
        or "result=not_joined" in sends
        or "result=timeout" in sends
    )
    return fig


def test_week_lorawan_rak3172(tmp_path):
    _lorawan_week(tmp_path, "unix-sim-lorawan", 7, outage_at=1.5 * DAY, seed=11)


@pytest.mark.parametrize("board", ["unix-sim-lora-e5"])
def test_three_days_lorawan_lora_e5(tmp_path, board):
    _lorawan_week(tmp_path, board, 3, outage_at=0.5 * DAY, seed=5)


def test_unconfirmed_lorawan_outages_lose_nothing_within_the_downlink_budget(tmp_path):
    """The default config (unconfirmed, receipts): a 10 h gateway outage that a link check
    finds, and a 40 min one between two checks that only the receipt's gap shows; every sample
    reaches the network server's application side, downlinks stay within 10 a day."""
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps(vstation.NS_SECRETS))
    faults = [f"gateway:down@{0.3 * DAY:.0f}+{10 * 3600}", f"gateway:down@{1.6 * DAY:.0f}+2400"]
    args = [
        "--board", "board_configs/unix-sim-lorawan.json", "--secrets", str(secrets),
        "--uplink", "lorawan", "--set", "lorawan.dr=5", "--trace", "synthetic", "--days", "2.5",
        *[a for f in faults for a in ("--fault", f)],
    ]  # fmt: skip
    run = StationRun(args, tmp_path / "fs").wait(timeout=300)
    frames = [(up[1], 1) for up in map(vstation.network_server_up, run.lines) if up and up[0] == 1]
    seqs = set(decode_seqs(frames))
    pending = int(run.journal["pending"])
    # what the far end lacks is only among the newest records, still in the journal
    missing = set(run.produced) - seqs
    assert missing <= set(run.produced[len(run.produced) - pending :]), sorted(missing)[:20]
    assert len(seqs) >= len(run.produced) - 80  # the last receipt is at most a check ago
    assert run.find("LORAWAN.LINK_LOST") and run.find("LORAWAN.LINK_BACK")
    resends = " ".join(run.find("DELIVERY.RESEND"))
    assert "why=link" in resends and "why=gap" in resends
    per_day: dict[int, int] = defaultdict(int)
    for line in run.lines:
        m = re.match(r"^@@NS (?:up .*\bconfirmed=1\b.*|join .*accepted=1.*|time .*)\bt=(\d+)", line)
        if m:
            per_day[int(m[1]) // DAY] += 1
    print(f"unconfirmed outages: downlinks per day {dict(per_day)}, journal {run.journal}")
    assert 1 <= max(per_day.values()) <= 10


def test_spent_fair_use_budget_keeps_samples_in_the_journal(tmp_path):
    """With a 3 s/day budget the station stops sending for the day; samples wait, none is lost."""
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps(vstation.NS_SECRETS))
    args = [
        "--board", "board_configs/unix-sim-lorawan.json", "--secrets", str(secrets),
        "--uplink", "lorawan", "--set", "lorawan.dr=5", "--set", "lorawan.confirmed=true",
        "--set", "lorawan.fair_use_s=3", "--trace", "synthetic", "--days", "1.5",
    ]  # fmt: skip
    run = StationRun(args, tmp_path / "fs").wait(timeout=300)
    per_day: dict[int, int] = defaultdict(int)
    for line in run.lines:
        tx = vstation.radio_tx(line)
        if tx:
            per_day[(1700000000 + tx.t_s) // DAY] += tx.toa_ms
    print(f"fair-use 3 s: airtime_ms_per_day={dict(per_day)} journal={run.journal}")
    assert max(per_day.values()) <= 3000
    assert run.find("LORAWAN.BUDGET")
    assert int(run.journal["pending"]) > 0  # waiting, not dropped
    assert run.journal["dropped"] == "0"
    frames = [(up[1], 1) for up in map(vstation.network_server_up, run.lines) if up]
    seqs = set(decode_seqs(frames))
    pending = int(run.journal["pending"])
    # everything not yet sent is exactly the newest `pending` samples, still in the journal
    assert seqs == set(run.produced[: len(run.produced) - pending])


def test_lorawan_downlink_commands_are_answered(tmp_path):
    from stationctl.payload import decoder as codec

    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps(vstation.NS_SECRETS))
    status = codec.encode_command("request_status", cmd_id=7).hex()
    # out of range: the encoder would refuse it, the station must too
    bad = codec.encode_command("set_interval", cmd_id=8, check=False, interval_s=5).hex()
    args = [
        "--board", "board_configs/unix-sim-lora-e5.json", "--secrets", str(secrets),
        "--uplink", "lorawan", "--set", "lorawan.dr=5", "--set", "lorawan.confirmed=true",
        "--trace", "synthetic", "--cycles", "5", "--downlink", f"10:{status}", "--downlink", f"10:{bad}",
    ]  # fmt: skip
    run = StationRun(args, tmp_path / "fs").wait(timeout=120)
    ups = [up for up in map(vstation.network_server_up, run.lines) if up]
    acks = {d["cmd_id"]: d["result"] for p, f in ups if p == 4 for d in codec.decode(f, 4)}
    assert acks == {7: "ok", 8: "out_of_range"}, ups
    statuses = [codec.decode(f, 3)[0] for p, f in ups if p == 3]
    assert statuses and statuses[0]["frame"] == "status"
    assert len(run.find("DOWNLINK")) >= 2


def test_batch_setting_sends_samples_together(tmp_path):
    args = ["--uplink", "console", "--set", "batch=4", "--trace", "synthetic", "--cycles", "12"]
    run = StationRun(args, tmp_path / "fs").wait(timeout=120)
    tx = [ln for ln in run.lines if " UPLINK.TX " in ln]
    frames = [(bytes.fromhex(re.search(r"hex=([0-9a-f]+)", ln)[1]), 1) for ln in tx]
    assert len(frames) == 3, tx
    assert decode_seqs(frames) == list(range(1, 13))
