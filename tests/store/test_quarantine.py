"""Quarantine storage: a bounded prefix with size and hash, counted suppression, retention by the maintenance loop."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from kipsense import cli
from kipsense.maintenance import MaintenanceSettings, apply_retention
from store import quarantine, retention
from store.db import Conn, connect
from store.quarantine import QuarantineItem

pytestmark = pytest.mark.stack

NOW = datetime(2026, 6, 15, 12, 0, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def conn(database_url: str) -> Iterator[Conn]:
    with connect(database_url, autocommit=True) as c:
        yield c


def _item(device: str, payload: bytes, at: datetime, *, suppressed: bool = False) -> QuarantineItem:
    return QuarantineItem(f"sensors/{device}/json", device, "oversized", "too big", payload, at, suppressed)


def test_rows_keep_a_prefix_with_full_size_and_hash(conn: Conn) -> None:
    big = bytes(range(256)) * 40  # 10,240 bytes
    with conn.transaction():
        quarantine.add_many(conn, [_item("qs-a", big, NOW), _item("qs-a", b"{", NOW)], worker="w", keep_bytes=100)
    rows = {r.payload_size: r for r in quarantine.recent(conn, device_id="qs-a")}
    assert bytes(rows[len(big)].payload) == big[:100] and rows[len(big)].truncated
    assert bytes(rows[len(big)].payload_sha256) == hashlib.sha256(big).digest()
    assert bytes(rows[1].payload) == b"{" and not rows[1].truncated


def test_suppressed_items_are_counted_per_device_reason_and_minute(conn: Conn) -> None:
    items = [_item("qs-b", b"x" * 10, NOW + timedelta(seconds=i), suppressed=True) for i in range(40)]
    with conn.transaction():
        quarantine.add_many(conn, items[:25], keep_bytes=100)
    with conn.transaction():
        quarantine.add_many(conn, items[25:], keep_bytes=100)
    assert quarantine.recent(conn, device_id="qs-b") == []
    rows = quarantine.suppressed(conn, device_id="qs-b")
    # 12:00:30 + 0..39 s spans two minutes: 30 messages in the first, 10 in the second.
    assert [(r.period.minute, r.messages, r.bytes) for r in rows] == [(1, 10, 100), (0, 30, 300)]
    assert rows[1].first_at == NOW and rows[0].last_at == NOW + timedelta(seconds=39)
    assert quarantine.suppressed_by_reason(conn)["oversized"] == 40


def test_retention_is_listed_and_applied_by_the_maintenance_loop(
    conn: Conn, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    policies = {p.hypertable: p for p in retention.policies(conn)}
    assert policies["quarantine"].keep_days == 30 and policies["quarantine_suppressed"].keep_days == 90
    assert cli.main(["retention", "show", "--url", database_url]) == 0
    listed = capsys.readouterr().out
    assert "quarantine " in listed and "quarantine_suppressed" in listed

    old, fresh = NOW - timedelta(days=100), NOW - timedelta(hours=1)
    with conn.transaction():
        quarantine.add_many(conn, [_item("qs-c", b"old", old), _item("qs-c", b"new", fresh)], keep_bytes=100)
        quarantine.add_many(conn, [_item("qs-c", b"old", old, suppressed=True)], keep_bytes=100)
        quarantine.add_many(conn, [_item("qs-c", b"new", fresh, suppressed=True)], keep_bytes=100)
    dropped, _ = apply_retention(conn, MaintenanceSettings(compression=False), now=NOW)
    assert {d.hypertable for d in dropped if d.chunks} >= {"quarantine", "quarantine_suppressed"}
    assert [bytes(r.payload) for r in quarantine.recent(conn, device_id="qs-c")] == [b"new"]
    assert [r.period for r in quarantine.suppressed(conn, device_id="qs-c")] == [fresh.replace(second=0)]
