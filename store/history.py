"""Bulk reads of stored history as numpy arrays, for training, evaluation, export and the streaming scorer.

Columns are whitelisted per device kind (identifiers never come from input). Process tag values are pivoted
to one row per timestamp with one column per requested tag (NaN where a tag has no value at that time).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import psycopg
from numpy.typing import NDArray
from psycopg import sql

Conn = psycopg.Connection[Any]

#: Readable numeric columns per kind, and the table they live in.
TABLES: dict[str, str] = {
    "dust": "dust_readings",
    "met": "met_readings",
    "cycler": "cycler_samples",
    "process": "process_values",
}
COLUMNS: dict[str, tuple[str, ...]] = {
    "dust": ("pm1", "pm25", "pm10", "temperature", "rh", "pressure", "wind_speed", "wind_dir", "battery"),
    "met": ("wind_speed", "wind_dir", "temperature", "rh", "pressure"),
    "cycler": (
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
    ),
}


@dataclass(frozen=True, slots=True, eq=False)
class History:
    """Rows of one or more devices: ``devices[i]``, ``times[i]`` (epoch s) and ``values[i, :]`` per ``columns``."""

    columns: tuple[str, ...]
    devices: NDArray[np.str_]
    times: NDArray[np.float64]
    values: NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.times.size)

    def of(self, device_id: str) -> History:
        """The rows of one device."""
        keep = self.devices == device_id
        return History(self.columns, self.devices[keep], self.times[keep], self.values[keep])

    def split(self) -> list[History]:
        """One History per device, in order of first appearance (rows must be grouped by device)."""
        if not len(self):
            return []
        cuts = np.flatnonzero(self.devices[1:] != self.devices[:-1]) + 1
        bounds = zip(np.r_[0, cuts], np.r_[cuts, len(self)], strict=True)
        return [History(self.columns, self.devices[a:b], self.times[a:b], self.values[a:b]) for a, b in bounds]

    @property
    def last_time(self) -> datetime:
        return datetime.fromtimestamp(float(self.times[-1]), tz=UTC)


def check_columns(kind: str, columns: Sequence[str]) -> tuple[str, ...]:
    """``columns`` validated for ``kind`` (any tag name for process devices)."""
    if kind not in TABLES:
        raise ValueError(f"unknown device kind {kind!r}; known: {sorted(TABLES)}")
    cols = tuple(columns)
    if not cols:
        raise ValueError("at least one column is required")
    if len(set(cols)) != len(cols):
        raise ValueError("columns must be distinct")
    if kind != "process":
        unknown = [c for c in cols if c not in COLUMNS[kind]]
        if unknown:
            raise ValueError(f"not columns of {kind} readings: {unknown}; known: {list(COLUMNS[kind])}")
    return cols


def _empty(columns: tuple[str, ...]) -> History:
    return History(columns, np.array([], dtype=str), np.zeros(0), np.zeros((0, len(columns))))


def _from_rows(columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> History:
    if not rows:
        return _empty(columns)
    devices = np.array([r[0] for r in rows], dtype=str)
    data = np.array([r[1:] for r in rows], dtype=np.float64)  # None becomes NaN
    return History(columns, devices, data[:, 0].copy(), np.ascontiguousarray(data[:, 1:]))


def _pivot(columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> History:
    """(device, time, tag index, value) rows ordered by device and time -> one row per (device, time)."""
    if not rows:
        return _empty(columns)
    dev = np.array([r[0] for r in rows], dtype=str)
    t = np.array([r[1] for r in rows], dtype=np.float64)
    col = np.array([r[2] for r in rows], dtype=np.int64) - 1
    val = np.array([np.nan if r[3] is None else r[3] for r in rows], dtype=np.float64)
    new = np.r_[True, (dev[1:] != dev[:-1]) | (t[1:] != t[:-1])]
    row = np.cumsum(new) - 1
    out = np.full((int(row[-1]) + 1, len(columns)), np.nan)
    out[row, col] = val
    return History(columns, dev[new], t[new], out)


def read(
    conn: Conn,
    *,
    kind: str,
    columns: Sequence[str],
    device_ids: Sequence[str],
    start: datetime,
    end: datetime,
) -> History:
    """Rows of ``device_ids`` with ``start <= time < end``, grouped by device, oldest first."""
    cols = check_columns(kind, columns)
    with conn.cursor(row_factory=psycopg.rows.tuple_row) as cur:
        if kind == "process":
            rows = cur.execute(
                "SELECT v.device_id, extract(epoch FROM v.time)::float8, c.i, v.value"
                " FROM process_values v JOIN unnest(%s::text[]) WITH ORDINALITY AS c(tag, i) ON c.tag = v.tag"
                " WHERE v.device_id = ANY(%s) AND v.time >= %s AND v.time < %s ORDER BY v.device_id, v.time, c.i",
                (list(cols), list(device_ids), start, end),
            ).fetchall()
            return _pivot(cols, rows)
        query = sql.SQL(
            "SELECT device_id, extract(epoch FROM time)::float8, {cols} FROM {table}"
            " WHERE device_id = ANY(%s) AND time >= %s AND time < %s ORDER BY device_id, time"
        ).format(cols=_select(cols), table=sql.Identifier(TABLES[kind]))
        return _from_rows(cols, cur.execute(query, (list(device_ids), start, end)).fetchall())


def _select(cols: tuple[str, ...]) -> sql.Composable:
    return sql.SQL(", ").join(sql.SQL("{}::float8").format(sql.Identifier(c)) for c in cols)


def read_after(
    conn: Conn,
    *,
    kind: str,
    columns: Sequence[str],
    watermarks: dict[str, datetime],
    limit_per_device: int = 50_000,
) -> list[History]:
    """Rows with time > each device's watermark, per device, oldest first (at most ``limit_per_device``).

    For process devices the limit counts tag values, and the last timestamp of a device is dropped when the
    limit cut through it (it is read whole next time).
    """
    cols = check_columns(kind, columns)
    if not watermarks:
        return []
    devices = list(watermarks)
    marks = [watermarks[d] for d in devices]
    with conn.cursor(row_factory=psycopg.rows.tuple_row) as cur:
        if kind == "process":
            rows = cur.execute(
                "SELECT w.device_id, extract(epoch FROM r.time)::float8, r.i, r.value"
                " FROM unnest(%s::text[], %s::timestamptz[]) AS w(device_id, wm) CROSS JOIN LATERAL ("
                "   SELECT v.time, c.i, v.value FROM process_values v"
                "   JOIN unnest(%s::text[]) WITH ORDINALITY AS c(tag, i) ON c.tag = v.tag"
                "   WHERE v.device_id = w.device_id AND v.time > w.wm ORDER BY v.time, c.i LIMIT %s) r"
                " ORDER BY w.device_id, r.time, r.i",
                (devices, marks, list(cols), limit_per_device),
            ).fetchall()
            out = _pivot(cols, rows).split()
            return [_drop_cut(h, rows, limit_per_device) for h in out]
        query = sql.SQL(
            "SELECT w.device_id, r.t, {rcols} FROM unnest(%s::text[], %s::timestamptz[]) AS w(device_id, wm)"
            " CROSS JOIN LATERAL (SELECT extract(epoch FROM x.time)::float8 AS t, {cols} FROM {table} x"
            "   WHERE x.device_id = w.device_id AND x.time > w.wm ORDER BY x.time LIMIT %s) r"
            " ORDER BY w.device_id, r.t"
        ).format(
            rcols=sql.SQL(", ").join(sql.SQL("r.{}").format(sql.Identifier(f"c{i}")) for i in range(len(cols))),
            cols=sql.SQL(", ").join(
                sql.SQL("{}::float8 AS {}").format(sql.Identifier(c), sql.Identifier(f"c{i}"))
                for i, c in enumerate(cols)
            ),
            table=sql.Identifier(TABLES[kind]),
        )
        return _from_rows(cols, cur.execute(query, (devices, marks, limit_per_device)).fetchall()).split()


def _drop_cut(h: History, rows: list[tuple[Any, ...]], limit: int) -> History:
    """Drop a device's last timestamp when the per-device row limit may have cut through it."""
    device = str(h.devices[0])
    n_rows = sum(1 for r in rows if r[0] == device)
    if n_rows < limit or len(h) < 2:
        return h
    return History(h.columns, h.devices[:-1], h.times[:-1], h.values[:-1])


def tags(conn: Conn, *, device_ids: Sequence[str], start: datetime, end: datetime) -> list[str]:
    """Distinct tag names of process devices in ``[start, end)``, sorted."""
    rows = conn.execute(
        "SELECT DISTINCT tag FROM process_values WHERE device_id = ANY(%s) AND time >= %s AND time < %s ORDER BY tag",
        (list(device_ids), start, end),
    ).fetchall()
    return [r["tag"] if isinstance(r, dict) else r[0] for r in rows]
