"""Read-only figures about the running platform, gathered when Prometheus scrapes (cheap, indexed queries)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

Conn = psycopg.Connection[Any]


@dataclass(frozen=True, slots=True)
class AlertCount:
    severity: str
    status: str
    n: int


@dataclass(frozen=True, slots=True)
class DeviceAge:
    """Seconds since a device's last stored reading arrived (ingest lag seen from the database)."""

    device_id: str
    kind: str
    site_id: str
    age_s: float


@dataclass(frozen=True, slots=True)
class LatestDust:
    """The newest reading of a dust device with where it was (a mobile sensor's own position)."""

    device_id: str
    site_id: str
    lat: float | None
    lon: float | None
    pm10: float | None
    pm25: float | None
    time: datetime


@dataclass(frozen=True, slots=True)
class RollupStatus:
    source: str
    lag_s: float | None
    pending: int


def open_alerts(conn: Conn) -> list[AlertCount]:
    """Alerts not cleared, by severity and status."""
    with conn.cursor(row_factory=class_row(AlertCount)) as cur:
        return cur.execute(
            "SELECT severity, status, count(*)::int AS n FROM alerts WHERE status <> 'cleared'"
            " GROUP BY severity, status ORDER BY 1, 2"
        ).fetchall()


def quarantined_since(conn: Conn, *, seconds: float) -> dict[str, int]:
    """Messages quarantined in the last ``seconds``, by reason."""
    with conn.cursor() as cur:
        rows = cur.execute(
            "SELECT reason, count(*)::int FROM quarantine WHERE received_at > now() - make_interval(secs => %s)"
            " GROUP BY reason",
            (seconds,),
        ).fetchall()
    return {str(_at(r, "reason", 0)): int(_at(r, "count", 1)) for r in rows}


def device_ages(conn: Conn) -> list[DeviceAge]:
    """Active devices that have sent data, with the age of their last arrival."""
    with conn.cursor(row_factory=class_row(DeviceAge)) as cur:
        return cur.execute(
            "SELECT device_id, kind, site_id, extract(epoch FROM now() - last_received)::float8 AS age_s"
            " FROM devices WHERE status = 'active' AND last_received IS NOT NULL ORDER BY device_id"
        ).fetchall()


def latest_dust(conn: Conn, *, max_age_s: float = 3600.0) -> list[LatestDust]:
    """Newest reading of each active dust device within ``max_age_s`` (the PM map)."""
    with conn.cursor(row_factory=class_row(LatestDust)) as cur:
        return cur.execute(
            "SELECT d.device_id, d.site_id, coalesce(r.lat, d.lat) AS lat, coalesce(r.lon, d.lon) AS lon,"
            " r.pm10, r.pm25, r.time FROM devices d CROSS JOIN LATERAL ("
            "   SELECT time, pm10, pm25, lat, lon FROM dust_readings x WHERE x.device_id = d.device_id"
            "   AND x.time > now() - make_interval(secs => %s) ORDER BY time DESC LIMIT 1) r"
            " WHERE d.kind = 'dust' AND d.status = 'active' ORDER BY d.device_id",
            (max_age_s,),
        ).fetchall()


def rollup_status(conn: Conn) -> list[RollupStatus]:
    """How far behind the rollups are (seconds since the last pass) and how many buckets wait."""
    with conn.cursor(row_factory=class_row(RollupStatus)) as cur:
        return cur.execute(
            "SELECT s.source, extract(epoch FROM now() - s.received_through)::float8 AS lag_s,"
            " (SELECT count(*)::int FROM rollup_dirty d WHERE d.source = s.source) AS pending"
            " FROM rollup_state s ORDER BY s.source"
        ).fetchall()


def _at(row: Any, name: str, index: int) -> Any:
    return row[name] if isinstance(row, dict) else row[index]
