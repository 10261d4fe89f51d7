"""Tracks of mobile sensors (each point tagged with its zone) and co-location checks against fixed stations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import psycopg
from numpy.typing import NDArray
from psycopg.rows import class_row, tuple_row

Conn = psycopg.Connection[Any]


@dataclass(frozen=True, slots=True)
class TrackPoint:
    device_id: str
    time: datetime
    site_id: str
    lat: float
    lon: float
    zone_id: str | None
    pm10: float | None


@dataclass(frozen=True, slots=True)
class Station:
    """A fixed dust sensor with a known position."""

    device_id: str
    site_id: str
    lat: float
    lon: float
    expected_interval_s: float


@dataclass(frozen=True, slots=True)
class ColocationCheck:
    mobile_id: str
    fixed_id: str
    start_time: datetime
    end_time: datetime
    samples: int
    distance_m: float
    mobile_mean: float
    fixed_mean: float
    difference: float
    agree: bool


_TRACK_COLS = "device_id, time, site_id, lat, lon, zone_id, pm10"


def watermark(conn: Conn, *, name: str) -> datetime | None:
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute("SELECT at FROM field_watermarks WHERE name = %s", (name,)).fetchone()
    return row[0] if row else None


def set_watermark(conn: Conn, *, name: str, at: datetime) -> None:
    conn.execute(
        "INSERT INTO field_watermarks (name, at) VALUES (%s, %s)"
        " ON CONFLICT (name) DO UPDATE SET at = GREATEST(field_watermarks.at, EXCLUDED.at), updated_at = now()",
        (name, at),
    )


def tag_new_points(
    conn: Conn, *, received_after: datetime, received_until: datetime, horizon: timedelta
) -> list[TrackPoint]:
    """Copy mobile readings received in (after, until] into the track, tagged with their zone.

    Returns only points not already in the track, so overlapping calls are harmless. ``horizon`` bounds how far
    back in device time a reading may lie (it keeps the scan to recent chunks).
    """
    with conn.cursor(row_factory=class_row(TrackPoint)) as cur:
        return cur.execute(
            f"INSERT INTO track_points ({_TRACK_COLS})"  # noqa: S608
            " SELECT r.device_id, r.time, d.site_id, r.lat, r.lon,"
            "   (SELECT z.zone_id FROM zones z WHERE z.site_id = d.site_id AND z.area @> point(r.lon, r.lat)"
            "    ORDER BY z.zone_id LIMIT 1), r.pm10"
            " FROM dust_readings r JOIN devices d ON d.device_id = r.device_id"
            " WHERE d.mobile AND r.lat IS NOT NULL AND r.lon IS NOT NULL"
            "   AND r.received_at > %(after)s AND r.received_at <= %(until)s AND r.time > %(until)s - %(horizon)s"
            " ORDER BY r.device_id, r.time"
            f" ON CONFLICT (device_id, time) DO NOTHING RETURNING {_TRACK_COLS}",
            {"after": received_after, "until": received_until, "horizon": horizon},
        ).fetchall()


def track(conn: Conn, *, device_id: str, start: datetime, end: datetime, limit: int = 10_000) -> list[TrackPoint]:
    """Track points of a device with start <= time < end, oldest first."""
    with conn.cursor(row_factory=class_row(TrackPoint)) as cur:
        return cur.execute(
            f"SELECT {_TRACK_COLS} FROM track_points"  # noqa: S608
            " WHERE device_id = %s AND time >= %s AND time < %s ORDER BY time LIMIT %s",
            (device_id, start, end, limit),
        ).fetchall()


def stations(conn: Conn, *, site_id: str) -> list[Station]:
    """Active fixed dust sensors of a site that have a position."""
    with conn.cursor(row_factory=class_row(Station)) as cur:
        return cur.execute(
            "SELECT device_id, site_id, lat, lon, expected_interval_s FROM devices"
            " WHERE site_id = %s AND kind = 'dust' AND NOT mobile AND status = 'active'"
            " AND lat IS NOT NULL AND lon IS NOT NULL ORDER BY device_id",
            (site_id,),
        ).fetchall()


def pm10_series(
    conn: Conn, *, device_id: str, start: datetime, end: datetime
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(epoch seconds, PM10) of a device's readings with start <= time <= end and a PM10 value."""
    with conn.cursor(row_factory=tuple_row) as cur:
        rows = cur.execute(
            "SELECT extract(epoch FROM time)::float8, pm10 FROM dust_readings"
            " WHERE device_id = %s AND time >= %s AND time <= %s AND pm10 IS NOT NULL ORDER BY time",
            (device_id, start, end),
        ).fetchall()
    data = np.array(rows, dtype=np.float64).reshape(-1, 2)
    return data[:, 0], data[:, 1]


def record_check(conn: Conn, check: ColocationCheck) -> bool:
    """Store a check; False when the same pass was checked before."""
    cur = conn.execute(
        "INSERT INTO colocation_checks (mobile_id, fixed_id, start_time, end_time, samples, distance_m,"
        " mobile_mean, fixed_mean, difference, agree) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (mobile_id, fixed_id, start_time) DO NOTHING",
        (
            check.mobile_id,
            check.fixed_id,
            check.start_time,
            check.end_time,
            check.samples,
            check.distance_m,
            check.mobile_mean,
            check.fixed_mean,
            check.difference,
            check.agree,
        ),
    )
    return cur.rowcount == 1


def checks(conn: Conn, *, device_id: str, since: datetime | None = None, limit: int = 500) -> list[ColocationCheck]:
    """Co-location checks a device took part in (as the mobile or the fixed unit), newest first."""
    with conn.cursor(row_factory=class_row(ColocationCheck)) as cur:
        return cur.execute(
            "SELECT mobile_id, fixed_id, start_time, end_time, samples, distance_m, mobile_mean, fixed_mean,"
            " difference, agree FROM colocation_checks WHERE (mobile_id = %(d)s OR fixed_id = %(d)s)"
            " AND (%(since)s::timestamptz IS NULL OR start_time >= %(since)s)"
            " ORDER BY start_time DESC LIMIT %(n)s",
            {"d": device_id, "since": since, "n": limit},
        ).fetchall()
