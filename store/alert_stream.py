"""The ordered feed of alert and incident events behind the live stream.

Every alert event lands here through a trigger on ``alert_events``; incident events are written by
:mod:`store.incidents`. Ids are handed out under a transaction-scoped lock (see migration 0004), so they
become visible in increasing order and "everything after id N" is a complete resume point.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

Conn = psycopg.Connection[Any]
TOPICS = ("alert", "incident")
#: Notified (empty payload) in the transaction of every new event; the trigger of migration 0004 uses it too.
CHANNEL = "kipsense_stream"


@dataclass(frozen=True, slots=True)
class StreamEvent:
    stream_id: int
    at: datetime
    topic: str
    ref_id: int
    site_id: str
    kind: str
    data: dict[str, Any]


def append(conn: Conn, *, topic: str, ref_id: int, site_id: str, kind: str, data: dict[str, Any]) -> None:
    """Add an event inside the caller's transaction (ids stay in commit order)."""
    if topic not in TOPICS:
        raise ValueError(f"topic must be one of {TOPICS}")
    conn.execute("SELECT kipsense_stream_lock()")
    conn.execute(
        "INSERT INTO stream_events (topic, ref_id, site_id, kind, data) VALUES (%s, %s, %s, %s, %s)",
        (topic, ref_id, site_id, kind, Jsonb(data)),
    )
    conn.execute("SELECT pg_notify(%s, '')", (CHANNEL,))


def listen(url: str, *, application_name: str) -> Conn:
    """A dedicated autocommit connection listening for new events (see :func:`wait`); the caller closes it."""
    conn = psycopg.connect(url, autocommit=True, application_name=application_name)
    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
    return conn


def wait(conn: Conn, *, timeout: float) -> bool:
    """Block until a notification arrives on a :func:`listen` connection (True) or ``timeout`` passes (False)."""
    return any(True for _ in conn.notifies(timeout=timeout, stop_after=1))


def after(conn: Conn, *, after_id: int, sites: list[str] | None = None, limit: int = 500) -> list[StreamEvent]:
    """Events with ids greater than ``after_id``, oldest first, limited to ``sites`` when given."""
    with conn.cursor(row_factory=class_row(StreamEvent)) as cur:
        return cur.execute(
            "SELECT stream_id, at, topic, ref_id, site_id, kind, data FROM stream_events"
            " WHERE stream_id > %(a)s AND (%(sites)s::text[] IS NULL OR site_id = ANY(%(sites)s))"
            " ORDER BY stream_id LIMIT %(n)s",
            {"a": after_id, "sites": sites, "n": limit},
        ).fetchall()


def last_id(conn: Conn) -> int:
    """Id of the newest event (0 when there is none): where a fresh subscriber starts."""
    row = conn.execute("SELECT coalesce(max(stream_id), 0) AS n FROM stream_events").fetchone()
    return int(row["n"] if isinstance(row, dict) else row[0]) if row else 0
