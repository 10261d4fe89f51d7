"""Readings refused because their key was already stored with other values (operators, researchers)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import Analyst, ConnDep
from api.inputs import Instant
from kipsense.records import DEVICE_ID_PATTERN
from store import conflicts as store_conflicts

router = APIRouter(prefix="/conflicts", tags=["quarantine"])


class ConflictPublic(BaseModel):
    """One refused reading: ``stored`` is what the platform kept at the key, ``offered`` what was refused."""

    source_table: str
    device_id: str
    time: datetime
    tag: str
    stored: dict[str, Any]
    offered: dict[str, Any]
    stored_received_at: datetime | None
    topic: str
    received_at: datetime
    payload_sha256: str
    worker: str
    repeats: int
    last_received_at: datetime
    recorded_at: datetime


class ConflictsPublic(BaseModel):
    data: list[ConflictPublic]
    count: int
    by_table: dict[str, int]


@router.get("", response_model=ConflictsPublic)
def list_conflicts(
    conn: ConnDep,
    key: Analyst,
    device_id: Annotated[str | None, Query(max_length=63, pattern=DEVICE_ID_PATTERN.pattern)] = None,
    since: Instant | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ConflictsPublic:
    """Newest recorded conflicts first, optionally of one device or since a time, with totals per table."""
    if since is not None:
        since = since.astimezone(UTC)  # Instant keeps it within 1900-2200, so the conversion cannot overflow
    rows = store_conflicts.recent(conn, limit=limit, device_id=device_id, since=since)
    data = [
        ConflictPublic(
            source_table=r.source_table,
            device_id=r.device_id,
            time=r.time,
            tag=r.tag,
            stored=r.stored,
            offered=r.offered,
            stored_received_at=r.stored_received_at,
            topic=r.topic,
            received_at=r.received_at,
            payload_sha256=bytes(r.payload_sha256).hex(),
            worker=r.worker,
            repeats=r.repeats,
            last_received_at=r.last_received_at,
            recorded_at=r.recorded_at,
        )
        for r in rows
    ]
    return ConflictsPublic(data=data, count=len(data), by_table=store_conflicts.counts_by_table(conn, since=since))
