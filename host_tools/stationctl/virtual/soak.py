"""A month in the field, in minutes: the virtual station under a seeded storm of faults.

`run_soak(days, seed, uplink)` draws a fault schedule from the seed, runs the real firmware on
the simulated six-sensor board (sim/vstation.py inside unix MicroPython) and reports what a
field engineer would ask: samples produced, delivered, lost, duplicates, resets by cause,
safe-mode entries, max journal depth, heap, airtime and downlinks per day (LoRaWAN).

Faults drawn (rates per simulated day, all times uniform over the run unless said):
  sensor faults   0.8/day: a random fitted sensor gets a random fault of its bus (absent, NACK,
                  corrupt, slow, timeout / UART garbage, truncate, drop, silent) or of its values
                  (stuck, out of range, offset) for 10 min .. 6 h
  outages         one of 12 h .. 24 h, plus 0.2/day of 5 min .. 12 h (LoRaWAN: the gateway is
                  down; MQTT: the station's network is down)
  modem faults    1/day (LoRaWAN): busy, no free channel, lost ACKs, denied joins, modem reboot
  broker restarts 0.2/day (MQTT): the broker is killed and restarted by the host
MQTT: a sample counts as delivered when `stationctl collect`'s collector (SQLite in a temporary
folder) has stored it; the station runs with delivery receipts (`mqtt.receipts`), so a broker
killed while holding acknowledged frames costs re-sends, not samples. LoRaWAN: when the
simulated network server's application side received it.
  power cuts      0.25/day, half of them inside a flash write (journal append, config or
                  breadcrumb file), after 1..200 bytes of it
  clock jumps     0.1/day: the wall clock jumps by -2 h .. +2 h
The last 10 % of the run is kept free of outages so the backlog can drain before the report.
`intensity` multiplies every rate (the short soak in `make test` uses 3).
"""

from __future__ import annotations

import json
import math
import random
import re
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from stationctl.mpenv import REPO_ROOT, spawn
from stationctl.payload import decoder as codec
from stationctl.payload.seqnum import unwrap_seq
from stationctl.virtual import vstation

DAY = 86400
BOARD = REPO_ROOT / "board_configs" / "unix-sim-full-lorawan.json"
BUS_KINDS = ("absent", "nack", "corrupt", "slow", "timeout")
UART_KINDS = ("absent", "corrupt", "slow", "garbage", "truncate", "drop", "silent")
VALUE_KINDS = ("stuck", "force", "offset")
DOWNLINK_BUDGET = 10  # lorawan.downlinks_per_day, the default the soak runs with
MODEM_KINDS = ("busy", "nochannel", "noack", "joindeny", "reboot")

_UNWRAP_BEHIND = 64  # see unwrap_seqs
_CODE = re.compile(r"^\s*\d+\.\d+ ([DIWE]) ([A-Z][A-Z0-9_.]*)")
# downlinks the simulated network server sends: the ACK of a confirmed uplink it received, a
# join accept, a DeviceTimeAns (counted on its own: an upper bound when it rides with an ACK)
_NS_DOWN = re.compile(r"^@@NS (?:up .*\bconfirmed=1\b.*|join .*\baccepted=1\b.*|time .*)\bt=(\d+)")


@dataclass
class Schedule:
    faults: list[str] = field(default_factory=list)
    broker_restarts_at_sample: list[int] = field(default_factory=list)


def draw_schedule(
    days: float,
    seed: int,
    uplink: str,
    board_cfg: dict,
    interval_s: int = 600,
    intensity: float = 1.0,
) -> Schedule:
    rnd = random.Random(seed)
    total = days * DAY
    quiet_from = total * 0.9
    sched = Schedule()

    def when(end=total):
        return rnd.uniform(600, end)

    def count(rate):
        # Poisson-distributed number of events at `rate` per day over the run
        lam = rate * days * intensity
        n, p, limit = 0, 1.0, math.exp(-lam)
        while True:
            p *= rnd.random()
            if p <= limit:
                return n
            n += 1

    sensors = board_cfg.get("sensors", [])
    for _ in range(count(0.8)):
        s = rnd.choice(sensors)
        kinds = (UART_KINDS if "uart" in s else BUS_KINDS) + VALUE_KINDS
        start = when()
        dur = rnd.uniform(600, 6 * 3600)
        sched.faults.append(f"{s.get('name', s['type'])}:{rnd.choice(kinds)}@{start:.0f}+{dur:.0f}")
    outage = "gateway:down" if uplink == "lorawan" else "net:down"
    if days >= 2:
        dur = rnd.uniform(12 * 3600, min(24 * 3600, quiet_from / 3))
        sched.faults.append(f"{outage}@{when(quiet_from - dur):.0f}+{dur:.0f}")
    for _ in range(count(0.2)):
        dur = math.exp(rnd.uniform(math.log(300), math.log(12 * 3600)))
        sched.faults.append(f"{outage}@{when(quiet_from - dur):.0f}+{dur:.0f}")
    if uplink == "lorawan":
        for _ in range(count(1.0)):
            kind = rnd.choice(MODEM_KINDS)
            n = 1 if kind == "reboot" else rnd.randint(1, 4)
            sched.faults.append(f"modem:{kind}*{n}@{when(quiet_from):.0f}")
    else:
        per_day = DAY // interval_s
        for _ in range(count(0.2)):
            sched.broker_restarts_at_sample.append(rnd.randint(1, int(days * per_day * 0.9)))
    for i in range(max(1, count(0.25))):
        t = when(quiet_from)
        if i % 2:
            sched.faults.append(f"power:cutwrite*{rnd.randint(1, 200)}@{t:.0f}")
        else:
            sched.faults.append(f"power:cut@{t:.3f}")
    for _ in range(count(0.1)):
        sched.faults.append(f"clock:jump*{rnd.randint(-7200, 7200)}@{when(quiet_from):.0f}")
    sched.broker_restarts_at_sample.sort()
    return sched


def run_soak(
    days: float = 30,
    seed: int = 1,
    uplink: str = "lorawan",
    board: Path = BOARD,
    fs: Path | None = None,
    heapsize: str = "512K",
    echo=None,
    dr: int = 3,
    intensity: float = 1.0,
    modem_firmware: str | None = None,
) -> dict:
    """Run the soak; returns the report dict (see `format_report`)."""
    board_cfg = json.loads(Path(board).read_text())
    sched = draw_schedule(days, seed, uplink, board_cfg, intensity=intensity)
    broker = collector = db_dir = None
    log = SoakLog()
    if uplink == "mqtt":
        from stationctl.collector.collector import Collector
        from stationctl.collector.store import SqliteStore
        from stationctl.virtual.broker import Broker, kinds_available

        kind = "mosquitto" if "mosquitto" in kinds_available() else "amqtt"
        broker = Broker(kind).start()
        db_dir = tempfile.TemporaryDirectory(prefix="soak-collect-")
        collector = Collector(
            SqliteStore(str(Path(db_dir.name) / "readings.sqlite")),
            port=broker.port,
            client_id=f"soak-collector-{seed}",
            log=lambda line: None,
            # stored = delivered; the samples the station had produced by then give the context
            on_stored=lambda up, samples: log.frames.append((up.frame, 1, len(log.produced))),
        ).start()
    cmd = _command(
        days, seed, uplink, board, fs, heapsize, dr, modem_firmware, sched.faults, broker
    )
    t0 = time.monotonic()
    proc = spawn(cmd)
    restarts = list(sched.broker_restarts_at_sample)
    broker_restarts = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip("\n")
        if echo:
            echo(line)
        if log.feed(line) and broker is not None and restarts and len(log.produced) >= restarts[0]:
            restarts.pop(0)
            broker_restarts += 1
            threading.Thread(target=broker.restart, kwargs={"kill": True}, daemon=True).start()
    rc = proc.wait()
    wall_s = time.monotonic() - t0
    if collector is not None:
        time.sleep(1.0)  # the last PUBLISHes reach the collector
        collector.stop()
        collector.store.close()
        db_dir.cleanup()
    if broker is not None:
        broker.close()
    run = {
        "days": days,
        "seed": seed,
        "uplink": uplink,
        "modem_firmware": modem_firmware or "",
        "exit_code": rc,
        "wall_s": round(wall_s, 1),
    }
    return _report(run, log, sched, broker_restarts)


def _command(days, seed, uplink, board, fs, heapsize, dr, modem_firmware, faults, broker):
    """The virtual station's command line for the soak; makes its flash folder and secrets."""
    tag = f"soak-{seed}" + (f"-{modem_firmware}" if modem_firmware else "")
    fs = Path(fs or REPO_ROOT / ".run" / tag)
    fs.mkdir(parents=True, exist_ok=True)
    secrets = fs.parent / f"{tag}-secrets.json"
    secrets.write_text(json.dumps(vstation.NS_SECRETS))
    sets = []
    if uplink == "lorawan":
        # the default config: unconfirmed uplinks, a link check (confirmed uplink) now and then
        # within lorawan.downlinks_per_day; its downlink carries the application side's receipt
        # and the journal keeps every record until a receipt covers it (docs/uplinks.md)
        sets += [f"lorawan.dr={dr}"]
    if broker is not None:
        sets += [f"mqtt.port={broker.port}", "mqtt.timeout_s=2", "mqtt.receipts=true"]
    options = vstation.flags(
        board=Path(board).resolve(),
        fs=fs,
        fresh=True,
        days=days,
        uplink=uplink,
        modem_firmware=modem_firmware,
        secrets=secrets,
        trace="stonehaven",
        heap_every=72,
        set=sets,
        fault=faults,
    )
    return vstation.command(*options, heapsize=heapsize)


class SoakLog:
    """What the soak reads from the virtual station's output, line by line."""

    def __init__(self):
        self.produced: list[int] = []
        self.boots: list[list[tuple[int, int]]] = []  # per boot: (cycles, live heap after GC)
        self.frames: list[tuple[bytes, int | None, int | None]] = []  # + samples produced then
        self.airtime: defaultdict[int, int] = defaultdict(int)  # ms per simulated day
        self.downlinks: defaultdict[int, int] = defaultdict(int)  # per simulated day
        self.codes: Counter = Counter()
        self.sim: dict[str, dict[str, str]] = {}
        self.tail: list[str] = []

    def feed(self, line: str) -> bool:
        """Take one output line; True if it was a sample the station produced."""
        self.tail = (self.tail + [line])[-40:]
        seq = vstation.sample_seq(line)
        if seq is not None:
            self.produced.append(seq)
        m = _CODE.match(line)
        if m:
            self.codes[m[2]] += 1
        up = vstation.network_server_up(line)
        if up:
            port, frame = up
            self.frames.append((frame, port, len(self.produced)))
        tx = vstation.radio_tx(line)
        if tx:
            # joins and the modem's own empty uplinks count against fair use as much as data
            self.airtime[tx.t_s // DAY] += tx.toa_ms
        down = _NS_DOWN.match(line)
        if down:
            self.downlinks[int(down[1]) // DAY] += 1
        sim_line = vstation.sim_report(line)
        if sim_line and sim_line[0] == "live":
            kv = sim_line[1]
            cyc, live = int(kv["cycles"]), int(kv["live_heap"])
            if not self.boots or cyc <= self.boots[-1][-1][0]:
                self.boots.append([])  # cycle count restarted: a new boot
            self.boots[-1].append((cyc, live))
        elif sim_line:
            self.sim[sim_line[0]] = sim_line[1]
        return seq is not None


def _report(run: dict, log: SoakLog, sched: Schedule, broker_restarts: int) -> dict:
    """`run` (what was run, exit code, wall time) and the figures a field engineer asks for,
    from what the run printed."""
    seqs, decode_errors = unwrap_seqs(log.frames, log.produced)
    unique = set(seqs)
    made = set(log.produced)
    journal = log.sim.get("journal", {})
    pending = int(journal.get("pending", 0))
    end = log.sim.get("end", {})
    heap = log.sim.get("heap", {})
    resets = {}
    for item in end.get("resets", "none").split(","):
        if ":" in item:
            k, v = item.split(":")
            resets[k] = int(v)
    airtime, boots, codes = log.airtime, log.boots, log.codes
    report = {
        **run,
        "faults_scheduled": len(sched.faults) + len(sched.broker_restarts_at_sample),
        "samples_produced": len(made),
        "delivered": len(unique & made),
        "pending_at_end": pending,
        # the records still in the journal are the newest ones: waiting, not lost
        "lost": len(made - unique - set(sorted(made)[len(made) - pending :] if pending else ())),
        "duplicates": len(seqs) - len(unique),
        "decode_errors": decode_errors,
        "resets": resets,
        "safe_mode_entries": codes.get("SAFE.ENTER", 0),
        "cycle_errors": codes.get("CYCLE.ERROR", 0),
        "cycle_overruns": codes.get("CYCLE.OVERRUN", 0),
        "boots": codes.get("BOOT", 0),
        "journal_dropped": int(journal.get("dropped", 0)),
        "max_journal_depth": int(journal.get("max_depth", 0)),
        "heap_live_first": int(heap.get("live_first", 0)),
        "heap_live_last": int(heap.get("live_last", 0)),
        # growth of the live heap within each boot, from its second report (after the first
        # 72 cycles' lazy allocations) to its last: a leak shows here whatever the resets do
        "heap_growth_per_boot_max": max(
            (b[-1][1] - b[1][1] for b in boots if len(b) > 2), default=0
        ),
        "heap_live_max": max((live for b in boots for _, live in b), default=0),
        "airtime_ms_per_day_max": max(airtime.values()) if airtime else 0,
        "airtime_ms_per_day_mean": round(sum(airtime.values()) / max(1, len(airtime))),
        "airtime_days": len(airtime),
        "downlinks_per_day_max": max(log.downlinks.values(), default=0),
        "downlinks_per_day_mean": round(
            sum(log.downlinks.values()) / max(1, len(airtime) or len(log.downlinks)), 1
        ),
        "downlink_budget": DOWNLINK_BUDGET,
        "broker_restarts": broker_restarts,
        "warnings": codes.get("LORAWAN.BUDGET", 0),
    }
    if run["exit_code"] != 0 or "end" not in log.sim:
        report["error_tail"] = log.tail
    return report


def _header_seqs(frame: bytes) -> tuple[int, int] | None:
    """(first seq modulo 256, count) from a sample or batch frame's header (docs/payload-format.md),
    for a frame whose body does not decode."""
    if len(frame) < 3 or frame[0] >> 5 != 2:
        return None
    kind = (frame[0] >> 3) & 3
    if kind == 0:
        return frame[1], 1
    if kind == 1:
        return ((frame[1] & 3) << 6) | (frame[2] >> 2), (frame[1] >> 2) + 1
    return None


def unwrap_seqs(frames, produced: list[int]) -> tuple[list[int], int]:
    """Full sequence numbers of every decoded sample (duplicates kept), and the decode errors.

    Frames carry seq modulo codec.SEQ_MOD. Delivery is oldest first, so a frame's samples are
    the oldest ones not yet delivered (or, for a duplicate, the ones just before): each seq is
    unwrapped to the full number nearest the oldest sample still undelivered when it arrived.
    That holds for any backlog length. Frames without arrival context (MQTT, read from the
    subscriber at the end) are unwrapped against the previous sample, which holds for backlogs
    under half the modulus."""
    seqs: list[int] = []
    errors = 0
    delivered: set[int] = set()
    prev = 0
    for frame, port, n_produced in frames:
        try:
            decoded = codec.decode(frame, port)
        except codec.FrameError:
            errors += 1
            head = _header_seqs(frame)
            if head and n_produced:
                # not delivered (nothing decoded), but no longer waiting at the station either:
                # it must not hold the reference for the frames after it back
                newest = max(produced[:n_produced])
                first = newest - (newest - head[0]) % codec.SEQ_MOD
                delivered.update(range(first, first + head[1]))
            continue
        if n_produced is not None:
            waiting = [q for q in produced[:n_produced] if q not in delivered]
            oldest = min(waiting) if waiting else prev + 1
            newest = max(produced[:n_produced], default=prev + 1)
            ref = None
        for d in decoded:
            if "seq" not in d:
                continue
            if n_produced is None:
                full = unwrap_seq(d["seq"], near=prev + 1)
            elif ref is None:
                # the frame's first sample: at most the newest produced; of the candidates
                # below that the oldest one not far behind the oldest undelivered sample
                # (frames lost in an outage keep that one back while newer ones go out;
                # re-sent duplicates lie a little behind it)
                full = newest - (newest - d["seq"]) % codec.SEQ_MOD
                while full - codec.SEQ_MOD >= oldest - _UNWRAP_BEHIND:
                    full -= codec.SEQ_MOD
            else:
                full = ref
            if n_produced is not None:
                ref = full + 1
            prev = full
            delivered.add(full)
            seqs.append(full)
    return seqs, errors


def format_report(r: dict) -> str:
    resets = ", ".join(f"{k} {v}" for k, v in sorted(r["resets"].items())) or "none"
    lines = [
        f"soak: {r['days']:g} simulated days, seed {r['seed']}, uplink {r['uplink']}"
        + (f" (modem firmware {r['modem_firmware']})" if r.get("modem_firmware") else "")
        + ", "
        f"{r['faults_scheduled']} faults scheduled, wall time {r['wall_s']} s",
        f"  samples produced   {r['samples_produced']}",
        f"  delivered          {r['delivered']}  (pending in the journal at the end: {r['pending_at_end']})",
        f"  lost               {r['lost']}",
        f"  duplicates         {r['duplicates']}",
        f"  resets by cause    {resets}",
        f"  safe-mode entries  {r['safe_mode_entries']}",
        f"  cycle errors       {r['cycle_errors']}, overruns {r['cycle_overruns']}, boots {r['boots']}",
        f"  journal            max depth {r['max_journal_depth']}, dropped {r['journal_dropped']}",
        f"  heap (live, after gc.collect)  {r['heap_live_first']} B after the first cycles, "
        f"{r['heap_live_last']} B at the end, peak {r['heap_live_max']} B; growth within a "
        f"boot after warm-up: {r['heap_growth_per_boot_max']} B",
    ]
    if r["uplink"] == "lorawan":
        lines.append(
            f"  airtime per day    max {r['airtime_ms_per_day_max'] / 1000:.1f} s, mean "
            f"{r['airtime_ms_per_day_mean'] / 1000:.1f} s over {r['airtime_days']} days "
            f"(budget 30 s)"
        )
        lines.append(
            f"  downlinks per day  max {r['downlinks_per_day_max']}, mean "
            f"{r['downlinks_per_day_mean']}, budget {DOWNLINK_BUDGET} (link checks' ACK with"
            " receipt, join accepts, time answers)"
        )
    else:
        lines.append(f"  broker restarts    {r['broker_restarts']}")
    lines.append(f"soak: {'PASS' if passed(r) else 'FAIL'}")
    return "\n".join(lines)


def passed(r: dict) -> bool:
    """0 lost, no crash, no cycle error, airtime within budget every day, and a live heap that
    does not grow within a boot by more than 4 KiB after warm-up (bounded structures such as the
    journal's segment list grow with a backlog and keep their capacity; a leak grows without end)."""
    ok = (
        r["exit_code"] == 0
        and r["lost"] == 0
        and r["decode_errors"] == 0
        and r["cycle_errors"] == 0
        and r["heap_growth_per_boot_max"] <= 4096
    )
    if r["uplink"] == "lorawan":
        ok = ok and r["airtime_ms_per_day_max"] <= 30000
        ok = ok and r["downlinks_per_day_max"] <= r["downlink_budget"]
    return ok
