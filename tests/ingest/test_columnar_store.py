"""Batches written through the columnar fast path store exactly the rows the strict path stores.

Each generated batch (several messages, duplicates of a key within and across messages, now and then a
message only the strict decoder takes) is decoded twice: by the strict decoder for one device and by the
worker's path (fast path, strict fallback) for another. Both are committed through ``ingest.batch.commit``,
then committed again (a redelivery); the stored rows, counts, recorded conflicts and quarantine reasons must be
the same, and every reading of an accepted message must be accounted for: stored as sent, or recorded as a
conflict beside the stored values (nothing dropped silently).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ingest import batch as batches
from ingest.batch import Message
from ingest.decoders import DecodeError, columnar, native_json
from ingest.decoding import Outcome
from kipsense.records import DeviceKind
from store import conflicts, readings
from store.db import Conn, connect
from store.quarantine import QuarantineItem
from tests.ingest.decoders.test_columnar import NOW, NOW_MS, WINDOW, plain_batches

_TABLES = {DeviceKind.DUST: "dust_readings", DeviceKind.MET: "met_readings", DeviceKind.CYCLER: "cycler_samples"}
_DEVICES = itertools.count()


@st.composite
def clashing_batches(draw: st.DrawFn) -> tuple[DeviceKind, bytes]:
    """Dust readings whose timestamps collide often, within a message and across messages."""
    keys = draw(st.lists(st.sampled_from(["pm1", "pm25", "pm10", "rh", "seq"]), min_size=1, max_size=3, unique=True))
    readings = []
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        reading: dict[str, Any] = {"ts": NOW_MS - 1_000 + draw(st.integers(min_value=0, max_value=15))}
        for key in keys:
            reading[key] = draw(st.integers(min_value=0, max_value=99) if key == "seq" else st.floats(0.0, 100.0))
        readings.append(reading)
    if draw(st.integers(min_value=0, max_value=5)) == 0:
        readings[-1]["pm10"] = None  # only the strict path takes a null
    return DeviceKind.DUST, json.dumps(readings).encode()


def _strict(kind: DeviceKind, payload: bytes, device: str) -> Outcome:
    try:
        return Outcome(native_json.decode(payload, topic_device=device, kind=kind, received_at=NOW, window=WINDOW))
    except DecodeError as exc:
        item = QuarantineItem(f"sensors/{device}/json", device, exc.reason.value, exc.detail, payload, NOW)
        return Outcome(quarantined=item)


def _worker_path(kind: DeviceKind, payload: bytes, device: str) -> Outcome:
    oldest, latest = WINDOW.bounds(NOW)
    block = columnar.decode(payload, topic_device=device, kind=kind, received_at=NOW, oldest=oldest, latest=latest)
    return Outcome(block=block) if block is not None else _strict(kind, payload, device)


def _messages(outcomes: list[Outcome], device: str) -> list[Message]:
    messages = []
    for mid, outcome in enumerate(outcomes, 1):
        msg = Message(mid, 1, f"sensors/{device}/json", b"", NOW, 0.0, 1)
        msg.outcome = outcome
        messages.append(msg)
    return messages


def _stored(conn: Conn, table: str, device: str) -> list[tuple[Any, ...]]:
    rows = conn.execute(f"SELECT * FROM {table} WHERE device_id = %s ORDER BY time", (device,)).fetchall()  # noqa: S608
    return [tuple(repr(v) for k, v in row.items() if k not in ("device_id", "received_at")) for row in rows]


@pytest.fixture(scope="module")
def conn(database_url: str) -> Any:
    with connect(database_url, autocommit=True) as c:
        yield c


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(batch=st.lists(st.one_of(clashing_batches(), plain_batches()), min_size=1, max_size=5))
def test_fast_and_strict_paths_store_the_same_rows(conn: Conn, batch: list[tuple[DeviceKind, bytes]]) -> None:
    n = next(_DEVICES)
    strict_dev, fast_dev = f"s{n}", f"f{n}"
    strict = [_strict(kind, payload, strict_dev) for kind, payload in batch]
    fast = [_worker_path(kind, payload, fast_dev) for kind, payload in batch]
    assert [o.quarantined.reason if o.quarantined else None for o in fast] == [
        o.quarantined.reason if o.quarantined else None for o in strict
    ]
    event("fast path taken" if any(o.block is not None for o in fast) else "strict path only")
    for attempt in range(2):  # the second commit is a redelivery: nothing new
        s = batches.commit(conn, _messages(strict, strict_dev), worker="test")
        f = batches.commit(conn, _messages(fast, fast_dev), worker="test")
        assert (f.offered, f.inserted, f.rejected, f.conflicts) == (s.offered, s.inserted, s.rejected, s.conflicts)
        event("duplicates within the batch" if s.inserted < s.offered and attempt == 0 else "no duplicates")
        event("conflicts" if s.conflicts and attempt == 0 else "no conflicts")
        if attempt:
            assert (f.inserted, f.conflicts) == (s.inserted, s.conflicts) == (0, 0)
        assert [q.reason for q in f.quarantined] == [q.reason for q in s.quarantined]
    for table in sorted({_TABLES[kind] for kind, _ in batch}):
        assert _stored(conn, table, fast_dev) == _stored(conn, table, strict_dev)
    assert _conflicts(conn, fast_dev) == _conflicts(conn, strict_dev)
    for device, outcomes in ((strict_dev, strict), (fast_dev, fast)):
        _assert_accounted_for(conn, device, outcomes)


def _conflicts(conn: Conn, device: str) -> list[tuple[Any, ...]]:
    rows = conflicts.recent(conn, device_id=device, limit=10_000)
    return sorted((r.source_table, r.time, repr(r.stored), repr(r.offered), r.repeats) for r in rows)


def _values(record: Any) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(record).items() if k not in ("device_id", "time")}


def _assert_accounted_for(conn: Conn, device: str, outcomes: list[Outcome]) -> None:
    """Each reading of an accepted message is stored as sent or recorded as a conflict with its values."""
    stored: dict[Any, dict[str, Any]] = {}
    for table in _TABLES.values():
        rows = conn.execute(f"SELECT * FROM {table} WHERE device_id = %s", (device,)).fetchall()  # noqa: S608
        stored.update({(table, r["time"]): {k: v for k, v in r.items() if k not in ("device_id", "time", "received_at")}
                       for r in rows})  # fmt: skip
    offered = [(r.source_table, r.time, r.offered) for r in conflicts.recent(conn, device_id=device, limit=10_000)]
    for outcome in outcomes:
        for record in outcome.all_records():
            table = readings.TABLES[type(record)].name
            values = _values(record)  # == compares JSON's 0 with 0.0 as equal, as the database does
            if stored.get((table, record.time)) != values:
                assert (table, record.time, values) in offered, f"{record} vanished"
