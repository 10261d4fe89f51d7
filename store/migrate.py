"""Versioned forward migrations: ``store/migrations/NNNN_name.sql`` applied in order, each in its own transaction.

An advisory lock makes concurrent starts (several services at once) apply each migration exactly once.
"""

from __future__ import annotations

import re
from importlib import resources

import psycopg

_LOCK_KEY = 0x6B697073  # "kips"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def available() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every migration shipped with the package, in order."""
    out = []
    for entry in resources.files("store.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            out.append((int(match.group(1)), entry.name, entry.read_text()))
    return sorted(out)


def apply(url: str) -> list[str]:
    """Apply pending migrations; returns the names applied."""
    applied: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                " version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_version")}
            for version, name, text in available():
                if version in done:
                    continue
                with conn.transaction():
                    conn.execute(text)  # trusted file shipped with the package
                    conn.execute("INSERT INTO schema_version (version, name) VALUES (%s, %s)", (version, name))
                applied.append(name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied


def current_version(conn: psycopg.Connection[object]) -> int:
    """Highest applied migration version (0 when none)."""
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(row[0]) if row else 0  # type: ignore[index]
