"""Retention per hypertable (``drop_chunks``), and native compression where the licensed edition allows it.

The Apache edition of TimescaleDB has no background policies, so the platform's maintenance loop calls
:func:`drop_expired` itself. ``drop_chunks`` removes only whole chunks whose time range ends before the
horizon: a chunk that straddles the horizon stays until all of it has expired.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row, dict_row

Conn = psycopg.Connection[Any]

#: Segment-by columns for native compression (rows of one device, or one device's tag, compress together).
_SEGMENT_BY = {"process_values": "device_id, tag"}


@dataclass(frozen=True, slots=True)
class Policy:
    """How long a hypertable keeps its data (None: for ever) and, when licensed, when chunks compress."""

    hypertable: str
    keep_days: float | None
    compress_after_days: float | None


@dataclass(frozen=True, slots=True)
class Dropped:
    """Chunks one retention pass removed from one hypertable."""

    hypertable: str
    horizon: datetime
    chunks: tuple[str, ...]


def edition(conn: Conn) -> str:
    """The TimescaleDB license in force: ``apache`` (community features only) or ``timescale`` (licensed)."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT current_setting('timescaledb.license', true) AS license").fetchone()
    return str(row["license"]) if row and row["license"] else "apache"


def policies(conn: Conn) -> list[Policy]:
    """Every retention policy, by hypertable name."""
    with conn.cursor(row_factory=class_row(Policy)) as cur:
        return cur.execute(
            "SELECT hypertable, keep_days, compress_after_days FROM retention_policies ORDER BY hypertable"
        ).fetchall()


def _is_hypertable(conn: Conn, name: str) -> bool:
    with conn.cursor() as cur:
        row = cur.execute(
            "SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = %s", (name,)
        ).fetchone()
    return row is not None


def set_policy(conn: Conn, *, hypertable: str, keep_days: float | None, compress_after_days: float | None) -> Policy:
    """Create or change the policy of a hypertable; ``ValueError`` for an unknown table or a bad duration."""
    if not _is_hypertable(conn, hypertable):
        raise ValueError(f"{hypertable!r} is not a hypertable")
    for value in (keep_days, compress_after_days):
        if value is not None and not value > 0:
            raise ValueError("durations must be positive (or none)")
    with conn.cursor(row_factory=class_row(Policy)) as cur:
        row = cur.execute(
            "INSERT INTO retention_policies (hypertable, keep_days, compress_after_days) VALUES (%s, %s, %s)"
            " ON CONFLICT (hypertable) DO UPDATE SET keep_days = EXCLUDED.keep_days,"
            " compress_after_days = EXCLUDED.compress_after_days, updated_at = now()"
            " RETURNING hypertable, keep_days, compress_after_days",
            (hypertable, keep_days, compress_after_days),
        ).fetchone()
    if row is None:  # pragma: no cover - RETURNING always yields the row
        raise RuntimeError("upsert returned no row")
    return row


def drop_expired(conn: Conn, *, now: datetime, only: set[str] | None = None) -> list[Dropped]:
    """Drop the chunks that lie entirely before ``now - keep_days`` of each policy (or of the ``only`` tables)."""
    out: list[Dropped] = []
    for policy in policies(conn):
        if policy.keep_days is None or (only is not None and policy.hypertable not in only):
            continue
        if not _is_hypertable(conn, policy.hypertable):
            continue  # a policy for a table a later migration removed: nothing to drop
        horizon = now - timedelta(days=policy.keep_days)
        with conn.transaction(), conn.cursor() as cur:
            rows = cur.execute(
                "SELECT drop_chunks(%s::regclass, older_than => %s::timestamptz)", (policy.hypertable, horizon)
            ).fetchall()
        names = tuple(str(r["drop_chunks"] if isinstance(r, dict) else r[0]) for r in rows)
        out.append(Dropped(policy.hypertable, horizon, names))
    return out


def _time_column(conn: Conn, hypertable: str) -> str:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT column_name FROM timescaledb_information.dimensions WHERE hypertable_name = %s"
            " ORDER BY dimension_number LIMIT 1",
            (hypertable,),
        ).fetchone()
    if row is None:
        raise ValueError(f"{hypertable!r} is not a hypertable")
    return str(row["column_name"])


def enable_compression(conn: Conn, *, hypertable: str, compress_after_days: float) -> None:
    """Turn on native compression with a compression policy (licensed edition only).

    Chunks compress by device (segment-by) ordered by time, the order every read of the platform uses.
    """
    if edition(conn) != "timescale":
        raise RuntimeError("native compression needs the licensed TimescaleDB edition (timescaledb.license)")
    time_col = _time_column(conn, hypertable)
    segment_by = _SEGMENT_BY.get(hypertable, "device_id")
    with conn.transaction():
        conn.execute(
            sql.SQL(
                "ALTER TABLE {t} SET (timescaledb.compress, timescaledb.compress_segmentby = {seg},"
                " timescaledb.compress_orderby = {order})"
            ).format(
                t=sql.Identifier(hypertable),
                seg=sql.Literal(segment_by),
                order=sql.Literal(f"{time_col} DESC"),
            )
        )
        conn.execute(
            "SELECT add_compression_policy(%s::regclass, compress_after => make_interval(secs => %s),"
            " if_not_exists => true)",
            (hypertable, compress_after_days * 86_400.0),
        )


def compressed(conn: Conn, *, hypertable: str) -> bool:
    """True when native compression is on for ``hypertable``."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT compression_enabled FROM timescaledb_information.hypertables WHERE hypertable_name = %s",
            (hypertable,),
        ).fetchone()
    return bool(row and row["compression_enabled"])


@dataclass(frozen=True, slots=True)
class ChunkRange:
    """One chunk of a hypertable and the time range it covers."""

    chunk: str
    range_start: datetime
    range_end: datetime


def chunks(conn: Conn, *, hypertable: str) -> list[ChunkRange]:
    """Chunks of ``hypertable``, oldest first."""
    with conn.cursor(row_factory=class_row(ChunkRange)) as cur:
        return cur.execute(
            "SELECT chunk_name AS chunk, range_start, range_end FROM timescaledb_information.chunks"
            " WHERE hypertable_name = %s ORDER BY range_start",
            (hypertable,),
        ).fetchall()
