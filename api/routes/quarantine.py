"""Messages ingest refused, with their reason and raw bytes (admin only)."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import Admin, ConnDep
from store import quarantine as store_quarantine

router = APIRouter(prefix="/quarantine", tags=["quarantine"])


class QuarantinedPublic(BaseModel):
    """One refused message; ``payload_b64`` is the kept prefix of the exact bytes (all of them unless
    ``payload_truncated``), ``payload_bytes`` and ``payload_sha256`` describe the whole payload,
    ``payload_text`` is a lossy UTF-8 preview."""

    quarantine_id: int
    received_at: datetime
    topic: str
    device_id: str | None
    reason: str
    detail: str
    worker: str
    payload_b64: str
    payload_text: str
    payload_bytes: int
    payload_sha256: str
    payload_truncated: bool


class QuarantinePublic(BaseModel):
    """Rows, stored rows per reason, and messages per reason counted over a device's quarantine rate."""

    data: list[QuarantinedPublic]
    count: int
    by_reason: dict[str, int]
    suppressed_by_reason: dict[str, int]


@router.get("", response_model=QuarantinePublic)
def list_quarantine(
    conn: ConnDep,
    key: Admin,
    reason: str | None = None,
    device_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> QuarantinePublic:
    """Newest refused messages first, optionally of one reason or device, with totals per reason."""
    rows = store_quarantine.recent(conn, limit=limit, reason=reason, device_id=device_id)
    data = [
        QuarantinedPublic(
            quarantine_id=r.quarantine_id,
            received_at=r.received_at,
            topic=r.topic,
            device_id=r.device_id,
            reason=r.reason,
            detail=r.detail,
            worker=r.worker,
            payload_b64=base64.b64encode(bytes(r.payload)).decode(),
            payload_text=bytes(r.payload)[:2048].decode("utf-8", errors="replace"),
            payload_bytes=r.payload_size,
            payload_sha256=bytes(r.payload_sha256).hex(),
            payload_truncated=r.truncated,
        )
        for r in rows
    ]
    return QuarantinePublic(
        data=data,
        count=len(data),
        by_reason=store_quarantine.counts_by_reason(conn),
        suppressed_by_reason=store_quarantine.suppressed_by_reason(conn),
    )
