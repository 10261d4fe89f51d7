"""Reads for the analytics lake export: rows that arrived in a window of ``received_at``, as Arrow batches.

The export is incremental on the time a row reached the database (``received_at``), not on the device's
time: a channel back-filling old data after an outage still reaches the lake. Rows are read in one
transaction with a server-side cursor, so a window is one consistent snapshot and memory stays bounded.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, Final

import psycopg
import pyarrow as pa  # type: ignore[import-untyped]
from psycopg.rows import dict_row

from kipsense.records import CYCLER_SAMPLE_FIELDS

Conn = psycopg.Connection[Any]

#: Exportable tables and their columns (``received_at`` last: the watermark column).
TABLES: Final[dict[str, tuple[str, ...]]] = {
    "cycler_samples": ("device_id", "time", *CYCLER_SAMPLE_FIELDS, "received_at"),
    "process_values": ("device_id", "time", "tag", "value", "quality", "received_at"),
}

_TYPES: Final[dict[str, pa.DataType]] = {
    "device_id": pa.string(),
    "time": pa.timestamp("us", tz="UTC"),
    "received_at": pa.timestamp("us", tz="UTC"),
    "cycle_index": pa.int32(),
    "step_index": pa.int32(),
    "step_type": pa.string(),
    "tag": pa.string(),
    "quality": pa.int32(),
}


def schema(table: str) -> pa.Schema:
    """Arrow schema of an exported table (floats unless named in ``_TYPES``)."""
    return pa.schema([(c, _TYPES.get(c, pa.float64())) for c in TABLES[table]])


def high_water(conn: Conn, *, table: str) -> datetime | None:
    """Latest ``received_at`` of a table (None when empty)."""
    if table not in TABLES:
        raise ValueError(f"not an exportable table: {table!r}")
    with conn.cursor(row_factory=psycopg.rows.tuple_row) as cur:
        row = cur.execute(f"SELECT max(received_at) FROM {table}").fetchone()  # noqa: S608 - fixed names
    return row[0] if row is not None and isinstance(row[0], datetime) else None


def arrived(
    conn: Conn, *, table: str, after: datetime | None, until: datetime, batch_rows: int = 100_000
) -> Iterator[pa.RecordBatch]:
    """Rows with ``after < received_at <= until`` (all up to ``until`` when ``after`` is None), in batches."""
    if table not in TABLES:
        raise ValueError(f"not an exportable table: {table!r}")
    cols = TABLES[table]
    sch = schema(table)
    with (
        conn.transaction(),
        conn.cursor(name=f"lake_{table}", row_factory=psycopg.rows.tuple_row) as cur,
    ):
        cur.itersize = batch_rows
        cur.execute(
            f"SELECT {', '.join(cols)} FROM {table}"  # noqa: S608 - fixed names
            " WHERE (%(after)s::timestamptz IS NULL OR received_at > %(after)s) AND received_at <= %(until)s",
            {"after": after, "until": until},
        )
        while True:
            rows = cur.fetchmany(batch_rows)
            if not rows:
                break
            columns = list(zip(*rows, strict=True))
            yield pa.record_batch([pa.array(c, type=sch.field(i).type) for i, c in enumerate(columns)], schema=sch)


def cell_tests(conn: Conn) -> pa.Table:
    """The cell registry's tests (cell, channel, window) and cells (lot), for joins in the lake."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT t.test_id, t.cell_id, t.device_id, t.start_time, t.end_time, c.lot_id, c.nominal_capacity_ah"
            " FROM cell_tests t JOIN cells c USING (cell_id) ORDER BY t.test_id"
        ).fetchall()

    def col(name: str) -> list[Any]:
        return [r[name] for r in rows]

    return pa.table(
        {
            "test_id": pa.array(col("test_id"), pa.int64()),
            "cell_id": pa.array(col("cell_id"), pa.string()),
            "device_id": pa.array(col("device_id"), pa.string()),
            "start_time": pa.array(col("start_time"), pa.timestamp("us", tz="UTC")),
            "end_time": pa.array(col("end_time"), pa.timestamp("us", tz="UTC")),
            "lot_id": pa.array(col("lot_id"), pa.string()),
            "nominal_capacity_ah": pa.array(col("nominal_capacity_ah"), pa.float64()),
        }
    )
