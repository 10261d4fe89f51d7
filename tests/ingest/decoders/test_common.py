"""Strict JSON, epoch/ISO timestamps and the time window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ingest.decoders.common import MAX_DEPTH, MAX_PAYLOAD_BYTES, TimeWindow, epoch_to_datetime, loads_strict, parse_time
from ingest.decoders.errors import DecodeError, Reason

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def _reason(payload: bytes) -> Reason:
    with pytest.raises(DecodeError) as caught:
        loads_strict(payload)
    return caught.value.reason


def test_nesting_is_measured_exactly_around_the_limit() -> None:
    at_limit = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert loads_strict(at_limit) is not None
    assert _reason(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)) is Reason.TOO_DEEP


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    doc = loads_strict(b'{"note": "' + b"[{" * 100 + b'"}')
    assert doc == {"note": "[{" * 100}


def test_nesting_far_past_the_recursion_limit_is_too_deep() -> None:
    assert _reason(b"[" * 200_000) is Reason.TOO_DEEP
    assert _reason(b'{"a":' * 50_000 + b"1" + b"}" * 50_000) is Reason.TOO_DEEP


def test_an_integer_past_the_digit_limit_is_not_json() -> None:
    assert _reason(b'{"pm25": ' + b"9" * 5000 + b"}") is Reason.NOT_JSON


def test_oversized_payload_is_refused_before_parsing() -> None:
    payload = b'{"pad": "' + b"x" * MAX_PAYLOAD_BYTES + b'"}'
    assert _reason(payload) is Reason.OVERSIZED
    assert loads_strict(b'{"pad": "x"}', max_bytes=16) == {"pad": "x"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1795852800, datetime(2026, 11, 28, 8, 0, tzinfo=UTC)),
        (1795852800.25, datetime(2026, 11, 28, 8, 0, 0, 250_000, tzinfo=UTC)),
        (1795852800123, datetime(2026, 11, 28, 8, 0, 0, 123_000, tzinfo=UTC)),
        (1795852800123456, datetime(2026, 11, 28, 8, 0, 0, 123_456, tzinfo=UTC)),
        ("2026-11-28T08:00:00Z", datetime(2026, 11, 28, 8, 0, tzinfo=UTC)),
        ("2026-11-28T10:00:00+02:00", datetime(2026, 11, 28, 8, 0, tzinfo=UTC)),
        ("2026-11-28T08:00:00", datetime(2026, 11, 28, 8, 0, tzinfo=UTC)),
    ],
)
def test_parse_time_reads_epochs_by_magnitude_and_iso_as_utc(value: object, expected: datetime) -> None:
    parsed = parse_time(value)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (True, Reason.WRONG_TYPE),
        (None, Reason.WRONG_TYPE),
        ([1], Reason.WRONG_TYPE),
        (-1, Reason.BAD_TIMESTAMP),
        (1e17, Reason.BAD_TIMESTAMP),
        (10**400, Reason.BAD_TIMESTAMP),
        (float("inf"), Reason.BAD_TIMESTAMP),
        (float("nan"), Reason.BAD_TIMESTAMP),
        ("yesterday", Reason.BAD_TIMESTAMP),
        ("2026-11-28", Reason.BAD_TIMESTAMP),
        ("0001-01-01T00:00:00+01:00", Reason.BAD_TIMESTAMP),
        ("2026-11-28T08:00:00Z" + " " * 40, Reason.BAD_TIMESTAMP),
    ],
)
def test_parse_time_refuses_what_is_not_a_time(value: object, reason: Reason) -> None:
    with pytest.raises(DecodeError) as caught:
        parse_time(value)
    assert caught.value.reason is reason


def test_epoch_to_datetime_matches_parse_time() -> None:
    assert epoch_to_datetime(1795852800) == parse_time(1795852800000)


def test_time_window_bounds() -> None:
    window = TimeWindow(max_age=timedelta(days=1), max_future=timedelta(minutes=5))
    assert window.check(NOW + timedelta(minutes=5), NOW) == NOW + timedelta(minutes=5)
    assert window.check(NOW - timedelta(days=1), NOW) == NOW - timedelta(days=1)
    with pytest.raises(DecodeError) as future:
        window.check(NOW + timedelta(minutes=5, seconds=1), NOW)
    assert future.value.reason is Reason.FUTURE_TIMESTAMP
    with pytest.raises(DecodeError) as old:
        window.check(NOW - timedelta(days=1, seconds=1), NOW)
    assert old.value.reason is Reason.TOO_OLD
