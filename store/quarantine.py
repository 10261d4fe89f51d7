"""Messages refused by ingest: a bounded prefix of the raw bytes with their full size and SHA-256, and a count
of what the per-device rate limit held back.

Both tables are hypertables with a retention policy (``retention_policies``), so the maintenance loop drops
expired chunks like any other data. A device flooding quarantine therefore costs at most ``keep_bytes`` per
stored row, a bounded number of rows per minute, and one summary row per (device, reason, minute) for the
rest: ``quarantine_suppressed`` says how many messages and bytes were not stored in full, never nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

from kipsense.settings import QUARANTINE_KEEP_BYTES

Conn = psycopg.Connection[Any]

_MAX_TOPIC = 1024
_MAX_DETAIL = 1000


@dataclass(frozen=True, slots=True)
class QuarantineItem:
    """A refused message as ingest saw it (``payload`` whole); ``suppressed`` items are only counted."""

    topic: str
    device_id: str | None
    reason: str
    detail: str
    payload: bytes
    received_at: datetime
    suppressed: bool = False


@dataclass(frozen=True, slots=True)
class QuarantineRow:
    """A stored refused message; ``payload`` is at most the configured prefix of ``payload_size`` bytes."""

    quarantine_id: int
    received_at: datetime
    topic: str
    device_id: str | None
    reason: str
    detail: str
    payload: bytes
    payload_size: int
    payload_sha256: bytes
    worker: str

    @property
    def truncated(self) -> bool:
        return len(self.payload) < self.payload_size


@dataclass(frozen=True, slots=True)
class SuppressedRow:
    """Messages of one device and reason within one minute that were counted instead of stored."""

    device_id: str
    reason: str
    period: datetime
    messages: int
    bytes: int
    first_at: datetime
    last_at: datetime


def add_many(
    conn: Conn, items: Sequence[QuarantineItem], *, worker: str = "", keep_bytes: int = QUARANTINE_KEEP_BYTES
) -> None:
    """Store refused messages inside the caller's transaction: full rows, and counts for suppressed ones."""
    stored = [i for i in items if not i.suppressed]
    if stored:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO quarantine (received_at, topic, device_id, reason, detail, payload, payload_size,"
                " payload_sha256, worker) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        i.received_at,
                        i.topic[:_MAX_TOPIC],
                        i.device_id,
                        i.reason,
                        i.detail[:_MAX_DETAIL],
                        i.payload[:keep_bytes],
                        len(i.payload),
                        hashlib.sha256(i.payload).digest(),
                        worker,
                    )
                    for i in stored
                ],
            )
    _add_suppressed(conn, [i for i in items if i.suppressed])


def _add_suppressed(conn: Conn, items: Sequence[QuarantineItem]) -> None:
    if not items:
        return
    # One upsert per (device, reason, minute) of the batch: a flood costs a handful of rows, not one per message.
    groups: dict[tuple[str, str, datetime], list[QuarantineItem]] = {}
    for i in items:
        minute = i.received_at.replace(second=0, microsecond=0)
        groups.setdefault((i.device_id or "", i.reason, minute), []).append(i)
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO quarantine_suppressed AS s (device_id, reason, period, messages, bytes, first_at, last_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (device_id, reason, period) DO UPDATE SET"
            " messages = s.messages + EXCLUDED.messages, bytes = s.bytes + EXCLUDED.bytes,"
            " first_at = least(s.first_at, EXCLUDED.first_at), last_at = greatest(s.last_at, EXCLUDED.last_at)",
            [
                (
                    device,
                    reason,
                    minute,
                    len(group),
                    sum(len(i.payload) for i in group),
                    min(i.received_at for i in group),
                    max(i.received_at for i in group),
                )
                for (device, reason, minute), group in sorted(groups.items())
            ],
        )


def recent(
    conn: Conn, *, limit: int = 100, reason: str | None = None, device_id: str | None = None
) -> list[QuarantineRow]:
    """Newest refused messages first."""
    with conn.cursor(row_factory=class_row(QuarantineRow)) as cur:
        cur.execute(
            "SELECT quarantine_id, received_at, topic, device_id, reason, detail, payload, payload_size,"
            " payload_sha256, worker FROM quarantine"
            " WHERE (%(r)s::text IS NULL OR reason = %(r)s) AND (%(d)s::text IS NULL OR device_id = %(d)s)"
            " ORDER BY received_at DESC, quarantine_id DESC LIMIT %(n)s",
            {"r": reason, "d": device_id, "n": limit},
        )
        return cur.fetchall()


def suppressed(conn: Conn, *, device_id: str | None = None, limit: int = 100) -> list[SuppressedRow]:
    """Newest suppression counts first, optionally of one device."""
    with conn.cursor(row_factory=class_row(SuppressedRow)) as cur:
        cur.execute(
            "SELECT device_id, reason, period, messages, bytes, first_at, last_at FROM quarantine_suppressed"
            " WHERE (%(d)s::text IS NULL OR device_id = %(d)s) ORDER BY period DESC, device_id, reason LIMIT %(n)s",
            {"d": device_id, "n": limit},
        )
        return cur.fetchall()


def counts_by_reason(conn: Conn) -> dict[str, int]:
    """Stored rows per reason."""
    rows = conn.execute("SELECT reason, count(*) AS n FROM quarantine GROUP BY reason").fetchall()
    return {r["reason"]: int(r["n"]) for r in rows}


def suppressed_by_reason(conn: Conn) -> dict[str, int]:
    """Messages counted but not stored, per reason."""
    rows = conn.execute("SELECT reason, sum(messages) AS n FROM quarantine_suppressed GROUP BY reason").fetchall()
    return {r["reason"]: int(r["n"]) for r in rows}
