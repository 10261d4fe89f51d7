"""Notifications: contacts, on-call groups, routes, the outbox and the messages with their delivery log.

The outbox row is written by :func:`enqueue` inside the transaction that writes the alert event (see
``store.alerts``), so an alert event and its notification commit or roll back together. The sender
(``kipsense notify``) routes outbox rows into messages and marks them routed in one transaction, then
delivers each message at least once; the message's idempotency key lets a receiver drop a repeat.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from kipsense.notify_text import LANGUAGES

Conn = psycopg.Connection[Any]

#: Alert events that may notify someone.
NOTIFY_KINDS = frozenset({"raised", "escalated"})
#: Channel the sender listens on; a notify is sent in the outbox row's transaction (delivered at commit).
LISTEN_CHANNEL = "kipsense_notify"

CHANNELS = ("email", "webhook", "apprise")


# -- records ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Contact:
    contact_id: int
    name: str
    language: str
    phone: str | None
    email: str | None
    webhook_url: str | None
    apprise_urls: list[str]
    active: bool


@dataclass(frozen=True, slots=True)
class Group:
    group_id: int
    name: str
    rotation_start: datetime
    rotation_hours: float
    member_ids: list[int]


@dataclass(frozen=True, slots=True)
class OnCall:
    """Who in a group is on duty at ``at``, since when, and who takes over when."""

    group_id: int
    group_name: str
    at: datetime
    contact_id: int | None
    since: datetime | None
    handover_at: datetime | None
    next_contact_id: int | None


@dataclass(frozen=True, slots=True)
class Route:
    route_id: int
    name: str
    position: int
    enabled: bool
    match_sites: list[str]
    match_types: list[str]
    min_severity: str
    match_kinds: list[str]
    match_tags: list[str]
    contact_ids: list[int]
    group_ids: list[int]
    escalation_group_ids: list[int]
    active_days: list[int]
    active_from: time | None
    active_until: time | None
    quiet_from: time | None
    quiet_until: time | None
    quiet_bypass_critical: bool
    group_window_s: float
    repeat_every_s: float | None
    stop_after: bool


ROUTE_FIELDS = tuple(f for f in Route.__dataclass_fields__ if f != "route_id")


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """An outbox row with what routing needs to know about its alert."""

    outbox_id: int
    event_id: int
    alert_id: int
    kind: str
    data: dict[str, Any]
    created_at: datetime
    site_id: str
    type: str
    severity: str
    status: str
    device_id: str
    device_kind: str | None
    tags: list[str]
    incident_id: int | None
    alert_created_at: datetime


@dataclass(frozen=True, slots=True)
class Message:
    message_id: int
    idempotency_key: str
    route_id: int | None
    contact_id: int
    channel: str
    target: str
    group_key: str
    reason: str
    alert_ids: list[int]
    status: str
    attempts: int
    last_error: str | None
    not_before: datetime
    alert_at: datetime
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class AlertView:
    """What a message says about one alert."""

    alert_id: int
    device_id: str
    device_name: str | None
    site_id: str
    site_name: str | None
    type: str
    severity: str
    status: str
    value: float | None
    threshold: float | None
    first_time: datetime
    incident_id: int | None
    likely_source: str | None
    wind_dir: float | None
    wind_speed: float | None


@dataclass(frozen=True, slots=True)
class DeliveryStats:
    pending: int
    sent: int
    failed: int
    attempts_failed: int
    latency_p50_ms: float | None
    latency_p99_ms: float | None


_MSG_COLS = (
    "message_id, idempotency_key, route_id, contact_id, channel, target, group_key, reason, alert_ids, status,"
    " attempts, last_error, not_before, alert_at, created_at, sent_at"
)
_CONTACT_COLS = "contact_id, name, language, phone, email, webhook_url, apprise_urls, active"


# -- the outbox ---------------------------------------------------------------------------------------------
def enqueue(conn: Conn, *, event_id: int, alert_id: int, kind: str, data: dict[str, Any]) -> None:
    """Write the outbox row of an alert event; call inside the transaction that wrote the event."""
    conn.execute(
        "INSERT INTO notify_outbox (event_id, alert_id, kind, data) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (event_id) DO NOTHING",
        (event_id, alert_id, kind, Jsonb(data)),
    )
    conn.execute("SELECT pg_notify(%s, '')", (LISTEN_CHANNEL,))


def claim_outbox(conn: Conn, *, limit: int = 500) -> list[OutboxItem]:
    """Unrouted outbox rows, oldest first, locked until the caller's transaction ends."""
    with conn.cursor(row_factory=class_row(OutboxItem)) as cur:
        return cur.execute(
            "SELECT o.outbox_id, o.event_id, o.alert_id, o.kind, o.data, o.created_at, a.site_id, a.type,"
            " a.severity, a.status, a.device_id, d.kind AS device_kind,"
            " COALESCE((SELECT array_agg(t.tag ORDER BY t.tag) FROM notify_device_tags t"
            "           WHERE t.device_id = a.device_id), '{}') AS tags,"
            " a.incident_id, a.created_at AS alert_created_at"
            " FROM notify_outbox o JOIN alerts a USING (alert_id) LEFT JOIN devices d ON d.device_id = a.device_id"
            " WHERE o.routed_at IS NULL ORDER BY o.outbox_id LIMIT %s FOR UPDATE OF o SKIP LOCKED",
            (limit,),
        ).fetchall()


def mark_routed(conn: Conn, *, outbox_ids: list[int]) -> None:
    conn.execute("UPDATE notify_outbox SET routed_at = clock_timestamp() WHERE outbox_id = ANY(%s)", (outbox_ids,))


# -- contacts, groups, on-call ------------------------------------------------------------------------------
def create_contact(
    conn: Conn,
    *,
    name: str,
    language: str = "fi",
    phone: str | None = None,
    email: str | None = None,
    webhook_url: str | None = None,
    apprise_urls: list[str] | None = None,
) -> Contact:
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}")
    with conn.cursor(row_factory=class_row(Contact)) as cur:
        row = cur.execute(
            "INSERT INTO notify_contacts (name, language, phone, email, webhook_url, apprise_urls)"  # noqa: S608
            f" VALUES (%s, %s, %s, %s, %s, %s) RETURNING {_CONTACT_COLS}",
            (name, language, phone, email, webhook_url, apprise_urls or []),
        ).fetchone()
    assert row is not None  # noqa: S101 - INSERT ... RETURNING
    return row


def list_contacts(conn: Conn, *, ids: list[int] | None = None) -> list[Contact]:
    where = " WHERE contact_id = ANY(%s)" if ids is not None else ""
    with conn.cursor(row_factory=class_row(Contact)) as cur:
        return cur.execute(
            f"SELECT {_CONTACT_COLS} FROM notify_contacts{where} ORDER BY contact_id",  # noqa: S608
            (ids,) if ids is not None else None,
        ).fetchall()


def delete_contact(conn: Conn, *, contact_id: int) -> bool:
    return conn.execute("DELETE FROM notify_contacts WHERE contact_id = %s", (contact_id,)).rowcount > 0


def create_group(
    conn: Conn, *, name: str, member_ids: list[int], rotation_start: datetime | None = None, rotation_hours: float = 168
) -> Group:
    """A group whose members take turns in the order given, ``rotation_hours`` each, from ``rotation_start``."""
    row = conn.execute(
        "INSERT INTO notify_groups (name, rotation_start, rotation_hours)"
        " VALUES (%s, COALESCE(%s, date_trunc('day', now())), %s) RETURNING group_id",
        (name, rotation_start, rotation_hours),
    ).fetchone()
    assert row is not None  # noqa: S101
    group_id = int(row["group_id"])
    for position, contact_id in enumerate(member_ids):
        conn.execute(
            "INSERT INTO notify_group_members (group_id, contact_id, position) VALUES (%s, %s, %s)",
            (group_id, contact_id, position),
        )
    group = get_group(conn, group_id=group_id)
    assert group is not None  # noqa: S101
    return group


_GROUP_SQL = (
    "SELECT g.group_id, g.name, g.rotation_start, g.rotation_hours,"
    " COALESCE(array_agg(m.contact_id ORDER BY m.position) FILTER (WHERE m.contact_id IS NOT NULL), '{}')"
    " AS member_ids FROM notify_groups g LEFT JOIN notify_group_members m USING (group_id)"
)


def get_group(conn: Conn, *, group_id: int) -> Group | None:
    with conn.cursor(row_factory=class_row(Group)) as cur:
        return cur.execute(_GROUP_SQL + " WHERE g.group_id = %s GROUP BY g.group_id", (group_id,)).fetchone()


def list_groups(conn: Conn) -> list[Group]:
    with conn.cursor(row_factory=class_row(Group)) as cur:
        return cur.execute(_GROUP_SQL + " GROUP BY g.group_id ORDER BY g.group_id").fetchall()


def delete_group(conn: Conn, *, group_id: int) -> bool:
    return conn.execute("DELETE FROM notify_groups WHERE group_id = %s", (group_id,)).rowcount > 0


def on_call(group: Group, *, at: datetime) -> OnCall:
    """The member on duty at ``at``: members take ``rotation_hours`` turns in order from ``rotation_start``."""
    n = len(group.member_ids)
    if n == 0:
        return OnCall(group.group_id, group.name, at, None, None, None, None)
    period = timedelta(hours=group.rotation_hours)
    turns = (at - group.rotation_start) // period  # floor, also before the start (negative turns)
    since = group.rotation_start + turns * period
    return OnCall(
        group_id=group.group_id,
        group_name=group.name,
        at=at,
        contact_id=group.member_ids[turns % n],
        since=since,
        handover_at=since + period,
        next_contact_id=group.member_ids[(turns + 1) % n],
    )


def set_device_tags(conn: Conn, *, device_id: str, tags: list[str]) -> None:
    conn.execute("DELETE FROM notify_device_tags WHERE device_id = %s", (device_id,))
    for tag in sorted(set(tags)):
        conn.execute("INSERT INTO notify_device_tags (device_id, tag) VALUES (%s, %s)", (device_id, tag))


# -- routes -------------------------------------------------------------------------------------------------
_ROUTE_COLS = "route_id, " + ", ".join(ROUTE_FIELDS)


def create_route(conn: Conn, *, name: str, **fields: Any) -> Route:
    """A route; unknown field names are refused, the rest keep their defaults (see the migration)."""
    unknown = set(fields) - set(ROUTE_FIELDS)
    if unknown:
        raise ValueError(f"unknown route fields: {sorted(unknown)}")
    values = {"name": name, **fields}
    query = sql.SQL("INSERT INTO notify_routes ({cols}) VALUES ({vals}) RETURNING {ret}").format(
        cols=sql.SQL(", ").join(sql.Identifier(k) for k in values),
        vals=sql.SQL(", ").join(sql.Placeholder(k) for k in values),
        ret=sql.SQL(_ROUTE_COLS),
    )
    with conn.cursor(row_factory=class_row(Route)) as cur:
        row = cur.execute(query, values).fetchone()
    assert row is not None  # noqa: S101
    return row


def update_route(conn: Conn, *, route_id: int, **fields: Any) -> Route | None:
    unknown = set(fields) - set(ROUTE_FIELDS)
    if unknown:
        raise ValueError(f"unknown route fields: {sorted(unknown)}")
    if not fields:
        return get_route(conn, route_id=route_id)
    query = sql.SQL("UPDATE notify_routes SET {sets}, updated_at = now() WHERE route_id = {id} RETURNING {ret}").format(
        sets=sql.SQL(", ").join(sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in fields),
        id=sql.Placeholder("route_id"),
        ret=sql.SQL(_ROUTE_COLS),
    )
    with conn.cursor(row_factory=class_row(Route)) as cur:
        return cur.execute(query, {**fields, "route_id": route_id}).fetchone()


def get_route(conn: Conn, *, route_id: int) -> Route | None:
    with conn.cursor(row_factory=class_row(Route)) as cur:
        return cur.execute(
            f"SELECT {_ROUTE_COLS} FROM notify_routes WHERE route_id = %s",  # noqa: S608
            (route_id,),
        ).fetchone()


def list_routes(conn: Conn) -> list[Route]:
    with conn.cursor(row_factory=class_row(Route)) as cur:
        return cur.execute(f"SELECT {_ROUTE_COLS} FROM notify_routes ORDER BY position, route_id").fetchall()  # noqa: S608


def delete_route(conn: Conn, *, route_id: int) -> bool:
    return conn.execute("DELETE FROM notify_routes WHERE route_id = %s", (route_id,)).rowcount > 0


# -- messages -----------------------------------------------------------------------------------------------
def open_group_message(conn: Conn, *, contact_id: int, channel: str, group_key: str, since: datetime) -> Message | None:
    """The newest first-notice message of this group to this contact and channel created since ``since``."""
    with conn.cursor(row_factory=class_row(Message)) as cur:
        return cur.execute(
            f"SELECT {_MSG_COLS} FROM notify_messages"  # noqa: S608
            " WHERE contact_id = %s AND channel = %s AND group_key = %s AND reason = 'alert' AND created_at >= %s"
            " ORDER BY created_at DESC LIMIT 1 FOR UPDATE",
            (contact_id, channel, group_key, since),
        ).fetchone()


def add_alert(conn: Conn, *, message_id: int, alert_id: int) -> None:
    """Put an alert into a message's group (no-op when it is already there)."""
    conn.execute(
        "UPDATE notify_messages SET alert_ids = alert_ids || %s::bigint, updated_at = now()"
        " WHERE message_id = %s AND NOT (%s::bigint = ANY(alert_ids))",
        (alert_id, message_id, alert_id),
    )


def create_message(
    conn: Conn,
    *,
    idempotency_key: str,
    route_id: int | None,
    contact_id: int,
    channel: str,
    target: str,
    group_key: str,
    reason: str,
    alert_ids: list[int],
    not_before: datetime,
    alert_at: datetime,
    at: datetime,
) -> bool:
    """A new message made at ``at``; False when one with this idempotency key exists (routing an event twice)."""
    return (
        conn.execute(
            "INSERT INTO notify_messages (idempotency_key, route_id, contact_id, channel, target, group_key, reason,"
            " alert_ids, not_before, alert_at, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (idempotency_key) DO NOTHING",
            (
                idempotency_key,
                route_id,
                contact_id,
                channel,
                target,
                group_key,
                reason,
                alert_ids,
                not_before,
                alert_at,
                at,
            ),
        ).rowcount
        > 0
    )


def claim_due(conn: Conn, *, now: datetime, lease_s: float, limit: int = 100) -> list[Message]:
    """Due messages marked ``sending`` with one more attempt; commit before delivering.

    A ``sending`` message whose lease expired belongs to a sender that died mid-delivery: it is due again
    (at least once; the idempotency key makes the repeat harmless to a receiver that checks it).
    """
    with conn.cursor(row_factory=class_row(Message)) as cur:
        return cur.execute(
            "UPDATE notify_messages SET status = 'sending', attempts = attempts + 1, updated_at = %(now)s"  # noqa: S608
            " WHERE message_id IN (SELECT message_id FROM notify_messages"
            "   WHERE (status = 'pending' AND not_before <= %(now)s)"
            "      OR (status = 'sending' AND updated_at <= %(now)s - make_interval(secs => %(lease)s))"
            "   ORDER BY not_before, message_id LIMIT %(n)s FOR UPDATE SKIP LOCKED)"
            f" RETURNING {_MSG_COLS}",
            {"now": now, "lease": lease_s, "n": limit},
        ).fetchall()


def record_attempt(
    conn: Conn,
    *,
    message_id: int,
    ok: bool,
    error: str | None,
    duration_ms: float | None,
    at: datetime,
    retry_at: datetime | None = None,
) -> None:
    """Log an attempt ending at ``at``; ``ok`` -> sent, else pending again at ``retry_at`` or failed for good."""
    conn.execute(
        "INSERT INTO notify_attempts (message_id, ok, error, duration_ms) VALUES (%s, %s, %s, %s)",
        (message_id, ok, error, duration_ms),
    )
    if ok:
        conn.execute(
            "UPDATE notify_messages SET status = 'sent', sent_at = %s, last_error = NULL,"
            " updated_at = now() WHERE message_id = %s",
            (at, message_id),
        )
    else:
        conn.execute(
            "UPDATE notify_messages SET status = %s, not_before = COALESCE(%s, not_before), last_error = %s,"
            " updated_at = now() WHERE message_id = %s",
            ("pending" if retry_at is not None else "failed", retry_at, error, message_id),
        )


def defer(conn: Conn, *, message_id: int, until: datetime, why: str) -> None:
    """Back to pending without counting an attempt (rate limit): the claim's attempt is given back."""
    conn.execute(
        "UPDATE notify_messages SET status = 'pending', attempts = attempts - 1, not_before = %s, last_error = %s,"
        " updated_at = now() WHERE message_id = %s",
        (until, why, message_id),
    )


def sent_since(conn: Conn, *, channel: str, target: str, since: datetime) -> int:
    """Messages sent to one target on one channel since ``since`` (the rate limit's count, kept across restarts)."""
    row = conn.execute(
        "SELECT count(*) AS n FROM notify_messages WHERE channel = %s AND target = %s AND status = 'sent'"
        " AND sent_at >= %s",
        (channel, target, since),
    ).fetchone()
    return int(row["n"]) if row else 0


def get_message(conn: Conn, *, message_id: int) -> Message | None:
    with conn.cursor(row_factory=class_row(Message)) as cur:
        return cur.execute(
            f"SELECT {_MSG_COLS} FROM notify_messages WHERE message_id = %s",  # noqa: S608
            (message_id,),
        ).fetchone()


def list_messages(
    conn: Conn, *, status: str | None = None, alert_id: int | None = None, limit: int = 50
) -> list[Message]:
    """Newest first."""
    where: list[str] = []
    params: list[Any] = []
    if status is not None:
        where.append("status = %s")
        params.append(status)
    if alert_id is not None:
        where.append("%s::bigint = ANY(alert_ids)")
        params.append(alert_id)
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    with conn.cursor(row_factory=class_row(Message)) as cur:
        return cur.execute(
            f"SELECT {_MSG_COLS} FROM notify_messages{clause} ORDER BY message_id DESC LIMIT %s",  # noqa: S608
            (*params, limit),
        ).fetchall()


def repeat_candidates(conn: Conn, *, now: datetime) -> list[tuple[Message, float]]:
    """Sent first notices whose route repeats, with at least one alert still active (unacknowledged).

    Returns (the newest message of the group, the route's repeat interval); the caller decides whether the
    interval has passed since the group's last message.
    """
    with conn.cursor(row_factory=class_row(Message)) as cur:
        rows = cur.execute(
            f"SELECT {', '.join('m.' + c.strip() for c in _MSG_COLS.split(','))} FROM notify_messages m"  # noqa: S608
            " JOIN notify_routes r USING (route_id)"
            " WHERE m.reason = 'alert' AND m.status = 'sent' AND r.enabled AND r.repeat_every_s IS NOT NULL"
            " AND m.created_at >= %s - interval '7 days'"
            " AND EXISTS (SELECT 1 FROM alerts a WHERE a.alert_id = ANY(m.alert_ids) AND a.status = 'active')",
            (now,),
        ).fetchall()
    out: list[tuple[Message, float]] = []
    for m in rows:
        route = get_route(conn, route_id=m.route_id) if m.route_id is not None else None
        if route is not None and route.repeat_every_s is not None:
            out.append((m, route.repeat_every_s))
    return out


def last_in_group(conn: Conn, *, contact_id: int, channel: str, group_key: str) -> datetime | None:
    row = conn.execute(
        "SELECT max(created_at) AS t FROM notify_messages WHERE contact_id = %s AND channel = %s AND group_key = %s",
        (contact_id, channel, group_key),
    ).fetchone()
    return row["t"] if row else None


def alert_views(conn: Conn, *, alert_ids: list[int]) -> list[AlertView]:
    with conn.cursor(row_factory=class_row(AlertView)) as cur:
        return cur.execute(
            "SELECT a.alert_id, a.device_id, d.name AS device_name, a.site_id, s.name AS site_name, a.type,"
            " a.severity, a.status, a.value, a.threshold, a.first_time, a.incident_id, i.likely_source,"
            " i.wind_dir, i.wind_speed"
            " FROM alerts a LEFT JOIN devices d USING (device_id) LEFT JOIN sites s ON s.site_id = a.site_id"
            " LEFT JOIN incidents i ON i.incident_id = a.incident_id"
            " WHERE a.alert_id = ANY(%s) ORDER BY a.first_time, a.alert_id",
            (alert_ids,),
        ).fetchall()


def stats(conn: Conn, *, since: datetime | None = None) -> DeliveryStats:
    """Counts by status and the alert -> delivery latency of sent messages (since ``since``)."""
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE status IN ('pending', 'sending')) AS pending,"
        " count(*) FILTER (WHERE status = 'sent') AS sent, count(*) FILTER (WHERE status = 'failed') AS failed,"
        " percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - alert_at) * 1000)"
        "   FILTER (WHERE status = 'sent') AS p50,"
        " percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - alert_at) * 1000)"
        "   FILTER (WHERE status = 'sent') AS p99"
        " FROM notify_messages WHERE created_at >= COALESCE(%s, '-infinity'::timestamptz)",
        (since,),
    ).fetchone()
    failed_attempts = conn.execute(
        "SELECT count(*) AS n FROM notify_attempts WHERE NOT ok AND at >= COALESCE(%s, '-infinity'::timestamptz)",
        (since,),
    ).fetchone()
    assert row is not None and failed_attempts is not None  # noqa: S101 - aggregates return a row
    return DeliveryStats(
        pending=int(row["pending"]),
        sent=int(row["sent"]),
        failed=int(row["failed"]),
        attempts_failed=int(failed_attempts["n"]),
        latency_p50_ms=float(row["p50"]) if row["p50"] is not None else None,
        latency_p99_ms=float(row["p99"]) if row["p99"] is not None else None,
    )


_CONTACT_FIELDS = ("name", "language", "phone", "email", "webhook_url", "apprise_urls", "active")


def update_contact(conn: Conn, *, contact_id: int, **fields: Any) -> Contact | None:
    unknown = set(fields) - set(_CONTACT_FIELDS)
    if unknown:
        raise ValueError(f"unknown contact fields: {sorted(unknown)}")
    if fields:
        conn.execute(
            sql.SQL("UPDATE notify_contacts SET {sets} WHERE contact_id = {id}").format(
                sets=sql.SQL(", ").join(
                    sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in fields
                ),
                id=sql.Placeholder("contact_id"),
            ),
            {**fields, "contact_id": contact_id},
        )
    found = list_contacts(conn, ids=[contact_id])
    return found[0] if found else None


def prune(conn: Conn, *, before: datetime) -> tuple[int, int]:
    """Drop routed outbox rows and finished messages (with their attempts) older than ``before``.

    Returns (outbox rows, messages) removed. Pending and sending messages are never removed.
    """
    outbox = conn.execute(
        "DELETE FROM notify_outbox WHERE routed_at IS NOT NULL AND created_at < %s", (before,)
    ).rowcount
    messages = conn.execute(
        "DELETE FROM notify_messages WHERE status IN ('sent', 'failed') AND created_at < %s", (before,)
    ).rowcount
    return outbox, messages
