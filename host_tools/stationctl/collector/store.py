"""Where readings are kept: SQLite (one file, the default) or PostgreSQL (a `postgresql://` URL,
through psycopg). One table, one row per reading; UNIQUE (station, seq, time_kind, time_s, boot_id)
is what makes a reading stored once, however many collectors write and however often a station
re-sends (the database decides, so two collectors racing on one database never store twice).
An uptime counts from a boot: two boots' readings with the same seq and uptime are two readings,
told apart by the boot id the frames carry (docs/payload-format.md, 4). A database made before
the boot id existed is migrated when it is opened."""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass

from stationctl.payload.decoder import KEYS

# Columns of a reading, in order (docs/collector.md describes them).
COLUMNS = (
    "station",
    "seq",
    "time_kind",
    "time_s",
    "received_at",
    "source",
    *KEYS,
    "detail",
    "boot_id",
)
# the duplicate rule: the columns that make a reading one reading
UNIQUE_KEY = "station, seq, time_kind, time_s, boot_id"


class StoreError(RuntimeError):
    pass


@dataclass(frozen=True)
class Reading:
    station: str
    seq: int  # the frame's seq (modulo decoder.SEQ_MOD)
    time_kind: str  # "unix": time_s is unix seconds; "uptime": station uptime (clock not synced)
    time_s: int
    received_at: int
    source: str
    values: tuple  # one per decoder.KEYS, None when the channel was not sent
    detail: str  # JSON: health and unknown channels, keys sorted
    # > 0: time_s was derived from a sample age and the receive time, so a re-send lands a
    # second or more away; a reading of the same station and seq within this many seconds is
    # the same reading (seqs repeat only every 256 samples)
    near_s: int = 0
    # the station boot an uptime counts from (0: unix time, or a station that sends none)
    boot_id: int = 0

    def row(self) -> tuple:
        return (
            self.station,
            self.seq,
            self.time_kind,
            self.time_s,
            self.received_at,
            self.source,
            *self.values,
            self.detail,
            self.boot_id,
        )


AGE_TOLERANCE_S = 300


def reading_of(station: str, sample: dict, received_at: int, source: str) -> Reading:
    """One decoded sample (decoder.decode with received_at) as a row."""
    if sample.get("time") is not None:
        kind, t = "unix", int(sample["time"])
    else:
        kind, t = "uptime", int(sample["uptime_s"])
    detail = {"health": sample["health"]}
    if "unknown_channels" in sample:
        detail["unknown_channels"] = sample["unknown_channels"]
    return Reading(
        station,
        int(sample["seq"]),
        kind,
        t,
        int(received_at),
        source,
        tuple(sample.get(k) for k in KEYS),
        json.dumps(detail, sort_keys=True, separators=(",", ":")),
        AGE_TOLERANCE_S if "age_s" in sample else 0,
        int(sample.get("boot_id") or 0) if kind == "uptime" else 0,
    )


def _ddl(real: str, bigint: str) -> str:
    values = ",\n".join(f"    {k} {real}" for k in KEYS)
    return (
        "CREATE TABLE IF NOT EXISTS readings (\n"
        "    station TEXT NOT NULL,\n"
        "    seq INTEGER NOT NULL,\n"
        "    time_kind TEXT NOT NULL,\n"
        f"    time_s {bigint} NOT NULL,\n"
        f"    received_at {bigint} NOT NULL,\n"
        "    source TEXT NOT NULL,\n"
        f"{values},\n"
        "    detail TEXT NOT NULL,\n"
        f"    boot_id {bigint} NOT NULL DEFAULT 0,\n"
        f"    UNIQUE ({UNIQUE_KEY})\n"
        ")"
    )


_OLD_COLUMNS = ", ".join(c for c in COLUMNS if c != "boot_id")


def _insert(mark: str) -> str:
    """INSERT of one reading unless the same station and seq is stored within +-near_s
    seconds (unix time) or exactly (the UNIQUE rule); one statement, so the database decides."""
    places = ", ".join([mark] * len(COLUMNS))
    return (
        f"INSERT INTO readings ({', '.join(COLUMNS)}) SELECT {places}"
        f" WHERE NOT EXISTS (SELECT 1 FROM readings WHERE station = {mark} AND seq = {mark}"
        f" AND time_kind = 'unix' AND time_s BETWEEN {mark} AND {mark})"
        " ON CONFLICT DO NOTHING"
    )


def _params(r: Reading) -> tuple:
    if r.near_s and r.time_kind == "unix":
        lo, hi = r.time_s - r.near_s, r.time_s + r.near_s
    else:
        lo, hi = 1, 0  # an empty range: only the UNIQUE rule applies
    return (*r.row(), r.station, r.seq, lo, hi)


class Store:
    """add() stores a reading unless it is there already; True when this call stored it."""

    url: str

    def add(self, reading: Reading) -> bool:
        raise NotImplementedError

    def readings(self, station: str | None = None) -> list[tuple]:
        """All rows (COLUMNS order), oldest first; floats as stored."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


def _sorted(rows) -> list[tuple]:
    # sorted here, not in SQL: the engines' text collations differ
    return sorted((tuple(r) for r in rows), key=lambda r: (r[0], r[2], r[-1], r[3], r[1]))


class SqliteStore(Store):
    def __init__(self, path: str):
        self.url = path
        try:
            # paho calls back on its own thread: one connection, guarded by a lock
            self.db = sqlite3.connect(path, check_same_thread=False, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self._migrate()
            self.db.execute(_ddl("REAL", "INTEGER"))
            self.db.commit()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite database {path}: {exc}") from None
        self.lock = threading.Lock()

    def _migrate(self) -> None:
        """A table without boot_id (its UNIQUE rule merged two boots' uptime readings) is
        rebuilt with it, in one transaction: SQLite cannot change a table's UNIQUE rule."""
        cols = [r[1] for r in self.db.execute("PRAGMA table_info(readings)")]
        if not cols or "boot_id" in cols:
            return
        with self.db:
            self.db.execute("ALTER TABLE readings RENAME TO readings_before_boot_id")
            self.db.execute(_ddl("REAL", "INTEGER"))
            self.db.execute(
                f"INSERT INTO readings ({_OLD_COLUMNS}) SELECT {_OLD_COLUMNS}"
                " FROM readings_before_boot_id"
            )
            self.db.execute("DROP TABLE readings_before_boot_id")

    def add(self, reading: Reading) -> bool:
        with self.lock:
            cur = self.db.execute(_insert("?"), _params(reading))
            self.db.commit()
            return cur.rowcount == 1

    def readings(self, station: str | None = None) -> list[tuple]:
        with self.lock:
            q = f"SELECT {', '.join(COLUMNS)} FROM readings"
            if station is None:
                return _sorted(self.db.execute(q))
            return _sorted(self.db.execute(q + " WHERE station = ?", (station,)))

    def close(self) -> None:
        with self.lock:
            self.db.close()


class PostgresStore(Store):
    def __init__(self, url: str):
        try:
            import psycopg
        except ImportError:
            raise StoreError("psycopg is not installed (pip install -r requirements.txt)") from None
        self.url = url
        try:
            self.db = psycopg.connect(url, autocommit=True)
            self._migrate()
            self.db.execute(_ddl("DOUBLE PRECISION", "BIGINT"))
        except psycopg.Error as exc:
            # the message names host and database, never the password
            raise StoreError(f"cannot use PostgreSQL: {str(exc).strip()}") from None
        self.lock = threading.Lock()

    def _migrate(self) -> None:
        """A table without boot_id gets it, and its UNIQUE rule the boot id (one transaction)."""
        has = self.db.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_name = 'readings' AND table_schema = current_schema()"
        ).fetchall()
        if not has or ("boot_id",) in has:
            return
        with self.db.transaction():
            self.db.execute("ALTER TABLE readings ADD COLUMN boot_id BIGINT NOT NULL DEFAULT 0")
            self.db.execute(
                "ALTER TABLE readings DROP CONSTRAINT IF EXISTS"
                " readings_station_seq_time_kind_time_s_key"
            )
            self.db.execute(f"ALTER TABLE readings ADD UNIQUE ({UNIQUE_KEY})")

    def add(self, reading: Reading) -> bool:
        with self.lock:
            cur = self.db.execute(_insert("%s"), _params(reading))
            return cur.rowcount == 1

    def readings(self, station: str | None = None) -> list[tuple]:
        with self.lock:
            q = f"SELECT {', '.join(COLUMNS)} FROM readings"
            if station is None:
                return _sorted(self.db.execute(q))
            return _sorted(self.db.execute(q + " WHERE station = %s", (station,)))

    def close(self) -> None:
        with self.lock:
            self.db.close()


def open_store(where: str) -> Store:
    """`postgresql://...` (or `postgres://`) -> PostgreSQL, anything else -> a SQLite file."""
    if where.startswith(("postgresql://", "postgres://")):
        return PostgresStore(where)
    return SqliteStore(where)
