"""Shared pieces of every decoder: strict JSON, timestamps and the time window a reading must fall in."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any, Final

import orjson

from ingest.decoders.errors import DecodeError, Reason

#: JSON nested deeper than this is refused before Python's recursion limit is anywhere near.
MAX_DEPTH: Final = 32
#: Largest payload any decoder accepts (the broker may allow more; the worker quarantines the rest).
MAX_PAYLOAD_BYTES: Final = 1 << 20

# Epoch values are told apart by magnitude: seconds until year 5138, then milliseconds, then microseconds.
_SECONDS_MAX = 1e11
_MILLIS_MAX = 1e14
_MICROS_MAX = 1e17

# Byte-level bracket scan: every byte except the four brackets is deleted (UTF-8 never hides ASCII bytes
# inside a multi-byte sequence), then +1/-1 per bracket is summed in C.
_NOT_BRACKETS: Final = bytes(b for b in range(256) if b not in b"[]{}")
_DELTA: Final = tuple(1 if b in b"[{" else -1 if b in b"]}" else 0 for b in range(256))


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Readings must be newer than ``now - max_age`` and not later than ``now + max_future``."""

    max_age: timedelta = timedelta(days=400)
    max_future: timedelta = timedelta(minutes=5)

    def bounds(self, received_at: datetime) -> tuple[datetime, datetime]:
        """(oldest, latest) accepted times for a message received at ``received_at``."""
        return received_at - self.max_age, received_at + self.max_future

    def check(self, ts: datetime, received_at: datetime) -> datetime:
        """Return ``ts`` when it lies inside the window, else raise ``FUTURE_TIMESTAMP`` or ``TOO_OLD``."""
        oldest, latest = self.bounds(received_at)
        return check_bounds(ts, oldest, latest)


def check_bounds(ts: datetime, oldest: datetime, latest: datetime) -> datetime:
    """``TimeWindow.check`` with the bounds computed once per message."""
    if ts > latest:
        raise DecodeError(Reason.FUTURE_TIMESTAMP, f"{ts.isoformat()} is ahead of receive time")
    if ts < oldest:
        raise DecodeError(Reason.TOO_OLD, f"{ts.isoformat()} is before the retention horizon")
    return ts


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DecodeError(Reason.DUPLICATE_KEY, f"key {key[:64]!r} appears twice")
            seen.add(key)
    return out


def _refuse_constant(name: str) -> Any:
    raise DecodeError(Reason.NON_FINITE, f"{name} is not a number")


def _depth(doc: Any) -> int:
    """Exact nesting depth of parsed JSON, without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in node if isinstance(child, list | dict))
    return deepest


def check_size(payload: bytes, max_bytes: int = MAX_PAYLOAD_BYTES) -> None:
    """Refuse empty and oversized payloads."""
    if len(payload) > max_bytes:
        raise DecodeError(Reason.OVERSIZED, f"{len(payload)} bytes, more than {max_bytes}")
    if not payload.strip():
        raise DecodeError(Reason.EMPTY, "empty payload")


# 19 digits in a row may be an integer beyond 64 bits, which orjson reads as a float (the standard library keeps
# an exact int); such payloads take the standard parser. Found by mapping digits to "9", the rest to " " (C speed).
_DIGITS_AS_9: Final = bytes(0x39 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_LONG_DIGITS: Final = b"9" * 19


def _loads_fast(payload: bytes) -> Any:
    """orjson for the shapes devices send (one flat object, a list of flat objects); None: use the strict parser.

    orjson refuses NaN/Infinity, numbers beyond a float, lone surrogates and invalid UTF-8 (the strict parser
    then gives the precise reason) but keeps the last of duplicate keys, so a result is only accepted when the
    payload provably has none: every key is followed by one ``:`` byte, so when the parsed objects hold as many
    keys as the payload has ``:`` bytes, no key was dropped. The bracket count proves the shape (no nesting
    deeper than a list of objects, so the depth limit holds too); any other payload takes the strict parser.
    """
    if _LONG_DIGITS in payload.translate(_DIGITS_AS_9):
        return None
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    containers = payload.count(b"{") + payload.count(b"[")
    dtype = type(doc)
    if dtype is dict:
        keys = len(doc) if containers == 1 else -1
    elif dtype is list:
        if containers != 1 + len(doc) or not set(map(type, doc)) <= {dict}:
            return None
        keys = sum(map(len, doc))
    else:
        keys = 0 if containers == 0 else -1
    return doc if keys == payload.count(b":") else None


def loads_strict(payload: bytes, *, max_bytes: int = MAX_PAYLOAD_BYTES) -> Any:
    """Parse JSON refusing oversized and invalid UTF-8 input, NaN/Infinity, duplicate keys and deep nesting.

    Numbers that overflow a float (``1e999``) parse as ``inf`` here; every decoder refuses a non-finite value
    in any field it reads (fields it ignores are never stored). Checking each float in a parse hook would
    cost a Python call per number on the hot path.
    """
    check_size(payload, max_bytes)
    doc = _loads_fast(payload)
    return doc if doc is not None else loads_standard(payload)


def loads_standard(payload: bytes) -> Any:
    """``loads_strict`` with the standard library's parser only (size not checked): the reference behaviour."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(Reason.NOT_UTF8, str(exc)) from None
    brackets = payload.translate(None, _NOT_BRACKETS)
    # The byte scan over-estimates (brackets inside strings count too); only then is the real depth measured.
    suspect = len(brackets) > MAX_DEPTH and max(accumulate(map(_DELTA.__getitem__, brackets))) > MAX_DEPTH
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_refuse_constant)
    except RecursionError:
        raise DecodeError(Reason.TOO_DEEP, "nesting too deep") from None
    except DecodeError:
        raise
    except ValueError as exc:  # JSONDecodeError, and int() refusing more than 4300 digits
        raise DecodeError(Reason.NOT_JSON, str(exc)[:200]) from None
    if suspect and _depth(doc) > MAX_DEPTH:
        raise DecodeError(Reason.TOO_DEEP, f"nesting deeper than {MAX_DEPTH}")
    return doc


def epoch_to_datetime(value: float, *, field: str = "ts") -> datetime:
    """An epoch number in s, ms or µs (told apart by magnitude) as an aware UTC datetime."""
    if not 0 <= value < _MICROS_MAX:  # also false for NaN
        raise DecodeError(Reason.BAD_TIMESTAMP, f"{field}={value!r} is not a valid epoch in s, ms or µs")
    if value < _SECONDS_MAX:
        return datetime.fromtimestamp(value, tz=UTC)
    return datetime.fromtimestamp(value / (1e3 if value < _MILLIS_MAX else 1e6), tz=UTC)


def parse_time(value: object, *, field: str = "ts") -> datetime:
    """Read an ISO 8601 string or an epoch number in s, ms or µs (told apart by magnitude) as UTC."""
    vtype = type(value)
    if vtype is int or vtype is float:  # exact types: a JSON true is a bool, refused below
        return epoch_to_datetime(value, field=field)  # type: ignore[arg-type]
    if isinstance(value, str):
        if not 13 <= len(value) <= 40:  # a date alone is not a time
            raise DecodeError(Reason.BAD_TIMESTAMP, f"{field}={value[:40]!r} is not an ISO 8601 date and time")
        try:
            ts = datetime.fromisoformat(value.strip())
        except ValueError:
            raise DecodeError(Reason.BAD_TIMESTAMP, f"{field}={value!r} is not ISO 8601") from None
        if ts.tzinfo is None:
            # Devices are required to send UTC; a naive stamp is read as UTC rather than local time.
            return ts.replace(tzinfo=UTC)
        try:
            return ts.astimezone(UTC)
        except OverflowError:
            raise DecodeError(Reason.BAD_TIMESTAMP, f"{field}={value!r} is out of range") from None
    raise DecodeError(Reason.WRONG_TYPE, f"{field} must be a string or a number")
