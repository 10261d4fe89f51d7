"""The yearly EU exceedance report of the dust network: one row per station and daily limit of a limit set.

Limit values come from ``models.dust.limit.LIMIT_SETS``. The number of days per calendar year on which a
daily limit may be exceeded is 35 for PM10 under 2008/50/EC and 18 for PM10 and PM2.5 under (EU) 2024/2881
from 2030.

A verdict needs enough data. Both directives ask fixed measurements for a minimum data capture of 90 %
(2008/50/EC Annex I A, (EU) 2024/2881 Annex V A) and count a calendar-year statistic as valid only with 90 %
of the values over the year (2008/50/EC Annex XI A); a daily mean itself needs 18 valid hours (see
``store.exceedance``). So the annual data capture is valid days / days of the calendar year, and:

- ``exceeds`` (``complies=False``) when the exceedance days already pass the allowed number: days without data
  could only add exceedances, so this holds at any data capture (also for a year still running);
- ``complies`` (``complies=True``) when they do not, and the data capture is at least ``min_capture`` (90 %);
- ``insufficient data`` (``complies=None``) otherwise: a station with 41 clean days has proved nothing about
  the other 324. The directives exclude losses to calibration and routine maintenance from the 90 %; the store
  cannot tell those apart from other gaps, so the rule is applied to all gaps (a conservative reading);
- ``no allowance`` (``complies=None``) for a daily limit without a number of allowed days.
"""

from __future__ import annotations

import calendar
import csv
import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg

from models.dust.limit import LIMIT_SETS
from store import exceedance as store_exceedance

DAY_S = 86_400.0

#: Days per calendar year a daily limit may be exceeded, by (limit set, metric).
ALLOWED_DAYS: dict[tuple[str, str], int] = {("current", "pm10"): 35, ("2030", "pm10"): 18, ("2030", "pm25"): 18}
#: Share of the calendar year's days with a valid daily mean that a "complies" verdict needs.
MIN_CAPTURE = 0.90

COMPLIES = "complies"
EXCEEDS = "exceeds"
INSUFFICIENT = "insufficient data"
NO_ALLOWANCE = "no allowance"


@dataclass(frozen=True, slots=True)
class ExceedanceRow:
    year: int
    limit_set: str
    metric: str
    limit: float
    allowed_days: int | None
    device_id: str
    site_id: str
    valid_days: int
    data_capture: float
    exceedance_days: int
    max_daily_mean: float | None
    min_data_capture: float
    verdict: str
    complies: bool | None


def verdict(*, exceedance_days: int, allowed_days: int | None, data_capture: float, min_capture: float) -> str:
    """The verdict on one station and limit (see the module docstring for the rule)."""
    if allowed_days is None:
        return NO_ALLOWANCE
    if exceedance_days > allowed_days:
        return EXCEEDS
    return COMPLIES if data_capture >= min_capture else INSUFFICIENT


def check_tz(tz: str) -> str:
    """``tz`` when it names an IANA time zone; ``ValueError`` otherwise."""
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {tz!r}") from None
    return tz


def report(
    conn: psycopg.Connection[Any],
    *,
    year: int,
    limit_set: str,
    tz: str = "UTC",
    hour_capture: float = 0.75,
    min_hours: int = 18,
    min_capture: float = MIN_CAPTURE,
) -> list[ExceedanceRow]:
    """Exceedance days and the verdict of every fixed dust station against every daily limit of ``limit_set``."""
    if limit_set not in LIMIT_SETS:
        raise ValueError(f"unknown limit set {limit_set!r} (known: {', '.join(LIMIT_SETS)})")
    if not 1970 <= year <= 9998:
        raise ValueError("year out of range")
    check_tz(tz)
    if not 0.0 < min_capture <= 1.0:
        raise ValueError("min_capture must be within (0, 1]")
    days_in_year = 366 if calendar.isleap(year) else 365
    rows: list[ExceedanceRow] = []
    for limit in LIMIT_SETS[limit_set]:
        if limit.window_s != DAY_S:
            continue  # only daily limits are counted in exceedance days
        allowed = ALLOWED_DAYS.get((limit_set, limit.metric))
        for s in store_exceedance.station_years(
            conn,
            year=year,
            metric=limit.metric,
            limit=limit.limit,
            tz=tz,
            hour_capture=hour_capture,
            min_hours=min_hours,
        ):
            capture = s.valid_days / days_in_year
            v = verdict(
                exceedance_days=s.exceedance_days, allowed_days=allowed, data_capture=capture, min_capture=min_capture
            )
            rows.append(
                ExceedanceRow(
                    year=year,
                    limit_set=limit_set,
                    metric=limit.metric,
                    limit=limit.limit,
                    allowed_days=allowed,
                    device_id=s.device_id,
                    site_id=s.site_id,
                    valid_days=s.valid_days,
                    data_capture=round(capture, 4),
                    exceedance_days=s.exceedance_days,
                    max_daily_mean=s.max_daily_mean,
                    min_data_capture=min_capture,
                    verdict=v,
                    complies={COMPLIES: True, EXCEEDS: False}.get(v),
                )
            )
    return rows


def to_csv(rows: Sequence[ExceedanceRow]) -> str:
    """The report as CSV with a header row (empty fields for unknown values)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[f.name for f in fields(ExceedanceRow)], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in asdict(row).items()})
    return out.getvalue()
