"""Readings that collided with a stored reading of the same key but different values.

The write path (``store.readings``) keeps the first reading of a key and records every later, different one
here, beside the kept values and a reference to the message that carried it (topic, receive time, SHA-256
of the payload, worker). One row per distinct offered reading: when the same conflicting reading is offered
again (a redelivery) the row's ``repeats`` goes up instead, so redeliveries stay silent here as well.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

Conn = psycopg.Connection[Any]


class MessageRef(Protocol):
    """What a conflict records about the message that carried the refused reading."""

    @property
    def topic(self) -> str: ...
    @property
    def received_at(self) -> datetime: ...
    @property
    def payload(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Collision:
    """One offered reading that differs from the stored one at its key (found by the write path)."""

    table: str
    device_id: str
    time: datetime
    tag: str
    stored: dict[str, Any]
    offered: dict[str, Any]
    stored_received_at: datetime | None
    source: MessageRef


@dataclass(frozen=True, slots=True)
class ConflictRow:
    """A recorded conflict as listed to operators and researchers."""

    source_table: str
    device_id: str
    time: datetime
    tag: str
    stored: dict[str, Any]
    offered: dict[str, Any]
    stored_received_at: datetime | None
    topic: str
    received_at: datetime
    payload_sha256: bytes
    worker: str
    repeats: int
    last_received_at: datetime
    recorded_at: datetime


def record(conn: Conn, collisions: Sequence[Collision], *, worker: str = "") -> int:
    """Store collisions inside the caller's transaction; returns how many were new.

    A collision already recorded (the same offered reading at the same key: a redelivery) only raises the
    row's ``repeats`` and moves ``last_received_at``; it is not counted as new.
    """
    if not collisions:
        return 0
    new = 0
    with conn.cursor() as cur:
        # One statement per row: two repeats of one conflict in a batch must each find the other's row.
        cur.executemany(
            "INSERT INTO reading_conflicts (source_table, device_id, time, tag, stored, offered, offered_md5,"
            " stored_received_at, topic, received_at, payload_sha256, worker, last_received_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, md5(%s::jsonb::text), %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (source_table, device_id, tag, time, offered_md5) DO UPDATE"
            " SET repeats = reading_conflicts.repeats + 1,"
            " last_received_at = greatest(reading_conflicts.last_received_at, EXCLUDED.last_received_at)"
            " RETURNING repeats = 1 AS fresh",
            [_params(c, worker) for c in collisions],
            returning=True,
        )
        while True:
            row = cur.fetchone()
            new += bool(row is not None and _get(row, "fresh", 0))
            if not cur.nextset():
                break
    return new


def _params(c: Collision, worker: str) -> tuple[Any, ...]:
    offered = Jsonb(c.offered)
    digest = hashlib.sha256(c.source.payload).digest()
    received = c.source.received_at
    return (c.table, c.device_id, c.time, c.tag, Jsonb(c.stored), offered, offered, c.stored_received_at,
            c.source.topic[:512], received, digest, worker, received)  # fmt: skip


def recent(
    conn: Conn,
    *,
    limit: int = 100,
    device_id: str | None = None,
    device_ids: Sequence[str] | None = None,
    since: datetime | None = None,
) -> list[ConflictRow]:
    """Newest recorded conflicts first, optionally of one device, of some devices, or recorded since a time."""
    with conn.cursor(row_factory=class_row(ConflictRow)) as cur:
        cur.execute(
            "SELECT source_table, device_id, time, tag, stored, offered, stored_received_at, topic, received_at,"
            " payload_sha256, worker, repeats, last_received_at, recorded_at FROM reading_conflicts"
            " WHERE (%(d)s::text IS NULL OR device_id = %(d)s)"
            " AND (%(ds)s::text[] IS NULL OR device_id = ANY(%(ds)s))"
            " AND (%(s)s::timestamptz IS NULL OR recorded_at >= %(s)s)"
            " ORDER BY recorded_at DESC, device_id, time DESC LIMIT %(n)s",
            {"d": device_id, "ds": None if device_ids is None else list(device_ids), "s": since, "n": limit},
        )
        return cur.fetchall()


def counts_by_table(conn: Conn, *, since: datetime | None = None) -> dict[str, int]:
    """Conflicts recorded (since a time, or ever) per reading table."""
    rows = conn.execute(
        "SELECT source_table, count(*) AS n FROM reading_conflicts"
        " WHERE (%(s)s::timestamptz IS NULL OR recorded_at >= %(s)s) GROUP BY source_table",
        {"s": since},
    ).fetchall()
    return {_get(r, "source_table", 0): int(_get(r, "n", 1)) for r in rows}


def _get(row: Any, name: str, index: int) -> Any:
    return row[name] if isinstance(row, dict) else row[index]
