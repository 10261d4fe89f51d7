"""Synthetic history generated inside the database, for benchmarks at production scale (millions of rows).

Values come from deterministic functions of the row number, so a benchmark database is the same every time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

Conn = psycopg.Connection[Any]


def fill_dust(conn: Conn, *, devices: list[str], start: datetime, step_s: int, per_device: int) -> int:
    """``per_device`` PM readings every ``step_s`` seconds from ``start`` for each device; returns rows added."""
    total = 0
    for device_id in devices:
        cur = conn.execute(
            "INSERT INTO dust_readings (device_id, time, pm1, pm25, pm10, temperature, rh, battery, rssi)"
            " SELECT %(d)s, %(s)s + make_interval(secs => i * %(step)s),"
            "  5 + 3 * sin(i / 50.0), 10 + 6 * sin(i / 70.0), 25 + 20 * sin(i / 90.0) + (i %% 17),"
            "  10 + 5 * sin(i / 8640.0), 60 + 20 * cos(i / 8640.0), 3.9 - (i %% 1000) / 5000.0, -70 - (i %% 20)"
            " FROM generate_series(0, %(n)s - 1) AS i ON CONFLICT DO NOTHING",
            {"d": device_id, "s": start, "step": step_s, "n": per_device},
        )
        total += max(cur.rowcount, 0)
    return total


def fill_alerts(conn: Conn, *, n: int, devices: list[str], start: datetime, step_s: int) -> int:
    """``n`` alerts spread over ``devices`` and types, one every ``step_s`` seconds; all but the newest cleared.

    Written straight into the tables (with one ``raised`` event each), as years of history would be.
    """
    cur = conn.execute(
        "WITH a AS (INSERT INTO alerts (device_id, site_id, type, severity, status, value, threshold,"
        "  occurrences, first_time, last_time, created_at, updated_at, cleared_at, cleared_by)"
        " SELECT (%(devs)s::text[])[1 + i %% cardinality(%(devs)s::text[])], 'park',"
        "  (ARRAY['pm10_limit', 'pm25_limit', 'spike', 'stuck', 'drift'])[1 + i %% 5],"
        "  (ARRAY['info', 'warning', 'major', 'critical'])[1 + i %% 4],"
        "  CASE WHEN i >= %(n)s - cardinality(%(devs)s::text[]) THEN 'active' ELSE 'cleared' END,"
        "  50 + i %% 40, 50, 1 + i %% 5, t, t + interval '10 minutes', t, t,"
        "  CASE WHEN i >= %(n)s - cardinality(%(devs)s::text[]) THEN NULL ELSE t + interval '1 hour' END,"
        "  CASE WHEN i >= %(n)s - cardinality(%(devs)s::text[]) THEN NULL ELSE 'history' END"
        " FROM generate_series(0, %(n)s - 1) AS i, LATERAL (SELECT %(s)s + make_interval(secs => i * %(step)s) AS t) x"
        " RETURNING alert_id, created_at)"
        " INSERT INTO alert_events (alert_id, at, kind) SELECT alert_id, created_at, 'raised' FROM a",
        {"devs": devices, "n": n, "s": start, "step": step_s},
    )
    return max(cur.rowcount, 0)
