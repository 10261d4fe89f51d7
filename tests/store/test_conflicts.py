"""The write path keeps the first reading of a key and records every different later one, for every table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kipsense.records import CyclerSample, DustReading, MetReading, ProcessValue, Record
from store import conflicts, readings
from store.db import connect

T = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


@dataclass(frozen=True)
class Msg:
    topic: str
    received_at: datetime
    payload: bytes


@pytest.fixture(scope="module")
def conn(database_url: str) -> Any:
    with connect(database_url, autocommit=True) as c:
        yield c


def _write(conn: Any, records: list[Record], msg: Msg | None = None) -> readings.WriteStats:
    with conn.transaction():
        sources = None if msg is None else [msg] * len(records)
        return readings.write_records(conn, records, received_at=T, sources=sources, worker="w1")


@pytest.mark.parametrize(
    ("table", "first", "other", "column"),
    [
        ("dust_readings", DustReading("s-d", T, pm10=1.0, seq=1), DustReading("s-d", T, pm10=2.0, seq=1), "pm10"),
        ("met_readings", MetReading("s-m", T, wind_speed=1.0), MetReading("s-m", T, wind_speed=1.0, seq=9), "seq"),
        ("cycler_samples", CyclerSample("s-c", T, voltage=3.7), CyclerSample("s-c", T, step_type="rest"), "voltage"),
        ("process_values", ProcessValue("s-p", T, "A", 1.0), ProcessValue("s-p", T, "A", 1.0, quality=0), "quality"),
    ],
)
def test_a_different_reading_at_a_stored_key_is_recorded_once_with_both_values(
    conn: Any, table: str, first: Record, other: Record, column: str
) -> None:
    msg = Msg(f"sensors/{first.device_id}/json", T + timedelta(seconds=5), b"second")
    assert _write(conn, [first]).inserted == 1
    again = _write(conn, [first, other], msg)  # a redelivery of the first and one conflicting reading
    assert (again.offered, again.inserted, again.conflicts) == (2, 0, 1)
    assert _write(conn, [other], msg).conflicts == 0  # the same conflicting reading again: a repeat
    assert readings.count(conn, table=table, device_id=first.device_id) == 1
    [c] = conflicts.recent(conn, device_id=first.device_id)
    assert (c.source_table, c.device_id, c.time, c.tag) == (table, first.device_id, T, getattr(first, "tag", ""))
    assert c.stored[column] == getattr(first, column)
    assert c.offered[column] == getattr(other, column)
    assert (c.topic, c.received_at, c.worker, c.repeats) == (msg.topic, msg.received_at, "w1", 2)
    assert conflicts.counts_by_table(conn)[table] >= 1


def test_two_different_readings_of_one_key_in_one_batch_keep_the_first(conn: Any) -> None:
    rows: list[Record] = [DustReading("s-b", T, pm10=float(v)) for v in (5, 6, 5, 7)]
    stats = _write(conn, rows, Msg("sensors/s-b/json", T, b"x"))
    assert (stats.inserted, stats.conflicts) == (1, 2)  # 6 and 7 recorded, the second 5 is a duplicate
    kept = conn.execute("SELECT pm10 FROM dust_readings WHERE device_id = 's-b'").fetchall()
    assert [r["pm10"] for r in kept] == [5.0]
    assert sorted(c.offered["pm10"] for c in conflicts.recent(conn, device_id="s-b")) == [6, 7]


def test_a_write_without_message_references_still_records_conflicts(conn: Any) -> None:
    _write(conn, [DustReading("s-n", T, pm25=1.0)])
    assert _write(conn, [DustReading("s-n", T, pm25=1.5)]).conflicts == 1
    [c] = conflicts.recent(conn, device_id="s-n")
    assert (c.topic, c.received_at) == ("", T)


def test_recent_filters_by_devices_and_time(conn: Any) -> None:
    _write(conn, [DustReading("s-f", T, pm1=1.0)])
    _write(conn, [DustReading("s-f", T, pm1=2.0)])
    assert [c.device_id for c in conflicts.recent(conn, device_ids=["s-f", "nobody"])] == ["s-f"]
    assert conflicts.recent(conn, device_ids=["nobody"]) == []
    assert conflicts.recent(conn, device_id="s-f", since=datetime.now(UTC) + timedelta(minutes=1)) == []
