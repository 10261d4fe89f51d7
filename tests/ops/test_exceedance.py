"""Exceedance days on a constructed year match the answer worked out by hand."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from kipsense import exceedance
from kipsense.records import DeviceKind, DustReading
from store import devices, readings, rollups
from store import exceedance as store_exceedance
from store.db import Conn, connect

pytestmark = pytest.mark.stack

STEP = 600  # a sample every 10 minutes: 6 per hour, an hour is valid with 5 (75 % of 6 is 4.5)


def _day(
    device: str, day: date, pm10: float, pm25: float, hours: range = range(24), per_hour: int = 6
) -> list[DustReading]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return [
        DustReading(device, start + timedelta(hours=h, seconds=STEP * k), pm10=pm10, pm25=pm25)
        for h in hours
        for k in range(per_hour)
    ]


@pytest.fixture(scope="module")
def conn(database_url: str) -> Iterator[Conn]:
    with connect(database_url, autocommit=True) as c:
        yield c


@pytest.fixture(scope="module")
def year_2023(conn: Conn) -> None:
    """Station ``ex-a`` in 2023, day by day (hand count in the test below)."""
    devices.create(conn, device_id="ex-a", kind=DeviceKind.DUST, expected_interval_s=STEP)
    devices.create(conn, device_id="ex-b", kind=DeviceKind.DUST, expected_interval_s=STEP)  # no data at all
    devices.create(conn, device_id="ex-mobile", kind=DeviceKind.DUST, expected_interval_s=STEP, mobile=True)
    jan1 = date(2023, 1, 1)
    rows: list[DustReading] = []
    for i in range(30):  # 30 clean days
        rows += _day("ex-a", jan1 + timedelta(days=i), 20.0, 10.0)
    for i in range(5):  # above both PM10 limits and the 2030 PM2.5 limit
        rows += _day("ex-a", date(2023, 3, 1) + timedelta(days=i), 60.0, 30.0)
    for i in range(4):  # above 45 (2030) but not above 50 (current)
        rows += _day("ex-a", date(2023, 4, 1) + timedelta(days=i), 47.0, 20.0)
    rows += _day("ex-a", date(2023, 5, 1), 55.0, 28.0, hours=range(18))  # 18 valid hours: a valid day
    rows += _day("ex-a", date(2023, 5, 2), 90.0, 90.0, hours=range(17))  # 17 hours: no daily mean
    rows += _day("ex-a", date(2023, 5, 3), 90.0, 90.0, per_hour=4)  # every hour short of capture
    rows += _day("ex-a", date(2023, 5, 4), 50.0, 10.0)  # equal to the current limit is not above it
    rows += _day("ex-a", date(2022, 12, 31), 90.0, 90.0)  # other years
    rows += _day("ex-a", date(2024, 1, 1), 90.0, 90.0)
    rows += _day("ex-mobile", date(2023, 3, 1), 90.0, 90.0)  # mobile sensors are not stations
    with conn.transaction():
        readings.write_records(conn, rows, received_at=datetime.now(UTC))
    rollups.refresh(conn, source="dust_readings")


def _by_device(rows: list[exceedance.ExceedanceRow], metric: str) -> dict[str, exceedance.ExceedanceRow]:
    return {r.device_id: r for r in rows if r.metric == metric}


@pytest.mark.usefixtures("year_2023")
def test_current_directive(conn: Conn) -> None:
    rows = exceedance.report(conn, year=2023, limit_set="current")
    pm10 = _by_device(rows, "pm10")
    assert set(pm10) == {"ex-a", "ex-b"} and {r.metric for r in rows} == {"pm10"}
    a = pm10["ex-a"]
    assert (a.valid_days, a.exceedance_days, a.max_daily_mean, a.limit, a.allowed_days) == (41, 6, 60.0, 50.0, 35)
    assert a.complies is True and a.data_capture == round(41 / 365, 4)
    b = pm10["ex-b"]
    assert (b.valid_days, b.exceedance_days, b.max_daily_mean) == (0, 0, None)


@pytest.mark.usefixtures("year_2023")
def test_2030_values(conn: Conn) -> None:
    rows = exceedance.report(conn, year=2023, limit_set="2030")
    pm10, pm25 = _by_device(rows, "pm10")["ex-a"], _by_device(rows, "pm25")["ex-a"]
    assert (pm10.limit, pm10.exceedance_days, pm10.allowed_days) == (45.0, 11, 18)
    assert (pm25.limit, pm25.valid_days, pm25.exceedance_days, pm25.max_daily_mean) == (25.0, 41, 6, 30.0)


@pytest.mark.usefixtures("year_2023")
def test_daily_means_follow_the_capture_rule(conn: Conn) -> None:
    means = {m.day: m for m in store_exceedance.daily_means(conn, year=2023, metric="pm10") if m.device_id == "ex-a"}
    assert means[date(2023, 5, 1)].valid_hours == 18 and means[date(2023, 5, 1)].mean == 55.0
    assert date(2023, 5, 2) not in means and date(2023, 5, 3) not in means
    lenient = store_exceedance.daily_means(conn, year=2023, metric="pm10", hour_capture=0.5, min_hours=17)
    assert {m.day for m in lenient} >= {date(2023, 5, 2), date(2023, 5, 3)}


@pytest.mark.usefixtures("year_2023")
def test_days_follow_the_time_zone(conn: Conn) -> None:
    # In UTC+5 the last five hours of 2022-12-31 (UTC) fall on 2023-01-01, which has 19 hours of the clean day.
    means = store_exceedance.daily_means(conn, year=2023, metric="pm10", tz="Asia/Karachi")
    first = next(m for m in means if m.device_id == "ex-a")
    assert first.day == date(2023, 1, 1) and first.valid_hours == 24
    assert first.mean == pytest.approx((5 * 90 + 19 * 20) / 24)


@pytest.mark.usefixtures("year_2023")
def test_csv(conn: Conn) -> None:
    text = exceedance.to_csv(exceedance.report(conn, year=2023, limit_set="2030"))
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert len(parsed) == 4 and parsed[0]["year"] == "2023"
    assert {(r["device_id"], r["metric"], r["exceedance_days"]) for r in parsed} == {
        ("ex-a", "pm10", "11"),
        ("ex-a", "pm25", "6"),
        ("ex-b", "pm10", "0"),
        ("ex-b", "pm25", "0"),
    }
    assert next(r for r in parsed if r["device_id"] == "ex-b")["max_daily_mean"] == ""


def test_bad_arguments(conn: Conn) -> None:
    with pytest.raises(ValueError, match="limit set"):
        exceedance.report(conn, year=2023, limit_set="2040")
    with pytest.raises(ValueError, match="time zone"):
        exceedance.report(conn, year=2023, limit_set="current", tz="Mars/Olympus")
    with pytest.raises(ValueError, match="rolled-up"):
        store_exceedance.daily_means(conn, year=2023, metric="battery")
