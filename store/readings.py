"""Idempotent batch writes of readings, and the read queries over them.

Every reading is keyed by (device, time) — (device, tag, time) for process values — with a unique index, so a
redelivered message can never create a second row. Writes take an optimistic fast path: binary COPY straight
into the hypertable inside a savepoint. Only a batch that hits an existing key (a redelivery) is rolled back to
the savepoint and written again through a staging table with ``INSERT … ON CONFLICT DO NOTHING``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from operator import attrgetter
from typing import Any

import psycopg
from psycopg import sql

from kipsense.records import CyclerSample, DeviceEvent, DustReading, MetReading, ProcessValue, Record
from store.row_blocks import BlockLayout, RowBlock, copy_payload

Conn = psycopg.Connection[Any]

_PG_TYPES = {
    "device_id": "text",
    "time": "timestamptz",
    "tag": "text",
    "step_type": "text",
    "cycle_index": "int4",
    "step_index": "int4",
    "quality": "int4",
    "seq": "int8",
    "time_estimated": "bool",
}


@dataclass(frozen=True, slots=True)
class _Table:
    name: str
    columns: tuple[str, ...]
    types: tuple[str, ...]
    getter: attrgetter[Any]


def _table(name: str, record: type) -> _Table:
    cols = tuple(f.name for f in fields(record))
    types = tuple(_PG_TYPES.get(c, "float8") for c in cols)
    return _Table(name, cols, types, attrgetter(*cols))


TABLES: dict[type, _Table] = {
    DustReading: _table("dust_readings", DustReading),
    MetReading: _table("met_readings", MetReading),
    CyclerSample: _table("cycler_samples", CyclerSample),
    ProcessValue: _table("process_values", ProcessValue),
}


#: Binary row layouts of the measuring tables, for readings decoded straight into COPY rows (``RowBlock``).
BLOCK_LAYOUTS: dict[type, BlockLayout] = {
    rtype: BlockLayout(spec.name, spec.columns, spec.types, rtype)
    for rtype, spec in TABLES.items()
    if rtype is not ProcessValue
}

#: What a batch write takes: typed records and pre-encoded blocks, in arrival order.
Item = Record | RowBlock


@dataclass(frozen=True, slots=True)
class WriteStats:
    """Rows offered and rows actually new (the rest were already stored)."""

    offered: int
    inserted: int
    conflicted_batches: int


def _copy_stmt(table: str, spec: _Table) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, (*spec.columns, "received_at")))
    )


def _runs(rows: Sequence[Item]) -> list[list[Item]]:
    """Consecutive records and consecutive blocks grouped, order kept (each run is one COPY)."""
    runs: list[list[Item]] = []
    for item in rows:
        if runs and (type(item) is RowBlock) == (type(runs[-1][0]) is RowBlock):
            runs[-1].append(item)
        else:
            runs.append([item])
    return runs


def _copy(conn: Conn, table: str, spec: _Table, rows: Sequence[Item], received_at: datetime) -> None:
    # Rows go in arrival order: within one batch the first of two readings with the same key is the one kept.
    stmt = _copy_stmt(table, spec)
    getter = spec.getter
    with conn.cursor() as cur:
        for run in _runs(rows):
            with cur.copy(stmt) as copy:
                if type(run[0]) is RowBlock:
                    copy.write(copy_payload(run, received_at))  # type: ignore[arg-type]
                    continue
                copy.set_types([*spec.types, "timestamptz"])
                for rec in run:
                    copy.write_row((*getter(rec), received_at))


def _write_table(conn: Conn, spec: _Table, rows: Sequence[Item], received_at: datetime) -> tuple[int, bool]:
    try:
        with conn.transaction():
            _copy(conn, spec.name, spec, rows, received_at)
        return _count(rows), False
    except psycopg.errors.UniqueViolation:
        pass
    stage = f"_stage_{spec.name}"
    conn.execute(
        sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS").format(
            sql.Identifier(stage), sql.Identifier(spec.name)
        )
    )
    _copy(conn, stage, spec, rows, received_at)
    cur = conn.execute(
        sql.SQL("INSERT INTO {} SELECT * FROM {} ON CONFLICT DO NOTHING").format(
            sql.Identifier(spec.name), sql.Identifier(stage)
        )
    )
    conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(stage)))
    return cur.rowcount, True


def _count(rows: Sequence[Item]) -> int:
    return sum(len(r) if type(r) is RowBlock else 1 for r in rows)


def write_records(conn: Conn, records: Sequence[Item], *, received_at: datetime) -> WriteStats:
    """Write readings of any kind (records or ``RowBlock``s) idempotently inside the caller's transaction."""
    by_type: dict[type, list[Item]] = {}
    for rec in records:
        rtype = rec.layout.record if type(rec) is RowBlock else type(rec)
        by_type.setdefault(rtype, []).append(rec)
    inserted = conflicted = 0
    for rtype, rows in by_type.items():
        if rtype is DeviceEvent:
            inserted += _write_events(conn, rows)
            continue
        n, staged = _write_table(conn, TABLES[rtype], rows, received_at)
        inserted += n
        conflicted += staged
    return WriteStats(_count(records), inserted, conflicted)


def insert_one(
    conn: Conn, record: DustReading | MetReading | CyclerSample | ProcessValue, *, received_at: datetime
) -> int:
    """One reading by a plain ``INSERT … ON CONFLICT DO NOTHING`` (the per-message pattern benchmarks compare with)."""
    spec = TABLES[type(record)]
    stmt = sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT DO NOTHING").format(
        sql.Identifier(spec.name),
        sql.SQL(", ").join(map(sql.Identifier, (*spec.columns, "received_at"))),
        sql.SQL(", ").join(sql.Placeholder() * (len(spec.columns) + 1)),
    )
    return conn.execute(stmt, (*spec.getter(record), received_at)).rowcount


def _write_events(conn: Conn, events: Sequence[Item]) -> int:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO device_events (device_id, time, event, detail) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [(e.device_id, e.time, e.event, e.detail) for e in events if isinstance(e, DeviceEvent)],
        )
        return max(cur.rowcount, 0)


@dataclass(frozen=True, slots=True)
class StoredSeq:
    """Where one sequence-numbered reading ended up: its device time and when ingest wrote it."""

    device_id: str
    seq: int | None
    time: datetime
    received_at: datetime


def stored_seqs(conn: Conn, *, table: str, device_ids: Sequence[str]) -> list[StoredSeq]:
    """Every row of ``device_ids`` in a reading table with a ``seq`` column, by device and time (audits)."""
    if table not in {"dust_readings", "met_readings", "cycler_samples"}:
        raise ValueError(f"{table!r} has no seq column")
    query = sql.SQL(
        "SELECT device_id, seq, time, received_at FROM {} WHERE device_id = ANY(%s) ORDER BY device_id, time"
    ).format(sql.Identifier(table))
    with conn.cursor() as cur:
        cur.execute(query, (list(device_ids),))
        return [StoredSeq(*_values(r, ("device_id", "seq", "time", "received_at"))) for r in cur.fetchall()]


def _values(row: Any, names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(row[n] for n in names) if isinstance(row, dict) else tuple(row)


def device_events(conn: Conn, *, device_ids: Sequence[str]) -> list[DeviceEvent]:
    """Births, deaths and sequence gaps of some devices, oldest first."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT device_id, time, event, detail FROM device_events WHERE device_id = ANY(%s)"
            " ORDER BY time, device_id",
            (list(device_ids),),
        )
        return [DeviceEvent(*_values(r, ("device_id", "time", "event", "detail"))) for r in cur.fetchall()]


def count(conn: Conn, *, table: str, device_id: str | None = None) -> int:
    """Rows in a reading table, optionally of one device."""
    if table not in {t.name for t in TABLES.values()}:
        raise ValueError(f"unknown table {table!r}")
    query = sql.SQL("SELECT count(*) AS n FROM {} WHERE (%(d)s::text IS NULL OR device_id = %(d)s)").format(
        sql.Identifier(table)
    )
    row = conn.execute(query, {"d": device_id}).fetchone()
    return int(row["n"] if isinstance(row, dict) else row[0])  # type: ignore[index]


NOTIFY_CHANNEL = "kipsense_readings"


def notify_new(conn: Conn) -> None:
    """Wake listeners (the scorer) when the current transaction commits."""
    conn.execute("SELECT pg_notify(%s, '')", (NOTIFY_CHANNEL,))


def listen_new(conn: Conn) -> None:
    """Subscribe an autocommit connection to new-data notifications."""
    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(NOTIFY_CHANNEL)))


def wait_new(conn: Conn, *, timeout: float) -> bool:
    """Block until a notification arrives (True) or ``timeout`` passes (False)."""
    return any(True for _ in conn.notifies(timeout=timeout, stop_after=1))


@dataclass(frozen=True, slots=True)
class Bucket:
    """Aggregate of one metric over one time bucket."""

    time: datetime
    mean: float | None
    min: float | None
    max: float | None
    count: int


def table_for_kind(kind: str) -> str:
    return {"dust": "dust_readings", "met": "met_readings", "cycler": "cycler_samples"}[kind]


def bucketed(
    conn: Conn, *, table: str, device_id: str, metric: str, start: datetime, end: datetime, bucket_s: int
) -> list[Bucket]:
    """``time_bucket`` aggregates of ``metric`` for start <= time < end, oldest first."""
    _check_metric(table, metric)
    if bucket_s >= 60:  # long ranges: the maintained rollups answer exactly when they cover the range
        from store import rollups

        rolled = rollups.bucketed(
            conn, table=table, device_id=device_id, metric=metric, start=start, end=end, bucket_s=bucket_s
        )
        if rolled is not None:
            return rolled
    return _raw_buckets(conn, table, device_id, metric, start, end, bucket_s)


def raw_bucketed(
    conn: Conn, *, table: str, device_id: str, metric: str, start: datetime, end: datetime, bucket_s: int
) -> list[Bucket]:
    """:func:`bucketed` computed from the raw rows only (no rollup), oldest first."""
    _check_metric(table, metric)
    return _raw_buckets(conn, table, device_id, metric, start, end, bucket_s)


def _check_metric(table: str, metric: str) -> None:
    from store.scoring import METRICS  # one whitelist of readable metrics

    if metric not in METRICS.get(table, ()):
        raise ValueError(f"{metric!r} is not a metric of {table}")


def _raw_buckets(
    conn: Conn, table: str, device_id: str, metric: str, start: datetime, end: datetime, bucket_s: int
) -> list[Bucket]:
    query = sql.SQL(
        "SELECT time_bucket(make_interval(secs => %(b)s), time) AS bucket, avg({m})::float8 AS mean,"
        " min({m})::float8 AS mn, max({m})::float8 AS mx, count({m}) AS n FROM {t}"
        " WHERE device_id = %(d)s AND time >= %(s)s AND time < %(e)s GROUP BY bucket ORDER BY bucket"
    ).format(m=sql.Identifier(metric), t=sql.Identifier(table))
    rows = conn.execute(query, {"b": bucket_s, "d": device_id, "s": start, "e": end}).fetchall()
    return [Bucket(r["bucket"], r["mean"], r["mn"], r["mx"], int(r["n"])) for r in rows]
