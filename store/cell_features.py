"""The cell feature job in SQL, on PostgreSQL here and on the lake's embedded engine; stored life predictions.

The feature job turns cycler samples into two tables keyed by (cell_id, cycle_index):

- ``cycles``: per-cycle throughput and extremes (:data:`CYCLE_FIELDS`);
- ``qv``: the discharge curve Q(V) of the early cycles, as the mean voltage and mean discharge counter of
  the samples in each ``bin_v`` wide voltage bin (:data:`QV_FIELDS`). Averaging the samples of a bin gives a
  point on the curve wherever the curve is locally straight, whatever the cycler's logging rate; the
  features interpolate between these points.

Samples belong to a cell through ``cell_tests`` (channel + time window). The statement is written once
(:func:`feature_sql`) and runs unchanged on PostgreSQL (``cycler_samples`` joined with ``cell_tests``) and on
DuckDB over the Parquet lake, which is how the benchmark compares the two engines on the same query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np
import psycopg
import pyarrow as pa  # type: ignore[import-untyped]
from psycopg.rows import class_row, tuple_row
from psycopg.types.json import Jsonb

Conn = psycopg.Connection[Any]

CYCLE_FIELDS: Final = (
    "cell_id",
    "cycle_index",
    "n_samples",
    "charge_capacity_ah",
    "discharge_capacity_ah",
    "discharge_counter_min",
    "charge_energy_wh",
    "discharge_energy_wh",
    "internal_resistance_ohm",
    "max_temperature_c",
    "min_voltage_v",
    "max_voltage_v",
)
QV_FIELDS: Final = ("cell_id", "cycle_index", "vbin", "voltage", "discharge_counter", "n")

_CYCLES: Final = """
SELECT t.cell_id AS cell_id, s.cycle_index AS cycle_index, count(*) AS n_samples,
       max(s.charge_capacity) - min(s.charge_capacity) AS charge_capacity_ah,
       max(s.discharge_capacity) - min(s.discharge_capacity) AS discharge_capacity_ah,
       min(s.discharge_capacity) AS discharge_counter_min,
       max(s.charge_energy) - min(s.charge_energy) AS charge_energy_wh,
       max(s.discharge_energy) - min(s.discharge_energy) AS discharge_energy_wh,
       avg(s.internal_resistance) FILTER (WHERE s.internal_resistance > 0) AS internal_resistance_ohm,
       max(s.temperature) AS max_temperature_c, min(s.voltage) AS min_voltage_v, max(s.voltage) AS max_voltage_v
FROM {samples} s JOIN {tests} t
  ON s.device_id = t.device_id AND s.time >= t.start_time AND (t.end_time IS NULL OR s.time <= t.end_time)
WHERE s.cycle_index IS NOT NULL {cell_filter}
GROUP BY t.cell_id, s.cycle_index
"""

_QV: Final = """
SELECT t.cell_id AS cell_id, s.cycle_index AS cycle_index, floor(s.voltage / {bin_v})::integer AS vbin,
       avg(s.voltage) AS voltage, avg(s.discharge_capacity) AS discharge_counter, count(*) AS n
FROM {samples} s JOIN {tests} t
  ON s.device_id = t.device_id AND s.time >= t.start_time AND (t.end_time IS NULL OR s.time <= t.end_time)
WHERE s.current < 0 AND s.voltage IS NOT NULL AND s.discharge_capacity IS NOT NULL
  AND s.cycle_index BETWEEN 0 AND {max_cycle} {cell_filter}
GROUP BY t.cell_id, s.cycle_index, floor(s.voltage / {bin_v})
"""


def feature_sql(*, samples: str, tests: str, bin_v: float, max_cycle: int, cell_filter: str = "") -> dict[str, str]:
    """The two statements of the job over relations ``samples`` and ``tests`` (trusted names, not user input).

    ``cell_filter`` is an extra ``AND ...`` condition on ``t.cell_id`` with the engine's own placeholder.
    """
    if not (0 < bin_v < 1) or max_cycle < 0:
        raise ValueError("need 0 < bin_v < 1 and max_cycle >= 0")
    args = {"samples": samples, "tests": tests, "cell_filter": cell_filter}
    return {
        "cycles": _CYCLES.format(**args),
        "qv": _QV.format(bin_v=repr(float(bin_v)), max_cycle=int(max_cycle), **args),
    }


def run_job(
    conn: Conn, *, cell_ids: Sequence[str] | None = None, bin_v: float = 0.01, max_cycle: int = 100
) -> dict[str, pa.Table]:
    """The feature job on the database (``cycler_samples`` and ``cell_tests``); tables ``cycles`` and ``qv``."""
    where = "AND t.cell_id = ANY(%(cells)s)" if cell_ids is not None else ""
    stmts = feature_sql(
        samples="cycler_samples", tests="cell_tests", bin_v=bin_v, max_cycle=max_cycle, cell_filter=where
    )
    out: dict[str, pa.Table] = {}
    for name, fields in (("cycles", CYCLE_FIELDS), ("qv", QV_FIELDS)):
        with conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(stmts[name], {"cells": list(cell_ids or [])})  # statement built from trusted parts
            rows = cur.fetchall()
        cols = list(zip(*rows, strict=True)) if rows else [() for _ in fields]
        out[name] = pa.table({f: pa.array(c) for f, c in zip(fields, cols, strict=True)}) if rows else _empty(fields)
    return out


def _empty(fields: Sequence[str]) -> pa.Table:
    return pa.table({f: pa.array([], type=pa.string() if f == "cell_id" else pa.float64()) for f in fields})


# -- bulk load of process values -----------------------------------------------------------------------------
def copy_process_values(
    conn: Conn, *, device_id: str, times: np.ndarray, tags: Sequence[str], values: np.ndarray, received_at: datetime
) -> int:
    """COPY a (n_times, n_tags) block of process tag values of one line; stored rows are skipped."""
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS _cell_process_stage (LIKE process_values INCLUDING DEFAULTS) ON COMMIT DROP"
    )
    stamps = [t.astype("datetime64[us]").item().replace(tzinfo=UTC) for t in np.asarray(times)]
    with conn.cursor() as cur:
        with cur.copy("COPY _cell_process_stage (device_id, time, tag, value) FROM STDIN") as copy:
            for j, tag in enumerate(tags):
                for stamp, value in zip(stamps, values[:, j].tolist(), strict=True):
                    copy.write_row((device_id, stamp, tag, value))
        cur.execute(
            "INSERT INTO process_values (device_id, time, tag, value, received_at)"
            " SELECT device_id, time, tag, value, %s FROM _cell_process_stage"
            " ON CONFLICT (device_id, tag, time) DO NOTHING",
            (received_at,),
        )
        inserted = cur.rowcount
        cur.execute("TRUNCATE _cell_process_stage")
    return inserted


# -- life predictions ------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LifePrediction:
    """A stored prediction of a cell's end of life from its first ``n_cycles`` cycles."""

    cell_id: str
    model_id: int
    n_cycles: int
    predicted_life: float
    lower: float
    upper: float
    early: bool
    features: dict[str, Any]
    predicted_at: datetime


_PRED_COLS: Final = "cell_id, model_id, n_cycles, predicted_life, lower, upper, early, features, predicted_at"


def save_prediction(
    conn: Conn,
    *,
    cell_id: str,
    model_id: int,
    n_cycles: int,
    predicted_life: float,
    lower: float,
    upper: float,
    early: bool,
    features: dict[str, Any],
) -> LifePrediction:
    """Record a prediction; the same cell, model and cycle count again replaces it (idempotent)."""
    if not (np.isfinite(predicted_life) and np.isfinite(lower) and np.isfinite(upper)):
        raise ValueError("a prediction must be finite")
    with conn.cursor(row_factory=class_row(LifePrediction)) as cur:
        row = cur.execute(
            "INSERT INTO cell_life_predictions (cell_id, model_id, n_cycles, predicted_life, lower, upper, early,"  # noqa: S608
            " features) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (cell_id, model_id, n_cycles) DO UPDATE SET predicted_life = EXCLUDED.predicted_life,"
            " lower = EXCLUDED.lower, upper = EXCLUDED.upper, early = EXCLUDED.early, features = EXCLUDED.features,"
            f" predicted_at = now() RETURNING {_PRED_COLS}",
            (cell_id, model_id, n_cycles, predicted_life, lower, upper, early, Jsonb(features)),
        ).fetchone()
    if row is None:  # pragma: no cover - INSERT ... RETURNING always returns the row
        raise RuntimeError("insert returned no row")
    return row


def predictions(conn: Conn, *, cell_id: str, model_id: int | None = None) -> list[LifePrediction]:
    """A cell's stored predictions, by cycle count (the history of how the prediction moved)."""
    with conn.cursor(row_factory=class_row(LifePrediction)) as cur:
        return cur.execute(
            f"SELECT {_PRED_COLS} FROM cell_life_predictions WHERE cell_id = %s"  # noqa: S608
            " AND (%s::bigint IS NULL OR model_id = %s) ORDER BY model_id, n_cycles",
            (cell_id, model_id, model_id),
        ).fetchall()


def cell_channel(conn: Conn, *, cell_id: str) -> tuple[str, str] | None:
    """(device_id, site_id) of the channel of the cell's latest test, for alerts; None without a test."""
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(
            "SELECT t.device_id, d.site_id FROM cell_tests t JOIN devices d USING (device_id)"
            " WHERE t.cell_id = %s ORDER BY t.start_time DESC LIMIT 1",
            (cell_id,),
        ).fetchone()
    return None if row is None else (str(row[0]), str(row[1]))


def batch_alert_counts(conn: Conn, *, batch_ids: Sequence[str]) -> dict[str, int]:
    """Alerts the process monitor raised on each batch's line during the batch (0 for none)."""
    with conn.cursor(row_factory=tuple_row) as cur:
        rows = cur.execute(
            "SELECT b.batch_id, count(a.alert_id) FROM process_batches b LEFT JOIN alerts a"
            " ON a.device_id = b.device_id AND a.first_time < b.end_time AND a.last_time >= b.start_time"
            " WHERE b.batch_id = ANY(%s) GROUP BY b.batch_id",
            (list(batch_ids),),
        ).fetchall()
    out = dict.fromkeys(batch_ids, 0)
    out.update({str(r[0]): int(r[1]) for r in rows})
    return out


def batch_values(conn: Conn, *, batch_id: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The tag data of a batch: tag -> (epoch seconds, values), time-ordered."""
    with conn.cursor(row_factory=tuple_row) as cur:
        rows = cur.execute(
            "SELECT v.tag, extract(epoch FROM v.time)::float8, v.value FROM process_batches b"
            " JOIN process_values v ON v.device_id = b.device_id AND v.time >= b.start_time AND v.time < b.end_time"
            " WHERE b.batch_id = %s ORDER BY v.tag, v.time",
            (batch_id,),
        ).fetchall()
    out: dict[str, tuple[list[float], list[float]]] = {}
    for tag, t, v in rows:
        ts, vs = out.setdefault(tag, ([], []))
        ts.append(t)
        vs.append(v)
    return {k: (np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)) for k, (a, b) in out.items()}
