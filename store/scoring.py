"""What the streaming scorer reads and remembers: new samples per device after its watermark, and its state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import psycopg
from numpy.typing import NDArray
from psycopg import sql
from psycopg.types.json import Jsonb

Conn = psycopg.Connection[Any]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: Metrics a detector may read, per table (identifiers are whitelisted, never taken from input).
METRICS: dict[str, tuple[str, ...]] = {
    "dust_readings": ("pm1", "pm25", "pm10", "temperature", "rh", "pressure", "wind_speed", "wind_dir", "battery"),
    "met_readings": ("wind_speed", "wind_dir", "temperature", "rh", "pressure"),
    "cycler_samples": (
        "voltage",
        "current",
        "temperature",
        "charge_capacity",
        "discharge_capacity",
        "internal_resistance",
        "test_time",
        "cycle_index",
    ),
}


@dataclass(frozen=True, slots=True)
class Series:
    """Samples of one device: epoch seconds and values, oldest first."""

    device_id: str
    times: NDArray[np.float64]
    values: NDArray[np.float64]

    @property
    def last_time(self) -> datetime:
        return datetime.fromtimestamp(float(self.times[-1]), tz=UTC)


@dataclass(frozen=True, slots=True)
class ScorerState:
    watermark: datetime
    state: dict[str, Any]


def load_states(conn: Conn, *, detector: str) -> dict[str, ScorerState]:
    rows = conn.execute(
        "SELECT device_id, watermark, state FROM scorer_state WHERE detector = %s", (detector,)
    ).fetchall()
    return {r["device_id"]: ScorerState(r["watermark"], r["state"]) for r in rows}


def save_state(conn: Conn, *, detector: str, device_id: str, watermark: datetime, state: dict[str, Any]) -> None:
    conn.execute(
        "INSERT INTO scorer_state (detector, device_id, watermark, state) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (detector, device_id) DO UPDATE SET watermark = EXCLUDED.watermark, state = EXCLUDED.state,"
        " updated_at = now()",
        (detector, device_id, watermark, Jsonb(state)),
    )


def series_after(
    conn: Conn,
    *,
    table: str,
    metric: str,
    watermarks: dict[str, datetime],
    limit_per_device: int = 50_000,
) -> list[Series]:
    """Samples with time > the device's watermark, per device, oldest first (at most ``limit_per_device``)."""
    if metric not in METRICS.get(table, ()):
        raise ValueError(f"{table}.{metric} is not a scorable metric")
    if not watermarks:
        return []
    query = sql.SQL(
        "SELECT w.device_id, extract(epoch FROM r.time)::float8 AS t, r.{m}::float8 AS v"
        " FROM unnest(%(d)s::text[], %(w)s::timestamptz[]) AS w(device_id, wm)"
        " CROSS JOIN LATERAL (SELECT time, {m} FROM {t} x WHERE x.device_id = w.device_id AND x.time > w.wm"
        "   ORDER BY time LIMIT %(n)s) r"
        " ORDER BY w.device_id, r.time"
    ).format(m=sql.Identifier(metric), t=sql.Identifier(table))
    devices = list(watermarks)
    with conn.cursor(row_factory=psycopg.rows.tuple_row) as cur:
        rows = cur.execute(
            query, {"d": devices, "w": [watermarks[d] for d in devices], "n": limit_per_device}
        ).fetchall()
    if not rows:
        return []
    ids = np.array([r[0] for r in rows], dtype=object)
    times = np.array([r[1] for r in rows], dtype=np.float64)
    values = np.array([np.nan if r[2] is None else r[2] for r in rows], dtype=np.float64)
    cuts = np.flatnonzero(ids[1:] != ids[:-1]) + 1
    starts = np.r_[0, cuts]
    ends = np.r_[cuts, len(rows)]
    return [Series(str(ids[s]), times[s:e], values[s:e]) for s, e in zip(starts, ends, strict=True)]


def series_between(
    conn: Conn, *, table: str, metric: str, device_id: str, start: datetime, end: datetime
) -> Series | None:
    """Samples of one device with start < time <= end (a detector's warm-up after a restart)."""
    if metric not in METRICS.get(table, ()):
        raise ValueError(f"{table}.{metric} is not a scorable metric")
    query = sql.SQL(
        "SELECT extract(epoch FROM time)::float8 AS t, {m}::float8 AS v FROM {t}"
        " WHERE device_id = %s AND time > %s AND time <= %s ORDER BY time"
    ).format(m=sql.Identifier(metric), t=sql.Identifier(table))
    with conn.cursor(row_factory=psycopg.rows.tuple_row) as cur:
        rows = cur.execute(query, (device_id, start, end)).fetchall()
    if not rows:
        return None
    arr = np.array([(r[0], np.nan if r[1] is None else r[1]) for r in rows], dtype=np.float64)
    return Series(device_id, arr[:, 0].copy(), arr[:, 1].copy())
