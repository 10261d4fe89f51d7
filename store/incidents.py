"""Incidents: alerts of neighbouring dust sensors grouped into one episode, with the wind and likely source."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from store import alert_stream

Conn = psycopg.Connection[Any]


@dataclass(frozen=True, slots=True)
class Incident:
    incident_id: int
    site_id: str
    status: str
    first_time: datetime
    last_time: datetime
    alert_count: int
    device_ids: list[str]
    wind_dir: float | None
    wind_speed: float | None
    likely_source: str | None
    source_bearing: float | None
    details: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Member:
    """An alert of a fixed dust sensor with the sensor's position: what grouping works on."""

    alert_id: int
    incident_id: int | None
    device_id: str
    site_id: str
    first_time: datetime
    last_time: datetime
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class Wind:
    """Vector-mean wind: direction it blows FROM (degrees), mean speed (m/s), samples used."""

    dir_from: float
    speed: float
    samples: int


_COLS = (
    "incident_id, site_id, status, first_time, last_time, alert_count, device_ids, wind_dir, wind_speed,"
    " likely_source, source_bearing, details, created_at, updated_at, closed_at"
)
_MEMBER_SQL = (
    "SELECT a.alert_id, a.incident_id, a.device_id, a.site_id, a.first_time, a.last_time, d.lat, d.lon"
    " FROM alerts a JOIN devices d USING (device_id)"
    " WHERE d.kind = 'dust' AND NOT d.mobile AND d.lat IS NOT NULL AND d.lon IS NOT NULL"
)


def unassigned(conn: Conn, *, since: datetime) -> list[Member]:
    """Alerts of fixed dust sensors not in any incident, first seen at or after ``since``, oldest first."""
    with conn.cursor(row_factory=class_row(Member)) as cur:
        return cur.execute(
            _MEMBER_SQL + " AND a.incident_id IS NULL AND a.first_time >= %s ORDER BY a.first_time, a.alert_id",
            (since,),
        ).fetchall()


def open_members(conn: Conn) -> list[Member]:
    """Alerts belonging to open incidents."""
    with conn.cursor(row_factory=class_row(Member)) as cur:
        return cur.execute(
            _MEMBER_SQL + " AND a.incident_id IN (SELECT incident_id FROM incidents WHERE status = 'open')"  # noqa: S608
            " ORDER BY a.incident_id, a.alert_id"
        ).fetchall()


def create(conn: Conn, *, site_id: str, alert_ids: list[int]) -> int:
    """Open an incident over ``alert_ids`` (inside the caller's transaction); returns its id."""
    row = conn.execute(
        "INSERT INTO incidents (site_id, first_time, last_time)"
        " SELECT %s, min(first_time), max(last_time) FROM alerts WHERE alert_id = ANY(%s) RETURNING incident_id",
        (site_id, alert_ids),
    ).fetchone()
    if row is None:  # pragma: no cover
        raise RuntimeError("insert returned no row")
    incident_id = int(row["incident_id"])
    _attach(conn, incident_id, alert_ids)
    alert_stream.append(
        conn, topic="incident", ref_id=incident_id, site_id=site_id, kind="opened", data={"alert_ids": alert_ids}
    )
    return incident_id


def attach(conn: Conn, *, incident_id: int, site_id: str, alert_ids: list[int]) -> None:
    """Add alerts to an open incident."""
    _attach(conn, incident_id, alert_ids)
    alert_stream.append(
        conn, topic="incident", ref_id=incident_id, site_id=site_id, kind="grew", data={"alert_ids": alert_ids}
    )


def _attach(conn: Conn, incident_id: int, alert_ids: list[int]) -> None:
    conn.execute(
        "UPDATE alerts SET incident_id = %s WHERE alert_id = ANY(%s) AND incident_id IS NULL", (incident_id, alert_ids)
    )
    refresh(conn, incident_ids=[incident_id])


def refresh(conn: Conn, *, incident_ids: list[int] | None = None) -> int:
    """Recompute times, counts and sensors of incidents (all open ones when ``incident_ids`` is None)."""
    cur = conn.execute(
        "UPDATE incidents i SET first_time = m.ft, last_time = m.lt, alert_count = m.n, device_ids = m.ds,"
        " updated_at = now()"
        " FROM (SELECT incident_id, min(first_time) AS ft, max(last_time) AS lt, count(*) AS n,"
        "       array_agg(DISTINCT device_id ORDER BY device_id) AS ds FROM alerts"
        "       WHERE incident_id = ANY(coalesce(%(ids)s::bigint[],"
        "             (SELECT array_agg(incident_id) FROM incidents WHERE status = 'open')))"
        "       GROUP BY incident_id) m"
        " WHERE i.incident_id = m.incident_id"
        " AND (i.first_time, i.last_time, i.alert_count, i.device_ids) IS DISTINCT FROM (m.ft, m.lt, m.n, m.ds)",
        {"ids": incident_ids},
    )
    return cur.rowcount


def set_context(
    conn: Conn,
    *,
    incident_id: int,
    wind: Wind | None,
    likely_source: str | None,
    source_bearing: float | None,
    details: dict[str, Any],
) -> None:
    """Store the wind during the incident and its most likely source."""
    conn.execute(
        "UPDATE incidents SET wind_dir = %s, wind_speed = %s, likely_source = %s, source_bearing = %s, details = %s,"
        " updated_at = now() WHERE incident_id = %s",
        (
            wind.dir_from if wind else None,
            wind.speed if wind else None,
            likely_source,
            source_bearing,
            Jsonb(details),
            incident_id,
        ),
    )


def close_quiet(conn: Conn, *, quiet_since: datetime) -> list[int]:
    """Close open incidents none of whose alerts was seen after ``quiet_since``; returns their ids."""
    rows = conn.execute(
        "UPDATE incidents SET status = 'closed', closed_at = now(), updated_at = now()"
        " WHERE status = 'open' AND last_time < %s RETURNING incident_id, site_id",
        (quiet_since,),
    ).fetchall()
    for r in rows:
        alert_stream.append(
            conn, topic="incident", ref_id=int(r["incident_id"]), site_id=r["site_id"], kind="closed", data={}
        )
    return [int(r["incident_id"]) for r in rows]


def mean_wind(conn: Conn, *, site_id: str, start: datetime, end: datetime) -> Wind | None:
    """Vector-mean wind of the site's met stations over [start, end] (all met stations if the site has none)."""
    row = conn.execute(
        "WITH st AS (SELECT device_id FROM devices WHERE kind = 'met' AND site_id = %(site)s),"
        " pick AS (SELECT device_id FROM st UNION ALL"
        "          SELECT device_id FROM devices WHERE kind = 'met' AND NOT EXISTS (SELECT 1 FROM st))"
        " SELECT count(*) AS n, avg(wind_speed * sin(radians(wind_dir))) AS u,"
        "        avg(wind_speed * cos(radians(wind_dir))) AS v, avg(wind_speed) AS s"
        " FROM met_readings WHERE device_id IN (SELECT device_id FROM pick)"
        " AND time >= %(s)s AND time <= %(e)s AND wind_dir IS NOT NULL AND wind_speed IS NOT NULL",
        {"site": site_id, "s": start, "e": end},
    ).fetchone()
    if row is None or not row["n"]:
        return None
    u, v = float(row["u"]), float(row["v"])
    return Wind(dir_from=math.degrees(math.atan2(u, v)) % 360.0, speed=float(row["s"]), samples=int(row["n"]))


def get(conn: Conn, *, incident_id: int) -> Incident | None:
    with conn.cursor(row_factory=class_row(Incident)) as cur:
        return cur.execute(
            f"SELECT {_COLS} FROM incidents WHERE incident_id = %s",  # noqa: S608
            (incident_id,),
        ).fetchone()


def list_incidents(
    conn: Conn,
    *,
    status: str | None = None,
    sites: list[str] | None = None,
    since: datetime | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[Incident]:
    """Newest first; ``before_id`` is the cursor."""
    with conn.cursor(row_factory=class_row(Incident)) as cur:
        return cur.execute(
            f"SELECT {_COLS} FROM incidents WHERE (%(st)s::text IS NULL OR status = %(st)s)"  # noqa: S608
            " AND (%(sites)s::text[] IS NULL OR site_id = ANY(%(sites)s))"
            " AND (%(since)s::timestamptz IS NULL OR last_time >= %(since)s)"
            " AND (%(before)s::bigint IS NULL OR incident_id < %(before)s)"
            " ORDER BY incident_id DESC LIMIT %(n)s",
            {"st": status, "sites": sites, "since": since, "before": before_id, "n": limit},
        ).fetchall()


def lock(conn: Conn) -> None:
    """Serialise grouping runs (several scorers may run housekeeping) until the transaction ends."""
    conn.execute("SELECT pg_advisory_xact_lock(7031990432)")
