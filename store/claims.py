"""Claim codes: short-lived, single-use codes a device exchanges for its credentials.

Only a SHA-256 of the code is stored. Redemption is one conditional UPDATE, so two concurrent redemptions of
the same code cannot both succeed. Attempts are logged per client address for rate limiting.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import psycopg
from psycopg.rows import class_row, tuple_row

Conn = psycopg.Connection[Any]

#: No 0/O, 1/I/L, 2/Z, 5/S: codes are read off labels and typed on phones.
ALPHABET = "346789ABCDEFGHJKMNPQRTUVWXY"
_GROUPS = 3
_GROUP_LEN = 4  # 12 symbols of a 27-letter alphabet: about 57 bits


class ClaimState(StrEnum):
    """Why a code was not (or was) redeemed."""

    REDEEMED = "redeemed"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED = "used"


@dataclass(frozen=True, slots=True)
class Claim:
    claim_id: int
    code_hint: str
    device_id: str
    site_id: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    redeemed_at: datetime | None
    redeemed_by: str | None


_COLS = "claim_id, code_hint, device_id, site_id, created_by, created_at, expires_at, redeemed_at, redeemed_by"


def new_code() -> str:
    """A random code like ``K7QM-4XPD-R2WE``."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(_GROUPS * _GROUP_LEN))
    return "-".join(raw[i : i + _GROUP_LEN] for i in range(0, len(raw), _GROUP_LEN))


def normalise(code: str) -> str:
    """Upper case, dashes and spaces dropped then regrouped: what a person typed maps to the stored form."""
    raw = "".join(c for c in code.upper() if c not in "- ")
    return "-".join(raw[i : i + _GROUP_LEN] for i in range(0, len(raw), _GROUP_LEN))


def _hash(code: str) -> str:
    return hashlib.sha256(normalise(code).encode()).hexdigest()


def create(conn: Conn, *, device_id: str, site_id: str, created_by: str, valid_for: timedelta) -> tuple[Claim, str]:
    """A new claim for ``device_id``; returns it and the code (shown once, never stored)."""
    if valid_for <= timedelta(0):
        raise ValueError("a claim must be valid for a positive time")
    code = new_code()
    with conn.cursor(row_factory=class_row(Claim)) as cur:
        claim = cur.execute(
            f"INSERT INTO claims (code_hash, code_hint, device_id, site_id, created_by, expires_at)"  # noqa: S608
            f" VALUES (%s, %s, %s, %s, %s, now() + %s) RETURNING {_COLS}",
            (_hash(code), code[-4:], device_id, site_id, created_by, valid_for),
        ).fetchone()
    if claim is None:  # pragma: no cover - RETURNING always yields the row
        raise RuntimeError("insert returned no row")
    return claim, code


def find(conn: Conn, *, code: str) -> Claim | None:
    with conn.cursor(row_factory=class_row(Claim)) as cur:
        return cur.execute(f"SELECT {_COLS} FROM claims WHERE code_hash = %s", (_hash(code),)).fetchone()  # noqa: S608


def redeem(conn: Conn, *, code: str, by: str) -> tuple[ClaimState, Claim | None]:
    """Mark the claim used if it is unused and in its window; otherwise say why not."""
    with conn.cursor(row_factory=class_row(Claim)) as cur:
        claim = cur.execute(
            f"UPDATE claims SET redeemed_at = now(), redeemed_by = %s"  # noqa: S608
            f" WHERE code_hash = %s AND redeemed_at IS NULL AND expires_at > now() RETURNING {_COLS}",
            (by, _hash(code)),
        ).fetchone()
    if claim is not None:
        return ClaimState.REDEEMED, claim
    current = find(conn, code=code)
    if current is None:
        return ClaimState.UNKNOWN, None
    if current.redeemed_at is not None:
        return ClaimState.USED, current
    return ClaimState.EXPIRED, current


def list_claims(conn: Conn, *, sites: list[str] | None = None, limit: int = 100) -> list[Claim]:
    """Newest first, optionally limited to some sites."""
    with conn.cursor(row_factory=class_row(Claim)) as cur:
        return cur.execute(
            f"SELECT {_COLS} FROM claims WHERE %(s)s::text[] IS NULL OR site_id = ANY(%(s)s)"  # noqa: S608
            " ORDER BY claim_id DESC LIMIT %(n)s",
            {"s": sites, "n": limit},
        ).fetchall()


def record_attempt(conn: Conn, *, client: str, ok: bool, keep: timedelta = timedelta(hours=1)) -> None:
    """Log a redemption attempt and forget this client's attempts older than ``keep``."""
    conn.execute("DELETE FROM claim_attempts WHERE client = %s AND at < now() - %s", (client, keep))
    conn.execute("INSERT INTO claim_attempts (client, ok) VALUES (%s, %s)", (client, ok))


def recent_failures(conn: Conn, *, client: str, within: timedelta) -> int:
    """Failed attempts of a client in the last ``within``."""
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(
            "SELECT count(*) FROM claim_attempts WHERE client = %s AND NOT ok AND at > now() - %s",
            (client, within),
        ).fetchone()
    return int(row[0]) if row else 0


def expire_now(conn: Conn, *, claim_id: int) -> bool:
    """End a claim's window at once (an operator withdrawing a code)."""
    cur = conn.execute(
        "UPDATE claims SET expires_at = greatest(created_at + interval '1 microsecond', now() - interval '1 second')"
        " WHERE claim_id = %s AND redeemed_at IS NULL",
        (claim_id,),
    )
    return cur.rowcount == 1
