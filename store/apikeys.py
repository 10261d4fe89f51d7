"""API keys: stored as SHA-256 of a high-entropy token, looked up by a public prefix."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

import psycopg

Conn = psycopg.Connection[Any]
ROLES = ("operator", "researcher", "field", "admin")
_PREFIX_LEN = 8


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: int
    name: str
    role: str
    sites: list[str]


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(conn: Conn, *, name: str, role: str, sites: list[str] | None = None) -> tuple[ApiKey, str]:
    """Create a key; returns it and the token, which is shown once and never stored."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    prefix = secrets.token_hex(_PREFIX_LEN // 2)
    token = f"ks_{prefix}_{secrets.token_urlsafe(32)}"
    row = conn.execute(
        "INSERT INTO api_keys (name, role, prefix, key_hash, sites) VALUES (%s, %s, %s, %s, %s) RETURNING key_id",
        (name, role, prefix, _hash(token), sites or []),
    ).fetchone()
    if row is None:  # pragma: no cover
        raise RuntimeError("insert returned no row")
    return ApiKey(int(row["key_id"]), name, role, sites or []), token


def verify(conn: Conn, *, token: str) -> ApiKey | None:
    """The key a token belongs to, or None for an unknown, malformed or revoked token."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "ks" or len(parts[1]) != _PREFIX_LEN:
        return None
    row = conn.execute(
        "SELECT key_id, name, role, sites, key_hash FROM api_keys WHERE prefix = %s AND revoked_at IS NULL",
        (parts[1],),
    ).fetchone()
    if row is None or not hmac.compare_digest(row["key_hash"], _hash(token)):
        return None
    return ApiKey(int(row["key_id"]), row["name"], row["role"], list(row["sites"]))


def revoke(conn: Conn, *, key_id: int) -> bool:
    """Revoke a key; a running API, which trusts a key it verified moments ago, refuses it within seconds."""
    cur = conn.execute("UPDATE api_keys SET revoked_at = now() WHERE key_id = %s AND revoked_at IS NULL", (key_id,))
    return cur.rowcount == 1
