"""Alerts and their lifecycle."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Response, status

from api.deps import ConnDep, Operator, Reader, site_scope
from api.fastjson import check_same_fields, json_response
from api.inputs import MAX_ID, Instant
from api.schemas import (
    AlertAction,
    AlertAssign,
    AlertComment,
    AlertDetailPublic,
    AlertEventPublic,
    AlertPublic,
    AlertsPublic,
)
from store import alerts as store_alerts
from store.alerts import Alert, AlertStateError
from store.apikeys import ApiKey

router = APIRouter(prefix="/alerts", tags=["alerts"])

Status = Literal["active", "acknowledged", "cleared"]
Severity = Literal["info", "warning", "major", "critical"]

check_same_fields(Alert, AlertPublic)  # the list writes the store's rows as they are


def _get_visible(conn: ConnDep, key: ApiKey, alert_id: int) -> Alert:
    alert = store_alerts.get(conn, alert_id=alert_id)
    scope = site_scope(key)
    if alert is None or (scope is not None and alert.site_id not in scope):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert {alert_id}")
    return alert


def _actor(key: ApiKey) -> str:
    return f"{key.name}#{key.key_id}"


@router.get("", response_model=AlertsPublic)
def list_alerts(
    conn: ConnDep,
    key: Reader,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    severity: Severity | None = None,
    type: str | None = None,
    device_id: str | None = None,
    site_id: str | None = None,
    incident_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    since: Instant | None = None,
    until: Instant | None = None,
    cursor: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    """Alerts, newest first, filtered by status, severity, type, device, site, incident and time; page with `cursor`.

    `since`/`until` select alerts active at some time in [since, until).
    """
    rows = store_alerts.list_alerts(
        conn,
        status=status_,
        severity=severity,
        type=type,
        device_id=device_id,
        site_id=site_id,
        sites=site_scope(key),
        incident_id=incident_id,
        since=since,
        until=until,
        before_id=cursor,
        limit=limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = rows[-1].alert_id if more and rows else None
    return json_response(
        {"data": rows, "next_cursor": next_cursor},
        lambda: AlertsPublic(data=[AlertPublic.model_validate(a) for a in rows], next_cursor=next_cursor),
    )


@router.get("/{alert_id}", response_model=AlertDetailPublic)
def get_alert(alert_id: int, conn: ConnDep, key: Reader) -> AlertDetailPublic:
    """One alert with its full event log."""
    alert = _get_visible(conn, key, alert_id)
    events = [AlertEventPublic.model_validate(e) for e in store_alerts.events(conn, alert_id=alert_id)]
    return AlertDetailPublic(**asdict(alert), events=events)


def _transition(result: Alert | None, alert_id: int) -> AlertPublic:
    if result is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert {alert_id}")
    return AlertPublic(**asdict(result))


@router.post("/{alert_id}/ack", response_model=AlertPublic)
def acknowledge(alert_id: int, conn: ConnDep, key: Operator, body: AlertAction | None = None) -> AlertPublic:
    """Acknowledge an active alert, optionally with a comment."""
    _get_visible(conn, key, alert_id)
    try:
        result = store_alerts.acknowledge(
            conn, alert_id=alert_id, user=_actor(key), comment=body.comment if body else None
        )
    except AlertStateError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return _transition(result, alert_id)


@router.post("/{alert_id}/clear", response_model=AlertPublic)
def clear(alert_id: int, conn: ConnDep, key: Operator, body: AlertAction | None = None) -> AlertPublic:
    """Clear an alert; a new occurrence afterwards opens a new alert."""
    _get_visible(conn, key, alert_id)
    try:
        result = store_alerts.clear(conn, alert_id=alert_id, user=_actor(key), comment=body.comment if body else None)
    except AlertStateError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return _transition(result, alert_id)


@router.post("/{alert_id}/comments", response_model=AlertPublic)
def add_comment(alert_id: int, body: AlertComment, conn: ConnDep, key: Operator) -> AlertPublic:
    """Add a comment to the alert's event log."""
    _get_visible(conn, key, alert_id)
    return _transition(store_alerts.comment(conn, alert_id=alert_id, user=_actor(key), text=body.text), alert_id)


@router.post("/{alert_id}/assign", response_model=AlertPublic)
def assign(alert_id: int, body: AlertAssign, conn: ConnDep, key: Operator) -> AlertPublic:
    """Assign the alert to someone (null to unassign)."""
    _get_visible(conn, key, alert_id)
    return _transition(store_alerts.assign(conn, alert_id=alert_id, user=_actor(key), assignee=body.assignee), alert_id)
