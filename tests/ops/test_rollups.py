"""Rollups equal a direct ``time_bucket`` over the raw rows, also after late data, and the read path uses them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from psycopg import sql

from kipsense.records import DustReading, MetReading
from store import readings, rollups
from store.db import Conn, connect

pytestmark = pytest.mark.stack

START = datetime(2024, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def conn(database_url: str) -> Iterator[Conn]:
    with connect(database_url, autocommit=True) as c:
        yield c


def _dust(device: str, start: datetime, n: int, step_s: float, seed: int) -> list[DustReading]:
    rng = np.random.default_rng(seed)
    pm10 = rng.gamma(2.0, 15.0, n)
    pm25 = np.where(rng.random(n) < 0.1, np.nan, pm10 * 0.4)
    return [
        DustReading(
            device,
            start + timedelta(seconds=float(i * step_s)),
            pm10=float(pm10[i]),
            pm25=None if np.isnan(pm25[i]) else float(pm25[i]),
            temperature=float(10 + i % 7),
        )
        for i in range(n)
    ]


def _write(conn: Conn, records: list[Any], received_at: datetime | None = None) -> None:
    with conn.transaction():
        readings.write_records(conn, records, received_at=received_at or datetime.now(UTC))


def _raw(conn: Conn, table: str, device: str, metric: str, start: datetime, end: datetime, bucket_s: int) -> list[Any]:
    query = sql.SQL(
        "SELECT time_bucket(make_interval(secs => %s), time) AS b, avg({m}) AS mean, min({m}) AS mn, max({m}) AS mx,"
        " count({m}) AS n FROM {t} WHERE device_id = %s AND time >= %s AND time < %s GROUP BY b ORDER BY b"
    ).format(m=sql.Identifier(metric), t=sql.Identifier(table))
    return conn.execute(query, (bucket_s, device, start, end)).fetchall()


def _assert_equal(got: list[readings.Bucket] | None, want: list[Any]) -> None:
    assert got is not None
    assert [b.time for b in got] == [r["b"] for r in want]
    assert [b.count for b in got] == [r["n"] for r in want]
    assert [b.min for b in got] == [r["mn"] for r in want]
    assert [b.max for b in got] == [r["mx"] for r in want]
    for b, r in zip(got, want, strict=True):
        assert (b.mean is None and r["mean"] is None) or b.mean == pytest.approx(r["mean"], rel=1e-12)


def _assert_tables_match(conn: Conn, source: str, metric: str) -> None:
    for res, unit in ((60, "1 minute"), (3600, "1 hour")):
        table = sql.Identifier(rollups.rollup_table(source, res))
        got = conn.execute(
            sql.SQL(
                "SELECT device_id, bucket, {n} AS n, {mn} AS mn, {mx} AS mx, {s} AS s FROM {t} ORDER BY 1, 2"
            ).format(
                n=sql.Identifier(f"{metric}_n"),
                mn=sql.Identifier(f"{metric}_min"),
                mx=sql.Identifier(f"{metric}_max"),
                s=sql.Identifier(f"{metric}_sum"),
                t=table,
            )
        ).fetchall()
        want = conn.execute(
            sql.SQL(
                "SELECT device_id, time_bucket(%s::interval, time) AS bucket, count({m}) AS n, min({m}) AS mn,"
                " max({m}) AS mx, sum({m}) AS s FROM {raw} GROUP BY 1, 2 ORDER BY 1, 2"
            ).format(m=sql.Identifier(metric), raw=sql.Identifier(source)),
            (unit,),
        ).fetchall()
        assert [(r["device_id"], r["bucket"], r["n"], r["mn"], r["mx"]) for r in got] == [
            (r["device_id"], r["bucket"], r["n"], r["mn"], r["mx"]) for r in want
        ]
        for g, w in zip(got, want, strict=True):
            assert (g["s"] is None and w["s"] is None) or g["s"] == pytest.approx(w["s"], rel=1e-12)


def test_rollups_equal_time_bucket_including_late_data(conn: Conn) -> None:
    _write(conn, _dust("r-a", START, 1500, 10.0, 1) + _dust("r-b", START + timedelta(seconds=3), 900, 17.0, 2))
    stats = rollups.refresh(conn, source="dust_readings")
    assert stats.queued > 0 and stats.buckets == stats.queued and rollups.pending(conn, source="dust_readings") == 0
    for metric in ("pm10", "pm25", "temperature"):
        _assert_tables_match(conn, "dust_readings", metric)

    # Late data: a back-fill inside already rolled-up minutes (odd seconds never used above) and before them.
    late = [
        DustReading("r-a", START + timedelta(seconds=605 + 60 * i), pm10=500.0 + i, pm25=1.0) for i in range(30)
    ] + _dust("r-a", START - timedelta(hours=2), 200, 30.0, 3)
    _write(conn, late)
    assert rollups.refresh(conn, source="dust_readings").buckets > 0
    for metric in ("pm10", "pm25"):
        _assert_tables_match(conn, "dust_readings", metric)
    top = conn.execute("SELECT max(pm10_max) AS m FROM dust_rollup_1h WHERE device_id = 'r-a'").fetchone()
    assert top is not None and top["m"] == 529.0


def test_rows_committed_late_within_overlap_are_rolled_up(conn: Conn) -> None:
    rollups.refresh(conn, source="dust_readings")
    through = conn.execute("SELECT received_through FROM rollup_state WHERE source = 'dust_readings'").fetchone()
    assert through is not None
    # A worker's clock (received_at) two minutes behind the database's: still inside the overlap.
    _write(conn, [DustReading("r-c", START, pm10=7.0)], received_at=through["received_through"] - timedelta(minutes=2))
    rollups.refresh(conn, source="dust_readings")
    _assert_tables_match(conn, "dust_readings", "pm10")


@pytest.mark.parametrize("bucket_s", [60, 300, 3600, 86_400])
def test_read_path_equals_raw_time_bucket(conn: Conn, bucket_s: int) -> None:
    rollups.refresh(conn, source="dust_readings")
    start, end = START - timedelta(hours=3, seconds=17), START + timedelta(hours=4, seconds=31)  # unaligned ends
    got = rollups.bucketed(
        conn, table="dust_readings", device_id="r-a", metric="pm10", start=start, end=end, bucket_s=bucket_s
    )
    _assert_equal(got, _raw(conn, "dust_readings", "r-a", "pm10", start, end, bucket_s))
    via_readings = readings.bucketed(
        conn, table="dust_readings", device_id="r-a", metric="pm10", start=start, end=end, bucket_s=bucket_s
    )
    assert via_readings == got


def test_tail_not_yet_rolled_up_comes_from_raw(conn: Conn) -> None:
    rollups.refresh(conn, source="dust_readings")
    now = datetime.now(UTC).replace(microsecond=0)
    _write(conn, _dust("r-d", now - timedelta(hours=2), 120, 60.0, 4))
    rollups.refresh(conn, source="dust_readings")
    fresh = _dust("r-d", now + timedelta(seconds=1), 5, 1.0, 5)  # after the rollup pass, not yet rolled up
    _write(conn, fresh)
    start, end = now - timedelta(hours=3), now + timedelta(minutes=5)
    got = rollups.bucketed(
        conn, table="dust_readings", device_id="r-d", metric="pm10", start=start, end=end, bucket_s=60
    )
    _assert_equal(got, _raw(conn, "dust_readings", "r-d", "pm10", start, end, 60))


def test_no_rollup_for_sub_minute_buckets_or_other_metrics(conn: Conn) -> None:
    args: dict[str, Any] = {
        "table": "dust_readings",
        "device_id": "r-a",
        "start": START,
        "end": START + timedelta(hours=1),
    }
    assert rollups.bucketed(conn, metric="pm10", bucket_s=30, **args) is None
    assert rollups.bucketed(conn, metric="pm10", bucket_s=90, **args) is None
    assert rollups.bucketed(conn, metric="wind_dir", bucket_s=60, **args) is None
    assert rollups.bucketed(conn, metric="voltage", bucket_s=60, **{**args, "table": "cycler_samples"}) is None


def test_met_rollups(conn: Conn) -> None:
    met = [MetReading("m-a", START + timedelta(seconds=30 * i), wind_speed=float(i % 11), rh=50.0) for i in range(400)]
    _write(conn, met)
    rollups.refresh(conn, source="met_readings")
    _assert_tables_match(conn, "met_readings", "wind_speed")


def test_unknown_source_is_refused(conn: Conn) -> None:
    with pytest.raises(ValueError, match="has no rollups"):
        rollups.refresh(conn, source="cycler_samples")
