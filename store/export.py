"""Bulk reads for researchers: raw readings of one device streamed in batches, cycler samples as columns."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import numpy as np
import psycopg
from numpy.typing import NDArray
from psycopg import sql
from psycopg.rows import tuple_row

from store.readings import TABLES

Conn = psycopg.Connection[Any]


def columns(table: str) -> tuple[str, ...]:
    """Exported columns of a reading table (the record's fields, device time first after the id)."""
    for spec in TABLES.values():
        if spec.name == table:
            return spec.columns
    raise ValueError(f"unknown table {table!r}")


def iter_rows(
    conn: Conn, *, table: str, device_id: str, start: datetime, end: datetime, batch_rows: int
) -> Iterator[list[tuple[Any, ...]]]:
    """Rows of ``device_id`` with start <= time < end, oldest first, in batches from a server-side cursor.

    Runs in its own transaction on ``conn`` so memory stays bounded by ``batch_rows`` whatever the range.
    """
    cols = columns(table)
    query = sql.SQL("SELECT {} FROM {} WHERE device_id = %s AND time >= %s AND time < %s ORDER BY time").format(
        sql.SQL(", ").join(map(sql.Identifier, cols)), sql.Identifier(table)
    )
    with conn.transaction(), conn.cursor(name="kipsense_export", row_factory=tuple_row) as cur:
        cur.itersize = batch_rows
        cur.execute(query, (device_id, start, end))
        while batch := cur.fetchmany(batch_rows):
            yield batch


def cycler_columns(
    conn: Conn, *, device_id: str, start: datetime, end: datetime, limit: int
) -> dict[str, NDArray[np.float64]]:
    """Numeric cycler sample columns of one channel over [start, end), in time order, at most ``limit`` rows."""
    names = (
        "test_time",
        "cycle_index",
        "step_index",
        "voltage",
        "current",
        "temperature",
        "charge_capacity",
        "discharge_capacity",
        "charge_energy",
        "discharge_energy",
        "internal_resistance",
    )
    query = sql.SQL(
        "SELECT {} FROM cycler_samples WHERE device_id = %s AND time >= %s AND time < %s ORDER BY time LIMIT %s"
    ).format(sql.SQL(", ").join(sql.SQL("{}::float8").format(sql.Identifier(n)) for n in names))
    with conn.cursor(row_factory=tuple_row) as cur:
        rows = cur.execute(query, (device_id, start, end, limit)).fetchall()
    data = np.array(rows, dtype=np.float64).reshape(-1, len(names)) if rows else np.zeros((0, len(names)))
    return {n: data[:, i] for i, n in enumerate(names)}
