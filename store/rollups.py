"""Rollup tables of dust and met readings (1 minute and 1 hour), maintained incrementally, and reads from them.

Each rollup row keeps count, sum, min and max per metric, so a mean over any coarser bucket re-aggregates
exactly (``sum(sum) / sum(count)``) and a late reading changes only the buckets it falls into.

Maintenance has two steps. :func:`collect_dirty` scans rows that arrived (``received_at``) since the last pass,
minus an overlap that covers commit latency and clock skew between ingest hosts and the database, and queues
their 1-minute buckets in ``rollup_dirty``. :func:`drain_dirty` recomputes queued buckets from the raw rows in
bounded batches, then the hours that contain them from the 1-minute rollup. Recomputing a bucket is idempotent,
so a bucket queued twice costs a little time and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from store.readings import Bucket

Conn = psycopg.Connection[Any]

#: Metrics kept in the rollups, per raw table (wind direction is circular and has no meaningful sum).
ROLLUP_METRICS: dict[str, tuple[str, ...]] = {
    "dust_readings": ("pm1", "pm25", "pm10", "temperature", "rh", "pressure", "wind_speed"),
    "met_readings": ("wind_speed", "temperature", "rh", "pressure"),
}
_PREFIX = {"dust_readings": "dust", "met_readings": "met"}
MINUTE = 60
HOUR = 3600


def rollup_table(source: str, resolution_s: int) -> str:
    """Name of the rollup of ``source`` at ``resolution_s`` (60 or 3600)."""
    suffix = {MINUTE: "1m", HOUR: "1h"}[resolution_s]
    return f"{_PREFIX[source]}_rollup_{suffix}"


def _check_source(source: str) -> tuple[str, ...]:
    if source not in ROLLUP_METRICS:
        raise ValueError(f"{source!r} has no rollups (known: {', '.join(ROLLUP_METRICS)})")
    return ROLLUP_METRICS[source]


@dataclass(frozen=True, slots=True)
class RefreshStats:
    """What one refresh of one source did."""

    source: str
    queued: int
    buckets: int
    hours: int


def collect_dirty(conn: Conn, *, source: str, overlap_s: float = 300.0) -> int | None:
    """Queue the 1-minute buckets of rows received since the last pass; returns buckets newly queued.

    Returns None when another process holds this source's state (it is collecting right now).
    """
    _check_source(source)
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        state = cur.execute(
            "SELECT received_through, clock_timestamp() AS now FROM rollup_state WHERE source = %s"
            " FOR UPDATE SKIP LOCKED",
            (source,),
        ).fetchone()
        if state is None:
            return None
        hi: datetime = state["now"]
        through: datetime | None = state["received_through"]
        lo = None if through is None else through - timedelta(seconds=overlap_s)
        queued = cur.execute(
            sql.SQL(
                "INSERT INTO rollup_dirty (source, device_id, bucket)"
                " SELECT DISTINCT %(src)s, device_id, time_bucket(interval '1 minute', time) FROM {t}"
                " WHERE (%(lo)s::timestamptz IS NULL OR received_at > %(lo)s) AND received_at <= %(hi)s"
                " ON CONFLICT DO NOTHING"
            ).format(t=sql.Identifier(source)),
            {"src": source, "lo": lo, "hi": hi},
        ).rowcount
        cur.execute("UPDATE rollup_state SET received_through = %s, updated_at = now() WHERE source = %s", (hi, source))
    return max(queued, 0)


def _aggregates(metrics: tuple[str, ...], *, from_raw: bool) -> sql.Composed:
    parts: list[sql.Composable] = []
    for m in metrics:
        if from_raw:
            col = sql.Identifier(m)
            parts += [
                sql.SQL("count({})::int").format(col),
                sql.SQL("sum({})").format(col),
                sql.SQL("min({})").format(col),
                sql.SQL("max({})").format(col),
            ]
        else:
            parts += [
                sql.SQL("sum({})::int").format(sql.Identifier(f"{m}_n")),
                sql.SQL("sum({})").format(sql.Identifier(f"{m}_sum")),
                sql.SQL("min({})").format(sql.Identifier(f"{m}_min")),
                sql.SQL("max({})").format(sql.Identifier(f"{m}_max")),
            ]
    parts.append(sql.SQL("count(*)::int" if from_raw else "sum(samples)::int"))
    return sql.SQL(", ").join(parts)


def _columns(metrics: tuple[str, ...]) -> list[str]:
    cols = [f"{m}_{part}" for m in metrics for part in ("n", "sum", "min", "max")]
    return [*cols, "samples"]


def _upsert(target: str, metrics: tuple[str, ...], select: sql.Composable) -> sql.Composed:
    cols = _columns(metrics)
    return sql.SQL(
        "INSERT INTO {t} (device_id, bucket, {cols}) {select}"
        " ON CONFLICT (device_id, bucket) DO UPDATE SET {sets}, updated_at = now()"
    ).format(
        t=sql.Identifier(target),
        cols=sql.SQL(", ").join(map(sql.Identifier, cols)),
        select=select,
        sets=sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in cols),
    )


def _recompute(conn: Conn, source: str, devices: list[str], buckets: list[datetime]) -> int:
    """Rebuild the given 1-minute buckets from raw rows, then their hours from the 1-minute rollup."""
    metrics = ROLLUP_METRICS[source]
    minute = timedelta(seconds=MINUTE)
    lo, hi = min(buckets), max(buckets) + minute
    raw = sql.SQL(
        "SELECT r.device_id, time_bucket(interval '1 minute', r.time) AS b, {aggs} FROM {src} r"
        " WHERE r.time >= %(lo)s AND r.time < %(hi)s AND r.device_id = ANY(%(d)s::text[])"
        "   AND (r.device_id, time_bucket(interval '1 minute', r.time)) IN"
        "     (SELECT * FROM unnest(%(d)s::text[], %(b)s::timestamptz[]))"
        " GROUP BY 1, 2"
    ).format(aggs=_aggregates(metrics, from_raw=True), src=sql.Identifier(source))
    conn.execute(_upsert(rollup_table(source, MINUTE), metrics, raw), {"d": devices, "b": buckets, "lo": lo, "hi": hi})
    hours = sorted({(d, _floor(b, HOUR)) for d, b in zip(devices, buckets, strict=True)})
    coarse = sql.SQL(
        "SELECT m.device_id, time_bucket(interval '1 hour', m.bucket) AS b, {aggs} FROM {m1} m"
        " WHERE m.bucket >= %(lo)s AND m.bucket < %(hi)s AND m.device_id = ANY(%(d)s::text[])"
        "   AND (m.device_id, time_bucket(interval '1 hour', m.bucket)) IN"
        "     (SELECT * FROM unnest(%(d)s::text[], %(h)s::timestamptz[]))"
        " GROUP BY 1, 2"
    ).format(aggs=_aggregates(metrics, from_raw=False), m1=sql.Identifier(rollup_table(source, MINUTE)))
    starts = [h for _, h in hours]
    conn.execute(
        _upsert(rollup_table(source, HOUR), metrics, coarse),
        {"d": [d for d, _ in hours], "h": starts, "lo": min(starts), "hi": max(starts) + timedelta(seconds=HOUR)},
    )
    return len(hours)


def drain_dirty(conn: Conn, *, source: str, batch: int = 20_000) -> tuple[int, int]:
    """Recompute queued buckets, oldest first, one transaction per batch; returns (minute buckets, hours)."""
    _check_source(source)
    if batch < 1:
        raise ValueError("batch must be positive")
    minutes = hours = 0
    while True:
        with conn.transaction(), conn.cursor() as cur:
            # One drainer per source: two writers of the same hour would each miss the other's minutes.
            locked = cur.execute("SELECT pg_try_advisory_xact_lock(hashtext('kipsense-rollup:' || %s))", (source,))
            if not _field(locked.fetchone(), "pg_try_advisory_xact_lock", 0):
                return minutes, hours
            rows = cur.execute(
                "DELETE FROM rollup_dirty WHERE (source, bucket, device_id) IN ("
                " SELECT source, bucket, device_id FROM rollup_dirty WHERE source = %s"
                " ORDER BY bucket LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING device_id, bucket",
                (source, batch),
            ).fetchall()
            if not rows:
                return minutes, hours
            devices = [_field(r, "device_id", 0) for r in rows]
            buckets = [_field(r, "bucket", 1) for r in rows]
            hours += _recompute(conn, source, devices, buckets)
            minutes += len(rows)


def _field(row: Any, name: str, index: int) -> Any:
    return row[name] if isinstance(row, dict) else row[index]


def refresh(conn: Conn, *, source: str, overlap_s: float = 300.0, batch: int = 20_000) -> RefreshStats:
    """Collect what arrived since the last pass and re-aggregate every queued bucket of ``source``."""
    queued = collect_dirty(conn, source=source, overlap_s=overlap_s)
    minutes, hours = drain_dirty(conn, source=source, batch=batch)
    return RefreshStats(source, queued or 0, minutes, hours)


def pending(conn: Conn, *, source: str) -> int:
    """Buckets queued and not yet re-aggregated."""
    with conn.cursor() as cur:
        row = cur.execute("SELECT count(*) FROM rollup_dirty WHERE source = %s", (source,)).fetchone()
    return int(_field(row, "count", 0))


def _floor(t: datetime, step_s: int) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + timedelta(seconds=(t - epoch) // timedelta(seconds=step_s) * step_s)


def _ceil(t: datetime, step_s: int) -> datetime:
    floor = _floor(t, step_s)
    return floor if floor == t else floor + timedelta(seconds=step_s)


def covered_until(conn: Conn, *, source: str, device_id: str) -> datetime | None:
    """Device time before which the rollups of ``device_id`` hold every row received up to the last pass."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT s.received_through,"
            " (SELECT min(bucket) FROM rollup_dirty d WHERE d.source = s.source AND d.device_id = %s) AS dirty"
            " FROM rollup_state s WHERE s.source = %s",
            (device_id, source),
        ).fetchone()
    if row is None or row["received_through"] is None:
        return None
    through: datetime = row["received_through"]
    return min(through, row["dirty"]) if row["dirty"] is not None else through


def bucketed(
    conn: Conn, *, table: str, device_id: str, metric: str, start: datetime, end: datetime, bucket_s: int
) -> list[Bucket] | None:
    """Bucketed aggregates read from a rollup, or None when no rollup can answer exactly.

    The aligned part of the range up to what the rollup covers is read from the 1-hour (bucket a multiple of
    an hour) or 1-minute rollup; the unaligned head and the not yet rolled-up tail come from raw rows, so the
    answer equals a ``time_bucket`` over the raw table.
    """
    if metric not in ROLLUP_METRICS.get(table, ()) or bucket_s < MINUTE or bucket_s % MINUTE:
        return None
    resolution = HOUR if bucket_s % HOUR == 0 else MINUTE
    covered = covered_until(conn, source=table, device_id=device_id)
    if covered is None:
        return None
    mid_lo = _ceil(start, resolution)
    mid_hi = min(_floor(end, resolution), _floor(covered, resolution))
    if mid_hi <= mid_lo:
        return None
    m = sql.Identifier(metric)
    query = sql.SQL(
        "WITH parts AS ("
        " SELECT time_bucket(make_interval(secs => %(b)s), bucket) AS bk, {n}::bigint AS n, {s} AS s,"
        "   {mn} AS mn, {mx} AS mx FROM {rollup}"
        "   WHERE device_id = %(d)s AND bucket >= %(a)s AND bucket < %(z)s"
        " UNION ALL"  # the unaligned head and the tail the rollup does not cover yet, each a plain time range
        " SELECT time_bucket(make_interval(secs => %(b)s), time), count({m}), sum({m}), min({m}), max({m}) FROM {raw}"
        "   WHERE device_id = %(d)s AND time >= %(s)s AND time < %(a)s GROUP BY 1"
        " UNION ALL"
        " SELECT time_bucket(make_interval(secs => %(b)s), time), count({m}), sum({m}), min({m}), max({m}) FROM {raw}"
        "   WHERE device_id = %(d)s AND time >= %(z)s AND time < %(e)s GROUP BY 1)"
        " SELECT bk, (sum(s) / nullif(sum(n), 0))::float8 AS mean, min(mn)::float8 AS mn, max(mx)::float8 AS mx,"
        " sum(n) AS n FROM parts GROUP BY bk ORDER BY bk"
    ).format(
        n=sql.Identifier(f"{metric}_n"),
        s=sql.Identifier(f"{metric}_sum"),
        mn=sql.Identifier(f"{metric}_min"),
        mx=sql.Identifier(f"{metric}_max"),
        rollup=sql.Identifier(rollup_table(table, resolution)),
        m=m,
        raw=sql.Identifier(table),
    )
    params = {"b": bucket_s, "d": device_id, "a": mid_lo, "z": mid_hi, "s": start, "e": end}
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query, params).fetchall()
    return [Bucket(r["bk"], r["mean"], r["mn"], r["mx"], int(r["n"])) for r in rows]
