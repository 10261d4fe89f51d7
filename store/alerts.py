"""Alerts and their event log.

One open (not cleared) alert per (device, type), enforced by a partial unique index: a repeat raises the
occurrence count and updates the last value; after clearing, a new occurrence opens a new alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from store import notifications

Conn = psycopg.Connection[Any]
SEVERITIES = ("info", "warning", "major", "critical")
STATUSES = ("active", "acknowledged", "cleared")


@dataclass(frozen=True, slots=True)
class Alert:
    alert_id: int
    device_id: str
    site_id: str
    type: str
    severity: str
    status: str
    value: float | None
    threshold: float | None
    details: dict[str, Any]
    occurrences: int
    first_time: datetime
    last_time: datetime
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    cleared_at: datetime | None
    cleared_by: str | None
    assignee: str | None
    escalation_level: int
    escalated_at: datetime | None
    incident_id: int | None


@dataclass(frozen=True, slots=True)
class AlertEvent:
    event_id: int
    alert_id: int
    at: datetime
    kind: str
    actor: str
    comment: str | None
    data: dict[str, Any]


_COLS = (
    "alert_id, device_id, site_id, type, severity, status, value, threshold, details, occurrences, first_time,"
    " last_time, created_at, updated_at, acknowledged_at, acknowledged_by, cleared_at, cleared_by, assignee,"
    " escalation_level, escalated_at, incident_id"
)


class AlertStateError(ValueError):
    """The requested transition is not allowed from the alert's current status."""


def _event(
    conn: Conn,
    alert_id: int,
    kind: str,
    *,
    actor: str = "system",
    comment: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    row = conn.execute(
        "INSERT INTO alert_events (alert_id, kind, actor, comment, data) VALUES (%s, %s, %s, %s, %s)"
        " RETURNING event_id",
        (alert_id, kind, actor, comment, Jsonb(data or {})),
    ).fetchone()
    if row is not None and kind in notifications.NOTIFY_KINDS:  # the outbox row, in this same transaction
        notifications.enqueue(conn, event_id=int(row["event_id"]), alert_id=alert_id, kind=kind, data=data or {})


def raise_alert(
    conn: Conn,
    *,
    device_id: str,
    site_id: str,
    type: str,
    severity: str,
    value: float | None,
    threshold: float | None,
    at: datetime,
    details: dict[str, Any] | None = None,
) -> tuple[int, bool]:
    """Open an alert, or count a new occurrence on the open one. Returns (alert_id, created)."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}")
    row = conn.execute(
        "INSERT INTO alerts (device_id, site_id, type, severity, value, threshold, details, first_time, last_time)"
        " VALUES (%(d)s, %(s)s, %(t)s, %(sev)s, %(v)s, %(th)s, %(det)s, %(at)s, %(at)s)"
        " ON CONFLICT (device_id, type) WHERE status <> 'cleared' DO UPDATE SET"
        "   occurrences = alerts.occurrences + 1, value = EXCLUDED.value, threshold = EXCLUDED.threshold,"
        "   details = EXCLUDED.details, last_time = GREATEST(alerts.last_time, EXCLUDED.last_time),"
        "   updated_at = now()"
        " RETURNING alert_id, (xmax = 0) AS created",
        {
            "d": device_id,
            "s": site_id,
            "t": type,
            "sev": severity,
            "v": value,
            "th": threshold,
            "det": Jsonb(details or {}),
            "at": at,
        },
    ).fetchone()
    if row is None:  # pragma: no cover
        raise RuntimeError("upsert returned no row")
    alert_id, created = int(row["alert_id"]), bool(row["created"])
    _event(conn, alert_id, "raised" if created else "repeated", data={"value": value, "at": at.isoformat()})
    return alert_id, created


def update_open(conn: Conn, *, device_id: str, type: str, value: float, at: datetime) -> int | None:
    """While a condition persists: keep the open alert's last value and time current (no new occurrence)."""
    row = conn.execute(
        "UPDATE alerts SET value = %s, last_time = GREATEST(last_time, %s), updated_at = now()"
        " WHERE device_id = %s AND type = %s AND status <> 'cleared' RETURNING alert_id",
        (value, at, device_id, type),
    ).fetchone()
    return int(row["alert_id"]) if row else None


def get(conn: Conn, *, alert_id: int) -> Alert | None:
    with conn.cursor(row_factory=class_row(Alert)) as cur:
        return cur.execute(f"SELECT {_COLS} FROM alerts WHERE alert_id = %s", (alert_id,)).fetchone()  # noqa: S608


def events(conn: Conn, *, alert_id: int) -> list[AlertEvent]:
    with conn.cursor(row_factory=class_row(AlertEvent)) as cur:
        return cur.execute(
            "SELECT event_id, alert_id, at, kind, actor, comment, data FROM alert_events"
            " WHERE alert_id = %s ORDER BY event_id",
            (alert_id,),
        ).fetchall()


def list_alerts(
    conn: Conn,
    *,
    status: str | None = None,
    severity: str | None = None,
    type: str | None = None,
    device_id: str | None = None,
    site_id: str | None = None,
    sites: list[str] | None = None,
    incident_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[Alert]:
    """Newest first; ``before_id`` is the cursor (the last alert_id of the previous page).

    ``site_id`` is a filter the caller chose, ``sites`` the scope the caller may see (None = all).
    """
    # Only the filters given go into the statement: each combination gets its own plan, with its conditions
    # as index conditions. One statement with "(%s IS NULL OR col = %s)" for all of them would, once psycopg
    # prepares it, get a generic plan that filters a backward scan of the whole table (a deep cursor page or
    # "active only" then read ~100k rows instead of ~50).
    where: list[sql.Composable] = []
    params: dict[str, Any] = {"n": limit}
    for column, value in (
        ("status", status),
        ("severity", severity),
        ("type", type),
        ("device_id", device_id),
        ("site_id", site_id),
        ("incident_id", incident_id),
    ):
        if value is not None:
            where.append(sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(column)))
            params[column] = value
    for condition, name, bound in (
        ("site_id = ANY({})", "sites", sites),
        ("last_time >= {}", "since", since),
        ("first_time < {}", "until", until),
        ("alert_id < {}", "before", before_id),
    ):
        if bound is not None:
            where.append(sql.SQL(condition).format(sql.Placeholder(name)))
            params[name] = bound
    query = sql.SQL("SELECT {cols} FROM alerts{where} ORDER BY alert_id DESC LIMIT {n}").format(
        cols=sql.SQL(_COLS),
        where=sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL(""),
        n=sql.Placeholder("n"),
    )
    with conn.cursor(row_factory=class_row(Alert)) as cur:
        return cur.execute(query, params).fetchall()


def acknowledge(conn: Conn, *, alert_id: int, user: str, comment: str | None = None) -> Alert | None:
    """Active -> acknowledged. None if there is no such alert; ``AlertStateError`` if not active."""
    current = get(conn, alert_id=alert_id)
    if current is None:
        return None
    if current.status != "active":
        raise AlertStateError(f"alert {alert_id} is {current.status}, only an active alert can be acknowledged")
    conn.execute(
        "UPDATE alerts SET status = 'acknowledged', acknowledged_at = now(), acknowledged_by = %s, updated_at = now()"
        " WHERE alert_id = %s",
        (user, alert_id),
    )
    _event(conn, alert_id, "acknowledged", actor=user, comment=comment)
    return get(conn, alert_id=alert_id)


def clear(conn: Conn, *, alert_id: int, user: str, comment: str | None = None) -> Alert | None:
    """Active or acknowledged -> cleared."""
    current = get(conn, alert_id=alert_id)
    if current is None:
        return None
    if current.status == "cleared":
        raise AlertStateError(f"alert {alert_id} is already cleared")
    conn.execute(
        "UPDATE alerts SET status = 'cleared', cleared_at = now(), cleared_by = %s, updated_at = now()"
        " WHERE alert_id = %s",
        (user, alert_id),
    )
    _event(conn, alert_id, "cleared", actor=user, comment=comment)
    return get(conn, alert_id=alert_id)


def comment(conn: Conn, *, alert_id: int, user: str, text: str) -> Alert | None:
    current = get(conn, alert_id=alert_id)
    if current is None:
        return None
    conn.execute("UPDATE alerts SET updated_at = now() WHERE alert_id = %s", (alert_id,))
    _event(conn, alert_id, "comment", actor=user, comment=text)
    return get(conn, alert_id=alert_id)


def assign(conn: Conn, *, alert_id: int, user: str, assignee: str | None) -> Alert | None:
    current = get(conn, alert_id=alert_id)
    if current is None:
        return None
    conn.execute("UPDATE alerts SET assignee = %s, updated_at = now() WHERE alert_id = %s", (assignee, alert_id))
    _event(conn, alert_id, "assigned", actor=user, data={"assignee": assignee})
    return get(conn, alert_id=alert_id)


def escalate_due(conn: Conn, *, now: datetime, after_s: list[float]) -> list[Alert]:
    """Escalate active (unacknowledged) alerts whose age passed the next step of the schedule.

    ``after_s[k]`` is the age in seconds (since the alert was opened) at which level ``k`` becomes ``k + 1``;
    each step raises the severity by one (up to critical) and writes an ``escalated`` event, the
    re-notification the live feed carries. One step per alert per call, so a long-forgotten alert climbs
    the schedule one run at a time and every step is notified.
    """
    if not after_s:
        return []
    with conn.cursor(row_factory=class_row(Alert)) as cur:
        due = cur.execute(
            f"SELECT {_COLS} FROM alerts WHERE status = 'active' AND escalation_level < %(n)s"  # noqa: S608
            " AND created_at + make_interval(secs => (%(steps)s::float8[])[escalation_level + 1]) <= %(now)s"
            " ORDER BY alert_id FOR UPDATE SKIP LOCKED",
            {"n": len(after_s), "steps": after_s, "now": now},
        ).fetchall()
    out: list[Alert] = []
    for alert in due:
        level = alert.escalation_level + 1
        severity = SEVERITIES[min(SEVERITIES.index(alert.severity) + 1, len(SEVERITIES) - 1)]
        conn.execute(
            "UPDATE alerts SET escalation_level = %s, severity = %s, escalated_at = %s, updated_at = now()"
            " WHERE alert_id = %s",
            (level, severity, now, alert.alert_id),
        )
        _event(
            conn,
            alert.alert_id,
            "escalated",
            data={
                "level": level,
                "from_severity": alert.severity,
                "to_severity": severity,
                "age_s": (now - alert.created_at).total_seconds(),
                "notify": True,
            },
        )
        updated = get(conn, alert_id=alert.alert_id)
        if updated is not None:
            out.append(updated)
    return out
