"""Messages refused by ingest, kept with their reason and raw bytes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

Conn = psycopg.Connection[Any]


@dataclass(frozen=True, slots=True)
class QuarantineItem:
    """A refused message as ingest saw it."""

    topic: str
    device_id: str | None
    reason: str
    detail: str
    payload: bytes
    received_at: datetime


@dataclass(frozen=True, slots=True)
class QuarantineRow:
    quarantine_id: int
    received_at: datetime
    topic: str
    device_id: str | None
    reason: str
    detail: str
    payload: bytes
    worker: str


def add_many(conn: Conn, items: Sequence[QuarantineItem], *, worker: str = "") -> None:
    """Store refused messages inside the caller's transaction."""
    if not items:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO quarantine (received_at, topic, device_id, reason, detail, payload, worker)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [(i.received_at, i.topic, i.device_id, i.reason, i.detail[:1000], i.payload, worker) for i in items],
        )


def recent(
    conn: Conn, *, limit: int = 100, reason: str | None = None, device_id: str | None = None
) -> list[QuarantineRow]:
    """Newest refused messages first."""
    with conn.cursor(row_factory=class_row(QuarantineRow)) as cur:
        cur.execute(
            "SELECT quarantine_id, received_at, topic, device_id, reason, detail, payload, worker FROM quarantine"
            " WHERE (%(r)s::text IS NULL OR reason = %(r)s) AND (%(d)s::text IS NULL OR device_id = %(d)s)"
            " ORDER BY quarantine_id DESC LIMIT %(n)s",
            {"r": reason, "d": device_id, "n": limit},
        )
        return cur.fetchall()


def counts_by_reason(conn: Conn) -> dict[str, int]:
    rows = conn.execute("SELECT reason, count(*) AS n FROM quarantine GROUP BY reason").fetchall()
    return {r["reason"]: int(r["n"]) for r in rows}
