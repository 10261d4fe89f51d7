"""Shared pieces of every decoder: strict JSON, timestamps, numbers and the time window a reading must fall in."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ingest.decoders.errors import DecodeError, Reason

#: JSON nested deeper than this is refused before Python's recursion limit is anywhere near.
MAX_DEPTH = 32

# Epoch values are told apart by magnitude: seconds until year 5138, then milliseconds, then microseconds.
_SECONDS_MAX = 1e11
_MILLIS_MAX = 1e14
_MICROS_MAX = 1e17


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Readings must be newer than ``now - max_age`` and not later than ``now + max_future``."""

    max_age: timedelta = timedelta(days=400)
    max_future: timedelta = timedelta(minutes=5)

    def check(self, ts: datetime, received_at: datetime) -> datetime:
        if ts > received_at + self.max_future:
            raise DecodeError(Reason.FUTURE_TIMESTAMP, f"{ts.isoformat()} is ahead of receive time")
        if ts < received_at - self.max_age:
            raise DecodeError(Reason.TOO_OLD, f"{ts.isoformat()} is before the retention horizon")
        return ts


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DecodeError(Reason.DUPLICATE_KEY, f"key {key!r} appears twice")
        out[key] = value
    return out


def _refuse_constant(name: str) -> Any:
    raise DecodeError(Reason.NON_FINITE, f"{name} is not a number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise DecodeError(Reason.NON_FINITE, f"{text[:40]} overflows a float")
    return value


def _depth(text: str) -> int:
    # A cheap bracket count that over-estimates (brackets inside strings count too); only a bound is needed.
    depth = deepest = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def loads_strict(payload: bytes) -> Any:
    """Parse JSON refusing invalid UTF-8, NaN/Infinity/overflow, duplicate keys and deep nesting."""
    if not payload.strip():
        raise DecodeError(Reason.EMPTY, "empty payload")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(Reason.NOT_UTF8, str(exc)) from None
    if text.count("[") + text.count("{") > MAX_DEPTH and _depth(text) > MAX_DEPTH:
        raise DecodeError(Reason.TOO_DEEP, f"nesting deeper than {MAX_DEPTH}")
    try:
        return json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
        )
    except RecursionError:
        raise DecodeError(Reason.TOO_DEEP, "nesting too deep") from None
    except json.JSONDecodeError as exc:
        raise DecodeError(Reason.NOT_JSON, str(exc)) from None


def parse_time(value: object, *, field: str = "ts") -> datetime:
    """Read an ISO 8601 string or an epoch number in s, ms or µs (told apart by magnitude) as UTC."""
    if isinstance(value, bool):
        raise DecodeError(Reason.WRONG_TYPE, f"{field} is a boolean")
    if isinstance(value, int | float):
        number = float(value)
        if not math.isfinite(number) or number < 0:
            raise DecodeError(Reason.BAD_TIMESTAMP, f"{field}={value!r} is not a valid epoch")
        if number < _SECONDS_MAX:
            seconds = number
        elif number < _MILLIS_MAX:
            seconds = number / 1e3
        elif number < _MICROS_MAX:
            seconds = number / 1e6
        else:
            raise DecodeError(Reason.BAD_TIMESTAMP, f"{field}={value!r} is too large for an epoch")
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise DecodeError(Reason.BAD_TIMESTAMP, f"{field}: {exc}") from None
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            ts = datetime.fromisoformat(text)
        except ValueError:
            raise DecodeError(Reason.BAD_TIMESTAMP, f"{field}={value[:40]!r} is not ISO 8601") from None
        if ts.tzinfo is None:
            # Devices are required to send UTC; a naive stamp is read as UTC rather than local time.
            ts = ts.replace(tzinfo=UTC)
        return ts.astimezone(UTC)
    raise DecodeError(Reason.WRONG_TYPE, f"{field} must be a string or a number")


def number(obj: dict[str, Any], key: str, *, lo: float | None = None, hi: float | None = None) -> float | None:
    """Optional finite number field, refusing booleans, strings and values outside [lo, hi]."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DecodeError(Reason.WRONG_TYPE, f"{key} must be a number, got {type(value).__name__}")
    out = float(value)
    if not math.isfinite(out):
        raise DecodeError(Reason.NON_FINITE, f"{key} is not finite")
    if (lo is not None and out < lo) or (hi is not None and out > hi):
        raise DecodeError(Reason.OUT_OF_RANGE, f"{key}={out} outside [{lo}, {hi}]")
    return out


def integer(obj: dict[str, Any], key: str, *, lo: int | None = None) -> int | None:
    """Optional integer field (a float with no fractional part is accepted)."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DecodeError(Reason.WRONG_TYPE, f"{key} must be an integer")
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise DecodeError(Reason.WRONG_TYPE, f"{key} must be an integer")
        value = int(value)
    if not -(2**62) < value < 2**62:
        raise DecodeError(Reason.OUT_OF_RANGE, f"{key} out of range")
    if lo is not None and value < lo:
        raise DecodeError(Reason.OUT_OF_RANGE, f"{key}={value} below {lo}")
    return value


def text(obj: dict[str, Any], key: str, *, max_len: int = 64) -> str | None:
    """Optional short string field."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise DecodeError(Reason.WRONG_TYPE, f"{key} must be a string")
    if len(value) > max_len:
        raise DecodeError(Reason.OUT_OF_RANGE, f"{key} longer than {max_len}")
    return value
