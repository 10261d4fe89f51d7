"""Daily means of fixed dust stations with the data-capture rule, and exceedance days per calendar year.

Daily means are built the way the EU ambient air directives aggregate: an hourly mean is valid when at
least ``hour_capture`` (75 %) of the samples the device should have sent in that hour are there, and a daily
mean is the mean of the valid hourly means of a day with at least ``min_hours`` (18 of 24) valid hours.
Hours come from the 1-hour rollup, so the answer reflects what the maintenance loop has rolled up and keeps
working after raw readings have aged out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from store.rollups import HOUR, ROLLUP_METRICS, rollup_table

Conn = psycopg.Connection[Any]


@dataclass(frozen=True, slots=True)
class DailyMean:
    device_id: str
    day: date
    mean: float
    valid_hours: int


@dataclass(frozen=True, slots=True)
class StationYear:
    """Exceedance accounting of one station for one metric, limit and calendar year."""

    device_id: str
    site_id: str
    valid_days: int
    exceedance_days: int
    max_daily_mean: float | None


def _daily_cte(metric: str) -> sql.Composed:
    if metric not in ROLLUP_METRICS["dust_readings"]:
        raise ValueError(f"{metric!r} is not a rolled-up dust metric")
    return sql.SQL(
        "hours AS ("
        " SELECT r.device_id, r.bucket, r.{s} / r.{n} AS mean FROM {rollup} r JOIN devices d USING (device_id)"
        " WHERE d.kind = 'dust' AND NOT d.mobile"
        "   AND r.bucket >= make_timestamp(%(y)s, 1, 1, 0, 0, 0) AT TIME ZONE %(tz)s"
        "   AND r.bucket < make_timestamp(%(y)s + 1, 1, 1, 0, 0, 0) AT TIME ZONE %(tz)s"
        "   AND r.{n} > 0 AND r.{n} >= %(cap)s * 3600.0 / d.expected_interval_s),"
        " days AS ("
        " SELECT device_id, (bucket AT TIME ZONE %(tz)s)::date AS day, avg(mean)::float8 AS mean,"
        "   count(*)::int AS valid_hours FROM hours GROUP BY 1, 2 HAVING count(*) >= %(hours)s)"
    ).format(
        s=sql.Identifier(f"{metric}_sum"),
        n=sql.Identifier(f"{metric}_n"),
        rollup=sql.Identifier(rollup_table("dust_readings", HOUR)),
    )


def _params(year: int, tz: str, hour_capture: float, min_hours: int) -> dict[str, Any]:
    if not 0.0 < hour_capture <= 1.0:
        raise ValueError("hour_capture must be within (0, 1]")
    if not 1 <= min_hours <= 24:
        raise ValueError("min_hours must be within [1, 24]")
    return {"y": year, "tz": tz, "cap": hour_capture, "hours": min_hours}


def daily_means(
    conn: Conn, *, year: int, metric: str, tz: str = "UTC", hour_capture: float = 0.75, min_hours: int = 18
) -> list[DailyMean]:
    """Valid daily means of every fixed dust station in calendar ``year`` (days in time zone ``tz``)."""
    query = sql.SQL("WITH {cte} SELECT device_id, day, mean, valid_hours FROM days ORDER BY device_id, day").format(
        cte=_daily_cte(metric)
    )
    with conn.cursor(row_factory=class_row(DailyMean)) as cur:
        return cur.execute(query, _params(year, tz, hour_capture, min_hours)).fetchall()


def station_years(
    conn: Conn,
    *,
    year: int,
    metric: str,
    limit: float,
    tz: str = "UTC",
    hour_capture: float = 0.75,
    min_hours: int = 18,
) -> list[StationYear]:
    """Valid days and days with a daily mean above ``limit`` for every fixed dust station (none: zero)."""
    query = sql.SQL(
        "WITH {cte} SELECT d.device_id, d.site_id, count(x.day)::int AS valid_days,"
        " (count(*) FILTER (WHERE x.mean > %(limit)s))::int AS exceedance_days, max(x.mean) AS max_daily_mean"
        " FROM devices d LEFT JOIN days x USING (device_id) WHERE d.kind = 'dust' AND NOT d.mobile"
        " GROUP BY d.device_id, d.site_id ORDER BY d.site_id, d.device_id"
    ).format(cte=_daily_cte(metric))
    params = {**_params(year, tz, hour_capture, min_hours), "limit": limit}
    with conn.cursor(row_factory=class_row(StationYear)) as cur:
        return cur.execute(query, params).fetchall()
