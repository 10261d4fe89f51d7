"""Sparkplug B decoding state per edge node, kept so that a restarted ingest worker can name DATA by alias.

The state is opaque JSON to the store (``ingest.decoders.sparkplug.NodeState.to_json``); it is written in the
same transaction as the batch whose messages changed it, so what is stored always matches what was committed
and acknowledged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

Conn = psycopg.Connection[Any]


def load(conn: Conn) -> dict[str, dict[str, Any]]:
    """``node_key -> state`` of every edge node with a stored state."""
    rows = conn.execute("SELECT node_key, state FROM sparkplug_nodes").fetchall()
    return {r["node_key"]: r["state"] for r in rows}


def save(conn: Conn, states: Mapping[str, dict[str, Any] | None]) -> None:
    """Upsert the given nodes' states; a ``None`` state removes the node (it died)."""
    gone = sorted(k for k, v in states.items() if v is None)
    kept = sorted((k, v) for k, v in states.items() if v is not None)
    with conn.cursor() as cur:
        if kept:
            cur.executemany(
                "INSERT INTO sparkplug_nodes (node_key, state) VALUES (%s, %s) ON CONFLICT (node_key)"
                " DO UPDATE SET state = EXCLUDED.state, updated_at = now()",
                [(k, Jsonb(v)) for k, v in kept],
            )
        if gone:
            cur.execute("DELETE FROM sparkplug_nodes WHERE node_key = ANY(%s)", (gone,))
