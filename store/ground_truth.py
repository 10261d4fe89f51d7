"""Simulator ground truth: injected faults and episodes, for evaluating detectors."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from kipsense.records import TruthEvent

Conn = psycopg.Connection[Any]


def add_many(conn: Conn, events: Sequence[TruthEvent], *, run_id: str = "") -> None:
    """Record events; an event seen again (same run, device, kind, start) updates its end and parameters."""
    if not events:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO ground_truth (run_id, device_id, kind, start_time, end_time, params)"
            " VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (run_id, device_id, kind, start_time) DO UPDATE SET end_time = EXCLUDED.end_time,"
            " params = EXCLUDED.params",
            [(run_id, e.device_id, e.kind, e.start, e.end, Jsonb(e.params)) for e in events],
        )


def between(conn: Conn, *, start: datetime, end: datetime, device_id: str | None = None) -> list[TruthEvent]:
    """Events overlapping [start, end)."""
    rows = conn.execute(
        "SELECT device_id, kind, start_time, end_time, params FROM ground_truth"
        " WHERE start_time < %s AND end_time > %s AND (%s::text IS NULL OR device_id = %s) ORDER BY start_time",
        (end, start, device_id, device_id),
    ).fetchall()
    return [TruthEvent(r["device_id"], r["kind"], r["start_time"], r["end_time"], r["params"]) for r in rows]
