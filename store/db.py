"""Connections."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

Conn = psycopg.Connection[dict[str, Any]]


def connect(url: str, *, autocommit: bool = False, application_name: str = "kipsense") -> Conn:
    """A connection returning rows as dicts."""
    return psycopg.connect(url, autocommit=autocommit, row_factory=dict_row, application_name=application_name)


def ping(conn: Conn) -> bool:
    """True when the server answers."""
    return conn.execute("SELECT 1 AS ok").fetchone() is not None
