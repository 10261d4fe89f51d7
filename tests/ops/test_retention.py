"""Retention drops exactly the chunks past the horizon; compression is refused on the Apache edition."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from kipsense.records import DustReading, MetReading
from store import readings, retention
from store.db import Conn, connect

pytestmark = pytest.mark.stack

NOW = datetime(2024, 6, 15, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def conn(database_url: str) -> Iterator[Conn]:
    with connect(database_url, autocommit=True) as c:
        yield c


def _times(hours: int) -> list[datetime]:
    return [NOW - timedelta(hours=h) for h in range(hours)]


def _count(conn: Conn, table: str, since: datetime | None = None) -> int:
    row = conn.execute(
        f"SELECT count(*) AS n FROM {table} WHERE %(s)s::timestamptz IS NULL OR time >= %(s)s",  # noqa: S608
        {"s": since},
    ).fetchone()
    assert row is not None
    return int(row["n"])


def test_drops_only_chunks_past_the_horizon(conn: Conn) -> None:
    times = _times(10 * 24)
    with conn.transaction():
        readings.write_records(conn, [DustReading("ret-a", t, pm10=1.0) for t in times], received_at=NOW)
        readings.write_records(conn, [MetReading("ret-m", t, wind_speed=1.0) for t in times], received_at=NOW)
    before = retention.chunks(conn, hypertable="dust_readings")
    retention.set_policy(conn, hypertable="dust_readings", keep_days=5, compress_after_days=None)

    dropped = retention.drop_expired(conn, now=NOW, only={"dust_readings"})

    horizon = NOW - timedelta(days=5)
    assert [d.hypertable for d in dropped] == ["dust_readings"] and dropped[0].horizon == horizon
    expired = {c.chunk for c in before if c.range_end <= horizon}
    assert expired and {name.rsplit(".", 1)[-1] for name in dropped[0].chunks} == expired
    after = retention.chunks(conn, hypertable="dust_readings")
    assert {c.chunk for c in after} == {c.chunk for c in before} - expired
    assert all(c.range_end > horizon for c in after)
    # The chunk holding the horizon stays whole: rows from its start on are all still there.
    first_kept = min(c.range_start for c in after)
    assert first_kept < horizon
    assert (
        _count(conn, "dust_readings")
        == _count(conn, "dust_readings", first_kept)
        == sum(t >= first_kept for t in times)
    )
    assert _count(conn, "met_readings") == len(times)  # another table's policy was not applied

    assert retention.drop_expired(conn, now=NOW, only={"dust_readings"})[0].chunks == ()  # idempotent


def test_policy_without_horizon_keeps_everything(conn: Conn) -> None:
    retention.set_policy(conn, hypertable="met_readings", keep_days=None, compress_after_days=None)
    n = _count(conn, "met_readings")
    assert retention.drop_expired(conn, now=NOW + timedelta(days=3650), only={"met_readings"}) == []
    assert _count(conn, "met_readings") == n


def test_bad_policies_are_refused(conn: Conn) -> None:
    with pytest.raises(ValueError, match="not a hypertable"):
        retention.set_policy(conn, hypertable="devices", keep_days=1, compress_after_days=None)
    with pytest.raises(ValueError, match="positive"):
        retention.set_policy(conn, hypertable="dust_readings", keep_days=0, compress_after_days=None)


def test_apache_edition_has_no_native_compression(conn: Conn) -> None:
    assert retention.edition(conn) == "apache"
    with pytest.raises(RuntimeError, match="licensed"):
        retention.enable_compression(conn, hypertable="dust_readings", compress_after_days=7)
    assert not retention.compressed(conn, hypertable="dust_readings")
