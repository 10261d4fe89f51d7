"""Idempotent batch writes of readings, and the read queries over them.

Every reading is keyed by (device, time) — (device, tag, time) for process values — with a unique index, so a
redelivered message can never create a second row. Writes take an optimistic fast path: binary COPY straight
into the hypertable inside a savepoint. Only a batch that hits an existing key is rolled back to the savepoint
and written again through a staging table: ``INSERT … ON CONFLICT DO NOTHING`` in arrival order (the first
reading of a key is kept), then every staged reading is compared with the row stored at its key. An identical
one is a redelivery and is skipped silently; a different one is a *conflict* and is recorded with both values
and the message that carried it (``store.conflicts``), so nothing offered disappears without a trace.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from functools import lru_cache
from itertools import accumulate
from operator import attrgetter
from typing import Any, Final

import psycopg
from psycopg import sql

from kipsense.records import CyclerSample, DeviceEvent, DustReading, MetReading, ProcessValue, Record
from store import conflicts as store_conflicts
from store.conflicts import Collision, MessageRef
from store.row_blocks import PG_EPOCH_US, BlockLayout, RowBlock, copy_payload, from_unix_us

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
    """Rows offered, rows actually new, and new conflicts recorded (the rest were already stored or recorded)."""

    offered: int
    inserted: int
    conflicted_batches: int
    conflicts: int = 0


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
    # Rows go in arrival order: the staging path numbers them in this order and keeps the first of a key.
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


_KEY_COLUMNS: Final = frozenset({"device_id", "time", "tag"})
_RANGE_PLANS: Final = ("enable_hashjoin", "enable_mergejoin", "enable_material", "enable_bitmapscan")
_PROBE_ONLY: Final = "; ".join(f"SET LOCAL {p} = off" for p in _RANGE_PLANS)
_PLANS_DEFAULT: Final = "; ".join(f"SET LOCAL {p} TO DEFAULT" for p in _RANGE_PLANS)


@dataclass(frozen=True, slots=True)
class _Staged:
    """Statements of the staging path of one table."""

    create: sql.Composed
    repeated: sql.Composed
    matches: sql.Composed
    insert: sql.Composed
    details: sql.Composed


@lru_cache(maxsize=8)
def _staged_sql(spec: _Table) -> _Staged:
    table, stage = sql.Identifier(spec.name), sql.Identifier(f"_stage_{spec.name}")
    cols = sql.SQL(", ").join(map(sql.Identifier, (*spec.columns, "received_at")))
    keys = [c for c in spec.columns if c in _KEY_COLUMNS]
    values = [c for c in spec.columns if c not in _KEY_COLUMNS]

    def row(alias: str) -> sql.Composable:
        return sql.SQL(", ").join(sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(c)) for c in values)

    # The time bounds are literals so that TimescaleDB skips the chunks outside them at planning time.
    join = sql.SQL("{s} s JOIN {t} t ON {on} AND t.time >= %(lo)s AND t.time <= %(hi)s").format(
        s=stage,
        t=table,
        on=sql.SQL(" AND ").join(sql.SQL("t.{c} = s.{c}").format(c=sql.Identifier(c)) for c in keys),
    )
    differs = sql.SQL("({}) IS DISTINCT FROM ({})").format(row("s"), row("t"))
    dropped = sql.SQL(" - ").join(sql.Literal(c) for c in (*keys, "received_at"))
    return _Staged(
        create=sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {s} (LIKE {t} INCLUDING DEFAULTS, _n bigint GENERATED ALWAYS AS IDENTITY)"
            " ON COMMIT DELETE ROWS; TRUNCATE {s} RESTART IDENTITY"
        ).format(s=stage, t=table),
        repeated=sql.SQL("SELECT count(*) - count(DISTINCT ({})) FROM {}").format(
            sql.SQL(", ").join(map(sql.Identifier, keys)), stage
        ),
        matches=sql.SQL("SELECT count(*), array_agg(s._n) FILTER (WHERE {}) FROM {}").format(differs, join),
        # ORDER BY _n: of two staged readings of one new key the first to arrive is the one kept.
        insert=sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ORDER BY _n ON CONFLICT DO NOTHING").format(
            table, cols, cols, stage
        ),
        details=sql.SQL(
            "SELECT s._n, s.time, to_jsonb(s) - {d} - '_n' AS offered, to_jsonb(t) - {d} AS stored,"
            " t.received_at AS stored_received_at FROM {j} WHERE {differs} ORDER BY s._n"
        ).format(d=dropped, j=join, differs=differs),
    )


def _write_table(
    conn: Conn, spec: _Table, rows: Sequence[Item], received_at: datetime, sources: Sequence[MessageRef] | None
) -> tuple[int, list[Collision], bool]:
    """Rows inserted, the conflicts found, and whether the staging path ran.

    ``sources[i]`` is the message of ``rows[i]``; without sources a conflict names no topic or payload.
    """
    try:
        with conn.transaction():
            _copy(conn, spec.name, spec, rows, received_at)
        return _count(rows), [], False
    except psycopg.errors.UniqueViolation:
        pass
    staged = _staged_sql(spec)
    conn.execute(staged.create)
    _copy(conn, f"_stage_{spec.name}", spec, rows, received_at)
    bounds = _time_bounds(rows)
    # One index probe per staged row, whatever the statistics say (the stage is never analysed, a fresh chunk
    # often not either): any plan that reads the range [lo, hi] reads every device's rows in it, which on a busy
    # park is far more than the batch (measured: a hash join made a redelivered batch 6x slower).
    conn.execute(_PROBE_ONLY)
    matched, differing = _row(conn.execute(staged.matches, bounds).fetchone())
    inserted = 0
    unmatched = _count(rows) - matched
    if unmatched:
        inserted = conn.execute(staged.insert).rowcount
        # Compare again when new keys came more than once in the batch, or another writer stored one meanwhile.
        if inserted < unmatched or _row(conn.execute(staged.repeated).fetchone())[0]:
            differing = True
    found = conn.execute(staged.details, bounds).fetchall() if differing else []
    conn.execute(_PLANS_DEFAULT)
    ends = list(accumulate(len(r) if type(r) is RowBlock else 1 for r in rows))
    collisions = []
    for hit in found:
        n, time, offered, stored, stored_received_at = _row(hit)
        index = bisect_right(ends, int(n) - 1)  # _n counts from 1 in COPY order
        item = rows[index]
        source = sources[index] if sources is not None else _Unknown(received_at)
        tag = "" if type(item) is RowBlock else str(getattr(item, "tag", ""))
        collisions.append(Collision(spec.name, item.device_id, time, tag, stored, offered, stored_received_at, source))
    return inserted, collisions, True


def _time_bounds(rows: Sequence[Item]) -> dict[str, datetime]:
    """Earliest and latest device time of some readings (``lo``, ``hi``)."""
    firsts: list[datetime] = []
    lasts: list[datetime] = []
    for item in rows:
        if isinstance(item, RowBlock):
            times = item.rows["time"]
            firsts.append(from_unix_us(int(times.min()) + PG_EPOCH_US))
            lasts.append(from_unix_us(int(times.max()) + PG_EPOCH_US))
        else:
            firsts.append(item.time)
            lasts.append(item.time)
    return {"lo": min(firsts), "hi": max(lasts)}


def _row(row: Any) -> tuple[Any, ...]:
    return tuple(row.values()) if isinstance(row, dict) else tuple(row)


@dataclass(frozen=True, slots=True)
class _Unknown:
    """The message reference of a conflict written without one (a direct store call such as a back-fill)."""

    received_at: datetime
    topic: str = ""
    payload: bytes = b""


def _count(rows: Sequence[Item]) -> int:
    return sum(len(r) if type(r) is RowBlock else 1 for r in rows)


def write_records(
    conn: Conn,
    records: Sequence[Item],
    *,
    received_at: datetime,
    sources: Sequence[MessageRef] | None = None,
    worker: str = "",
) -> WriteStats:
    """Write readings of any kind (records or ``RowBlock``s) idempotently inside the caller's transaction.

    ``sources[i]`` is the message that carried ``records[i]``: a conflict names it. Conflicts are recorded in
    the same transaction (``store.conflicts``); identical readings already stored are skipped silently.
    """
    by_type: dict[type, list[int]] = {}
    for i, rec in enumerate(records):
        rtype = rec.layout.record if type(rec) is RowBlock else type(rec)
        by_type.setdefault(rtype, []).append(i)
    inserted = staged = conflicts = 0
    for rtype, indices in by_type.items():
        rows = [records[i] for i in indices]
        if rtype is DeviceEvent:
            inserted += _write_events(conn, rows)
            continue
        srcs = None if sources is None else [sources[i] for i in indices]
        n, collisions, was_staged = _write_table(conn, TABLES[rtype], rows, received_at, srcs)
        if collisions:
            conflicts += store_conflicts.record(conn, collisions, worker=worker)
        inserted += n
        staged += was_staged
    return WriteStats(_count(records), inserted, staged, conflicts)


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
