"""The decoders' fast paths give exactly what the reference paths give."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.decoders.common import loads_standard, loads_strict
from ingest.decoders.errors import DecodeError
from ingest.decoders.fields import LAYOUTS
from kipsense.records import DeviceKind

FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**25), max_value=10**25)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(codec="utf-8"), max_size=8)
)
_FLAT = st.dictionaries(st.sampled_from(["ts", "seq", "pm25", "pm2.5", "a:b", "{", "["]), _SCALARS, max_size=5)
_DOCS = _FLAT | st.lists(_FLAT, max_size=6) | st.lists(st.lists(_FLAT, max_size=2), max_size=3) | _SCALARS


def _outcome(parse: Any, payload: bytes) -> tuple[str, Any]:
    try:
        return "ok", parse(payload)
    except DecodeError as exc:
        return "refused", exc.reason


def _with_duplicate_key(payload: bytes) -> bytes:
    # Repeat the first key of the first object: a payload the fast path must hand to the reference parser.
    start = payload.find(b"{")
    end = payload.find(b",", start)
    if start < 0 or end < 0 or payload[start + 1 : start + 2] != b'"':
        return payload
    return payload[: start + 1] + payload[start + 1 : end] + b"," + payload[start + 1 :]


@FAST
@given(doc=_DOCS, duplicate=st.booleans(), spaced=st.booleans())
def test_fast_json_agrees_with_the_reference_parser(doc: Any, duplicate: bool, spaced: bool) -> None:
    payload = json.dumps(doc, separators=(", ", ": ") if spaced else (",", ":")).encode()
    if duplicate:
        payload = _with_duplicate_key(payload)
    assert _outcome(loads_strict, payload) == _outcome(loads_standard, payload)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"seq": 1, "seq": 2}',
        b'[{"pm25": 1.0}, {"pm25": 2.0, "pm25": 3.0}]',
        b'{"a": NaN}',
        b'{"a": 1e999}',
        b'{"a": 123456789012345678901234567890}',
        b'{"a": -9223372036854775809}',
        b'{"a": "\\ud800"}',
        b'{"t": "2026-11-28T08:00:00Z", "v": 1}',
        b'[{"a": 1}, "{"]',
        b'{"a": {"b": 1, "b": 2}}',
        b"\xff",
    ],
)
def test_payloads_the_fast_parser_cannot_vouch_for_get_the_reference_result(payload: bytes) -> None:
    assert _outcome(loads_strict, payload) == _outcome(loads_standard, payload)


@pytest.mark.parametrize("kind", sorted(LAYOUTS))
def test_records_built_from_a_layout_equal_the_dataclass_constructor(kind: DeviceKind) -> None:
    layout = LAYOUTS[kind]
    values = list(layout.template)
    values[0], values[1], values[2], values[layout.seq] = "dev-1", datetime(2026, 11, 28, tzinfo=UTC), 1.5, 7
    record = layout.construct(values)
    cls = type(record)
    assert record == cls(*values)
    assert [getattr(record, f.name) for f in fields(cls)] == values
