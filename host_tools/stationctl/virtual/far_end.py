"""The far end of the virtual station's uplink for `stationctl run`.

mqtt (the default): a real broker on a free loopback port (Mosquitto when installed, else amqtt
from the venv) and the collector of `stationctl collect` (SQLite in a temporary folder); the
frames counted are those whose readings it stored. The station runs with delivery receipts.
lorawan: the simulated network server inside the MicroPython process prints `@@NS up ...` lines;
the frames counted are those it received. console/file: the station's UPLINK.TX lines.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from stationctl.mpenv import REPO_ROOT
from stationctl.payload.decoder import SEQ_MOD
from stationctl.payload.seqnum import unwrap_seq
from stationctl.virtual import vstation


class Link:
    """console/file: nothing to start; frames come from the station's own UPLINK.TX lines."""

    def __init__(self, kind: str):
        self.kind = kind
        self.seen: Counter[int] = Counter()
        self._prev: int | None = None

    def unwrap(self, seq: int, waiting: set[int]) -> int:
        """Full sequence number of a frame's seq (frames carry it modulo codec.SEQ_MOD).

        `waiting`: the samples the station produced (full numbers, from its SAMPLE lines) that
        the far end has not had yet. The seq is the waiting sample with that remainder nearest
        the one after the previous frame's (delivery is oldest first; samples the station
        dropped stay waiting forever but lie behind). A seq matching none (a duplicate) is the
        number nearest that reference. The first reference is the oldest waiting sample, not 0:
        a run need not start at seq 0."""
        mod = SEQ_MOD
        if self._prev is not None:
            ref = self._prev + 1
        else:
            ref = min(waiting) if waiting else seq
        matches = [q for q in waiting if q % mod == seq % mod]
        if matches:
            full = min(matches, key=lambda q: (abs(q - ref), q))
        else:
            full = unwrap_seq(seq, near=ref)
        self._prev = full
        return full

    def feed_line(self, line: str) -> None:
        pass

    def frames(self, final: bool = False) -> list[tuple[bytes, int | None]]:
        return []

    def summary(self) -> str:
        dups = sum(n - 1 for n in self.seen.values() if n > 1)
        return f" duplicates={dups}" if self.seen else ""

    def close(self) -> None:
        pass


class MqttLink(Link):
    def __init__(self, broker):
        from stationctl.collector.collector import Collector
        from stationctl.collector.store import SqliteStore

        super().__init__("mqtt")
        self.broker = broker
        self._tmp = tempfile.TemporaryDirectory(prefix="stationctl-run-collect-")
        self._lock = threading.Lock()
        self._stored: list[bytes] = []
        self.collector = Collector(
            SqliteStore(str(Path(self._tmp.name) / "readings.sqlite")),
            port=broker.port,
            log=lambda line: print(line),
            on_stored=self._on_stored,
        )

    def _on_stored(self, up, samples) -> None:
        with self._lock:
            self._stored.append(up.frame)

    def start(self) -> MqttLink:
        self.collector.start()
        return self

    def frames(self, final: bool = False):
        if final:  # the last PUBLISH may still be on its way to the collector
            deadline = time.monotonic() + 2.0
            n = -1
            while time.monotonic() < deadline and n != len(self._stored):
                n = len(self._stored)
                time.sleep(0.3)
        with self._lock:
            out, self._stored = self._stored, []
        return [(frame, None) for frame in out]

    def summary(self) -> str:
        t = self.collector.tally
        return (
            super().summary()
            + f" broker={self.broker.kind} stored={t.stored} receipts={t.receipts}"
        )

    def close(self) -> None:
        self.collector.stop()
        self.collector.store.close()
        self._tmp.cleanup()
        self.broker.close()


class NetworkServerLink(Link):
    def __init__(self, tmp):
        super().__init__("lorawan")
        self._tmp = tmp
        self._frames: list[tuple[bytes, int | None]] = []
        self.airtime: Counter[int] = Counter()

    def feed_line(self, line: str) -> None:
        up = vstation.network_server_up(line)
        if up:
            port, frame = up
            self._frames.append((frame, port))
        tx = vstation.radio_tx(line)
        if tx:
            self.airtime[tx.t_s // 86400] += tx.toa_ms

    def frames(self, final: bool = False):
        out, self._frames = self._frames, []
        return out

    def summary(self) -> str:
        worst = max(self.airtime.values()) if self.airtime else 0
        return super().summary() + f" airtime_max_day_ms={worst}"

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


def prepare(args) -> Link:
    """Start what the chosen uplink needs and add its settings to args (args.set, board...)."""
    from stationctl.virtual.broker import Broker, kinds_available

    args.set = list(getattr(args, "set", None) or [])
    kind = args.uplink or "console"
    if kind == "mqtt":
        which = args.broker
        if which == "auto":
            which = "mosquitto" if "mosquitto" in kinds_available() else "amqtt"
        broker = Broker(which).start()
        try:
            link = MqttLink(broker).start()
        except Exception:
            broker.close()
            raise
        args.set += ["mqtt.host=127.0.0.1", f"mqtt.port={broker.port}", "mqtt.receipts=true"]
        print(f"broker: {which} on 127.0.0.1:{broker.port} (collector: {link.collector.topics})")
        return link
    if kind == "lorawan":
        default_board = str(REPO_ROOT / "board_configs" / "unix-sim.json")
        if str(Path(args.board).resolve()) == default_board:
            args.board = str(REPO_ROOT / "board_configs" / "unix-sim-lorawan.json")
        tmp = None
        if not args.secrets:
            tmp = tempfile.TemporaryDirectory(prefix="stationctl-run-")
            path = Path(tmp.name) / "secrets.json"
            path.write_text(json.dumps(vstation.NS_SECRETS))
            args.secrets = str(path)
        # the network server's demo settings: DR5 (SF7) and confirmed uplinks (end-to-end delivery)
        args.set += ["lorawan.dr=5", "lorawan.confirmed=true"]
        print(
            f"lorawan: board {Path(args.board).name}, simulated network server in the station process"
        )
        return NetworkServerLink(tmp)
    return Link(kind)
