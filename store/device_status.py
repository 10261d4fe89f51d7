"""What a device's last readings say about it: battery, signal, position, rate, latest PM values."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

Conn = psycopg.Connection[Any]


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    device_id: str
    last_time: datetime | None
    readings_10min: int
    battery: float | None
    rssi: float | None
    lat: float | None
    lon: float | None
    pm10: float | None
    pm25: float | None


@dataclass(frozen=True, slots=True)
class TrackPoint:
    time: datetime
    lat: float
    lon: float
    pm10: float | None


def latest(conn: Conn, *, device_ids: list[str], now: datetime) -> dict[str, DeviceStatus]:
    """Latest dust reading and the count of readings in the ten minutes before ``now``, per device.

    Each device costs two index probes on (device_id, time DESC), so the list stays fast on large tables.
    """
    with conn.cursor(row_factory=class_row(DeviceStatus)) as cur:
        rows = cur.execute(
            "SELECT d.device_id, r.time AS last_time, coalesce(c.n, 0) AS readings_10min, r.battery, r.rssi,"
            " r.lat, r.lon, r.pm10, r.pm25"
            " FROM unnest(%(ids)s::text[]) AS d(device_id)"
            " LEFT JOIN LATERAL (SELECT time, battery, rssi, lat, lon, pm10, pm25 FROM dust_readings x"
            "   WHERE x.device_id = d.device_id AND x.time <= %(now)s ORDER BY time DESC LIMIT 1) r ON true"
            " LEFT JOIN LATERAL (SELECT count(*) AS n FROM dust_readings y WHERE y.device_id = d.device_id"
            "   AND y.time > %(now)s - interval '10 minutes' AND y.time <= %(now)s) c ON true",
            {"ids": device_ids, "now": now},
        ).fetchall()
    return {r.device_id: r for r in rows}


def track(conn: Conn, *, device_id: str, start: datetime, end: datetime, bucket_s: int) -> list[TrackPoint]:
    """Positions of a mobile sensor over [start, end), one averaged point per ``bucket_s``, oldest first."""
    with conn.cursor(row_factory=class_row(TrackPoint)) as cur:
        return cur.execute(
            "SELECT time_bucket(make_interval(secs => %(b)s), time) AS time, avg(lat)::float8 AS lat,"
            " avg(lon)::float8 AS lon, avg(pm10)::float8 AS pm10 FROM dust_readings"
            " WHERE device_id = %(d)s AND time >= %(s)s AND time < %(e)s AND lat IS NOT NULL AND lon IS NOT NULL"
            " GROUP BY 1 ORDER BY 1",
            {"b": bucket_s, "d": device_id, "s": start, "e": end},
        ).fetchall()


def latest_wind(conn: Conn, *, site_id: str | None, since: datetime) -> tuple[float, float, int] | None:
    """Vector-mean (direction from, speed, samples) of met stations since ``since`` (of one site when given)."""
    row = conn.execute(
        "SELECT count(*) AS n, avg(wind_speed * sin(radians(wind_dir))) AS u,"
        " avg(wind_speed * cos(radians(wind_dir))) AS v, avg(wind_speed) AS s FROM met_readings"
        " WHERE time >= %(since)s AND wind_dir IS NOT NULL AND wind_speed IS NOT NULL AND device_id IN"
        " (SELECT device_id FROM devices WHERE kind = 'met' AND (%(site)s::text IS NULL OR site_id = %(site)s))",
        {"since": since, "site": site_id},
    ).fetchone()
    if row is None or not row["n"]:
        return None
    return math.degrees(math.atan2(float(row["u"]), float(row["v"]))) % 360.0, float(row["s"]), int(row["n"])
