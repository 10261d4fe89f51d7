"""Incidents: alerts of neighbouring sensors grouped into one episode, with wind and likely source."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status

from api.deps import ConnDep, Reader, site_scope
from api.inputs import MAX_ID, Instant
from api.schemas import AlertPublic, IncidentDetailPublic, IncidentPublic, IncidentsPublic
from store import alerts as store_alerts
from store import incidents as store_incidents

router = APIRouter(prefix="/incidents", tags=["incidents"])


@router.get("", response_model=IncidentsPublic)
def list_incidents(
    conn: ConnDep,
    key: Reader,
    status_: Annotated[Literal["open", "closed"] | None, Query(alias="status")] = None,
    since: Instant | None = None,
    cursor: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> IncidentsPublic:
    """Incidents, newest first; page with `cursor`."""
    rows = store_incidents.list_incidents(
        conn, status=status_, sites=site_scope(key), since=since, before_id=cursor, limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return IncidentsPublic(
        data=[IncidentPublic.model_validate(i) for i in rows],
        next_cursor=rows[-1].incident_id if more and rows else None,
    )


@router.get("/{incident_id}", response_model=IncidentDetailPublic)
def get_incident(incident_id: int, conn: ConnDep, key: Reader) -> IncidentDetailPublic:
    """One incident with its alerts."""
    incident = store_incidents.get(conn, incident_id=incident_id)
    scope = site_scope(key)
    if incident is None or (scope is not None and incident.site_id not in scope):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no incident {incident_id}")
    alerts = store_alerts.list_alerts(conn, incident_id=incident_id, limit=500)
    return IncidentDetailPublic(**asdict(incident), alerts=[AlertPublic.model_validate(a) for a in alerts])
