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


def save(
    conn: Conn, states: Mapping[str, dict[str, Any] | None], *, seqs: Mapping[str, int | None] | None = None
) -> None:
    """Upsert the given nodes' states (``None``: the node died, forget it); for the nodes in ``seqs`` only
    the stored ``seq`` changes (their alias tables, the large part, stay as they are)."""
    gone = sorted(k for k, v in states.items() if v is None)
    kept = sorted((k, v) for k, v in states.items() if v is not None)
    moved = sorted((seqs or {}).items())
    with conn.cursor() as cur:
        if moved:
            cur.executemany(
                "UPDATE sparkplug_nodes SET updated_at = now(),"
                " state = jsonb_set(state, '{seq}', coalesce(to_jsonb(%s::integer), 'null'::jsonb))"
                " WHERE node_key = %s",
                [(seq, key) for key, seq in moved],
            )
        if kept:
            cur.executemany(
                "INSERT INTO sparkplug_nodes (node_key, state) VALUES (%s, %s) ON CONFLICT (node_key)"
                " DO UPDATE SET state = EXCLUDED.state, updated_at = now()",
                [(k, Jsonb(v)) for k, v in kept],
            )
        if gone:
            cur.execute("DELETE FROM sparkplug_nodes WHERE node_key = ANY(%s)", (gone,))
