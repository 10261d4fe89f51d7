"""Stored Sparkplug B decoding state: whole states, seq-only updates, forgetting a node, and the round trip."""

from __future__ import annotations

import pytest

from ingest.decoders.sparkplug import NodeState
from store import sparkplug_nodes
from store.db import connect

pytestmark = pytest.mark.stack


def test_states_round_trip_and_seq_moves_alone(database_url: str) -> None:
    node = NodeState(aliases={1: ("FIC101.PV", 10), 2: ("Running", 11)}, device_aliases={"pump": {7: ("rpm", 9)}})
    node.last_seq, node.bd_seq = 4, 2
    with connect(database_url) as conn:
        sparkplug_nodes.save(conn, {"g/a": node.to_json(), "g/b": NodeState().to_json()})
        sparkplug_nodes.save(conn, {}, seqs={"g/a": 5, "g/b": None, "g/unknown": 1})
        conn.commit()
        loaded = sparkplug_nodes.load(conn)
        assert set(loaded) == {"g/a", "g/b"}
        restored = NodeState.from_json(loaded["g/a"])
        assert (restored.aliases, restored.device_aliases) == (node.aliases, node.device_aliases)
        assert (restored.last_seq, restored.bd_seq) == (5, 2)
        assert NodeState.from_json(loaded["g/b"]).last_seq is None
        sparkplug_nodes.save(conn, {"g/a": None})
        conn.commit()
        assert set(sparkplug_nodes.load(conn)) == {"g/b"}
