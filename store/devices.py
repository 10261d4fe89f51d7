"""The device registry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row, tuple_row

from kipsense.records import DeviceKind

Conn = psycopg.Connection[Any]


@dataclass(frozen=True, slots=True)
class Device:
    device_id: str
    kind: str
    site_id: str
    name: str | None
    lat: float | None
    lon: float | None
    mobile: bool
    expected_interval_s: float
    firmware: str | None
    status: str
    created_at: datetime
    last_seen: datetime | None
    last_received: datetime | None


_COLUMNS = (
    "device_id, kind, site_id, name, lat, lon, mobile, expected_interval_s, firmware, status, created_at, "
    "last_seen, last_received"
)


class DeviceExistsError(ValueError):
    """A device with that id is already registered."""


def create(
    conn: Conn,
    *,
    device_id: str,
    kind: DeviceKind,
    site_id: str = "park",
    name: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    mobile: bool = False,
    expected_interval_s: float = 10.0,
    firmware: str | None = None,
    mqtt_password_hash: str | None = None,
) -> Device:
    """Register a device; ``DeviceExistsError`` if the id is taken."""
    try:
        with conn.cursor(row_factory=class_row(Device)) as cur:
            cur.execute(
                f"INSERT INTO devices (device_id, kind, site_id, name, lat, lon, mobile, expected_interval_s,"  # noqa: S608
                f" firmware, mqtt_password_hash, credential_issued_at)"
                f" VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, CASE WHEN %s THEN now() END)"
                f" RETURNING {_COLUMNS}",
                (
                    device_id,
                    kind.value,
                    site_id,
                    name,
                    lat,
                    lon,
                    mobile,
                    expected_interval_s,
                    firmware,
                    mqtt_password_hash,
                    mqtt_password_hash is not None,
                ),
            )
            row = cur.fetchone()
    except psycopg.errors.UniqueViolation:
        raise DeviceExistsError(f"device {device_id!r} already exists") from None
    if row is None:  # pragma: no cover - RETURNING always yields the row
        raise RuntimeError("insert returned no row")
    return row


def get(conn: Conn, *, device_id: str) -> Device | None:
    with conn.cursor(row_factory=class_row(Device)) as cur:
        cur.execute(f"SELECT {_COLUMNS} FROM devices WHERE device_id = %s", (device_id,))  # noqa: S608
        return cur.fetchone()


def list_devices(
    conn: Conn, *, kind: DeviceKind | None = None, sites: list[str] | None = None, include_retired: bool = False
) -> list[Device]:
    """Devices ordered by id, optionally of one kind and limited to some sites."""
    with conn.cursor(row_factory=class_row(Device)) as cur:
        cur.execute(
            f"SELECT {_COLUMNS} FROM devices"  # noqa: S608
            " WHERE (%(kind)s::text IS NULL OR kind = %(kind)s)"
            " AND (%(sites)s::text[] IS NULL OR site_id = ANY(%(sites)s))"
            " AND (%(retired)s OR status = 'active')"
            " ORDER BY device_id",
            {"kind": kind.value if kind else None, "sites": sites, "retired": include_retired},
        )
        return cur.fetchall()


def kinds(conn: Conn) -> dict[str, tuple[str, str]]:
    """device_id -> (kind, status) for every device: the ingest worker's lookup table."""
    with conn.cursor(row_factory=tuple_row) as cur:
        rows = cur.execute("SELECT device_id, kind, status FROM devices").fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def set_password_hash(conn: Conn, *, device_id: str, mqtt_password_hash: str | None) -> bool:
    """Store a new broker credential hash (rotate) or clear it (revoke). False if no such device."""
    cur = conn.execute(
        "UPDATE devices SET mqtt_password_hash = %s, updated_at = now(),"
        " credential_issued_at = CASE WHEN %s::text IS NULL THEN NULL ELSE now() END WHERE device_id = %s",
        (mqtt_password_hash, mqtt_password_hash, device_id),
    )
    return cur.rowcount == 1


def has_credential(conn: Conn, *, device_id: str) -> bool:
    """True when the device holds a broker credential."""
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(
            "SELECT mqtt_password_hash IS NOT NULL FROM devices WHERE device_id = %s", (device_id,)
        ).fetchone()
    return bool(row and row[0])


#: Registry fields a field team may change after creation.
UPDATABLE = frozenset({"name", "site_id", "lat", "lon", "mobile", "expected_interval_s", "firmware"})


def update(conn: Conn, *, device_id: str, changes: dict[str, Any]) -> Device | None:
    """Change some of ``UPDATABLE`` on an active device; None when there is no such active device.

    ``ValueError`` for an unknown field, a non-positive interval or an unknown site.
    """
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise ValueError(f"cannot update {sorted(unknown)}; updatable: {sorted(UPDATABLE)}")
    if not changes:
        device = get(conn, device_id=device_id)
        return device if device is not None and device.status == "active" else None
    assignments = ", ".join(f"{name} = %({name})s" for name in sorted(changes))
    try:
        with conn.transaction(), conn.cursor(row_factory=class_row(Device)) as cur:
            return cur.execute(
                f"UPDATE devices SET {assignments}, updated_at = now()"  # noqa: S608 - names from UPDATABLE
                f" WHERE device_id = %(device_id)s AND status = 'active' RETURNING {_COLUMNS}",
                {**changes, "device_id": device_id},
            ).fetchone()
    except psycopg.errors.ForeignKeyViolation:
        raise ValueError(f"unknown site {changes.get('site_id')!r}") from None
    except psycopg.errors.CheckViolation:
        raise ValueError("expected_interval_s must be positive") from None


def retire(conn: Conn, *, device_id: str) -> bool:
    """Retire a device: its credential is cleared and further messages go to quarantine."""
    cur = conn.execute(
        "UPDATE devices SET status = 'retired', mqtt_password_hash = NULL, credential_issued_at = NULL,"
        " retired_at = coalesce(retired_at, now()), updated_at = now() WHERE device_id = %s",
        (device_id,),
    )
    return cur.rowcount == 1


def password_hashes(conn: Conn) -> dict[str, str]:
    """device_id -> broker hash of every active device with a credential (to rebuild the password file)."""
    with conn.cursor(row_factory=tuple_row) as cur:
        rows = cur.execute(
            "SELECT device_id, mqtt_password_hash FROM devices"
            " WHERE status = 'active' AND mqtt_password_hash IS NOT NULL"
        ).fetchall()
    return {r[0]: r[1] for r in rows}


def touch_seen(conn: Conn, *, device_ids: list[str], last_times: list[datetime], received: datetime) -> None:
    """Advance ``last_seen`` (device time) and ``last_received`` for devices that delivered readings."""
    conn.execute(
        "UPDATE devices d SET last_seen = GREATEST(d.last_seen, u.t), last_received = %s"
        " FROM unnest(%s::text[], %s::timestamptz[]) AS u(device_id, t) WHERE d.device_id = u.device_id",
        (received, device_ids, last_times),
    )
