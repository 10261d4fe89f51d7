"""Exceedance days on a constructed year match the answer worked out by hand."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from kipsense import exceedance
from kipsense.cli import main
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
    # Hourly stations: a reading per hour is a valid hour. ex-full has 329 clean days (90.1 % of 365: a verdict)
    # and ex-short 328 (89.9 %: none); ex-breach has only 40 days, 36 of them above 50 (more than the 35 allowed).
    for device in ("ex-full", "ex-short", "ex-breach"):
        devices.create(conn, device_id=device, kind=DeviceKind.DUST, expected_interval_s=3600)
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
    for device, n in (("ex-full", 329), ("ex-short", 328)):
        rows += [r for i in range(n) for r in _day(device, jan1 + timedelta(days=i), 20.0, 10.0, per_hour=1)]
    for i in range(40):
        rows += _day("ex-breach", jan1 + timedelta(days=i), 60.0 if i < 36 else 20.0, 10.0, per_hour=1)
    with conn.transaction():
        readings.write_records(conn, rows, received_at=datetime.now(UTC))
    rollups.refresh(conn, source="dust_readings")


def _by_device(rows: list[exceedance.ExceedanceRow], metric: str) -> dict[str, exceedance.ExceedanceRow]:
    return {r.device_id: r for r in rows if r.metric == metric}


@pytest.mark.usefixtures("year_2023")
def test_current_directive(conn: Conn) -> None:
    rows = exceedance.report(conn, year=2023, limit_set="current")
    pm10 = _by_device(rows, "pm10")
    assert set(pm10) == {"ex-a", "ex-b", "ex-full", "ex-short", "ex-breach"} and {r.metric for r in rows} == {"pm10"}
    a = pm10["ex-a"]
    assert (a.valid_days, a.exceedance_days, a.max_daily_mean, a.limit, a.allowed_days) == (41, 6, 60.0, 50.0, 35)
    assert a.data_capture == round(41 / 365, 4) and a.min_data_capture == 0.9
    b = pm10["ex-b"]
    assert (b.valid_days, b.exceedance_days, b.max_daily_mean) == (0, 0, None)


@pytest.mark.usefixtures("year_2023")
def test_verdict_needs_90_percent_data_capture(conn: Conn) -> None:
    pm10 = _by_device(exceedance.report(conn, year=2023, limit_set="current"), "pm10")
    verdicts = {d: (r.valid_days, r.exceedance_days, r.verdict, r.complies) for d, r in pm10.items()}
    assert verdicts == {
        "ex-a": (41, 6, "insufficient data", None),  # 11 % of the year proves nothing about the rest
        "ex-b": (0, 0, "insufficient data", None),
        "ex-full": (329, 0, "complies", True),
        "ex-short": (328, 0, "insufficient data", None),
        "ex-breach": (40, 36, "exceeds", False),  # missing days could only add exceedances
    }
    lenient = _by_device(exceedance.report(conn, year=2023, limit_set="current", min_capture=0.1), "pm10")
    assert (lenient["ex-a"].verdict, lenient["ex-a"].complies) == ("complies", True)
    with pytest.raises(ValueError, match="min_capture"):
        exceedance.report(conn, year=2023, limit_set="current", min_capture=0.0)


@pytest.mark.usefixtures("year_2023")
def test_cli_prints_no_verdict_without_data(conn: Conn, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["exceedance", "report", "--year", "2023", "--url", database_url, "--no-refresh"]
    assert main(args) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert lines["ex-a"].endswith("(11.2%) insufficient data (a verdict needs 90%)")
    assert lines["ex-full"].endswith("(90.1%) complies") and lines["ex-breach"].endswith("EXCEEDS")
    assert main([*args, "--csv"]) == 0
    parsed = {r["device_id"]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert (parsed["ex-a"]["verdict"], parsed["ex-a"]["complies"]) == ("insufficient data", "")
    assert (parsed["ex-breach"]["verdict"], parsed["ex-breach"]["complies"]) == ("exceeds", "False")


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
    assert len(parsed) == 10 and parsed[0]["year"] == "2023"
    first = {(r["device_id"], r["metric"], r["exceedance_days"]) for r in parsed if r["device_id"] in ("ex-a", "ex-b")}
    assert first == {
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
