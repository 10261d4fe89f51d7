"""Cluster-level administration: databases for the platform and for isolated test runs."""

from __future__ import annotations

import psycopg
from psycopg import sql

from store.db import Conn


def ensure_database(admin_url: str, name: str) -> bool:
    """Create database ``name`` unless it exists; True when it was created."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None:
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True


def drop_database(admin_url: str, name: str) -> None:
    """Drop database ``name`` (closing other sessions on it)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def vacuum_analyze(url: str) -> None:
    """``VACUUM ANALYZE`` the database at ``url``.

    Benchmarks call it after a bulk fill, so what they measure runs on settled tables (hint bits, visibility
    map and planner statistics in place) instead of racing the autovacuum the fill itself triggers.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def analyze(conn: Conn) -> None:
    """Refresh the planner statistics of the connected database (after a bulk fill)."""
    conn.execute("ANALYZE")


def hypertable_bytes(conn: Conn, table: str) -> int:
    """On-disk size of hypertable ``table``: its chunks with their indexes and TOAST."""
    row = conn.execute("SELECT hypertable_size(%s::regclass) AS b", (table,)).fetchone()
    if row is None or row["b"] is None:
        raise ValueError(f"{table!r} is not a hypertable")
    return int(row["b"])


def table_bytes(conn: Conn, table: str) -> int:
    """On-disk size of ``table`` with indexes and TOAST: its chunks' too when it is a hypertable."""
    row = conn.execute(
        "SELECT coalesce(hypertable_size(c.oid), pg_total_relation_size(c.oid)) AS b FROM pg_class c"
        " WHERE c.oid = to_regclass(%s)",
        (table,),
    ).fetchone()
    if row is None or row["b"] is None:
        raise ValueError(f"no table {table!r}")
    return int(row["b"])
