"""Property tests: whatever arrives, every decoder returns records or raises ``DecodeError``, nothing else."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.decoders import FORMATS, DecodeError, TimeWindow, decode_message
from ingest.decoders.fields import DUST_FIELDS
from ingest.decoders.sparkplug import DataType, Metric, SparkplugDecoder, encode_payload, topic
from kipsense.records import DeviceKind, DustReading, Record

NOW = datetime(2026, 11, 28, 8, 5, tzinfo=UTC)
WINDOW = TimeWindow()
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Keys the decoders look at, so generated objects reach past the first type check.
_KEYS = sorted(
    {*DUST_FIELDS, "ts", "time", "seq", "device", "readings", "tags", "tag", "value", "quality", "cycle_index",
     "Step Type", "bn", "bt", "bu", "bv", "bver", "n", "u", "v", "vs", "vb", "t", "x_", "sensordatavalues",
     "value_type", "esp8266id", "SDS_P1"}
)  # fmt: skip
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(["2026-11-28T08:00:00Z", "dust-07", "ug/m3", "Cel", "%RH", "SDS_P1", "12.5", "nan", ""])
    | st.text(max_size=12)
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=6), inner, max_size=6)
    ),
    max_leaves=25,
)


def _decodes_or_refuses(fmt: str, payload: bytes, kind: DeviceKind) -> list[Record] | None:
    try:
        return decode_message(fmt, payload, topic_device="dust-07", kind=kind, received_at=NOW, window=WINDOW)
    except DecodeError:
        return None


@FAST
@given(fmt=st.sampled_from(sorted(FORMATS)), kind=st.sampled_from(list(DeviceKind)), payload=st.binary(max_size=300))
def test_any_bytes_give_records_or_decode_error(fmt: str, kind: DeviceKind, payload: bytes) -> None:
    result = _decodes_or_refuses(fmt, payload, kind)
    assert result is None or isinstance(result, list)


@FAST
@given(fmt=st.sampled_from(sorted(FORMATS)), kind=st.sampled_from(list(DeviceKind)), doc=_JSON)
def test_any_json_gives_records_or_decode_error(fmt: str, kind: DeviceKind, doc: Any) -> None:
    result = _decodes_or_refuses(fmt, json.dumps(doc).encode(), kind)
    for record in result or []:
        assert record.device_id == "dust-07"
        assert WINDOW.check(record.time, NOW) == record.time
        numbers = [v for v in getattr(record, "__slots__", ()) if isinstance(getattr(record, v), float)]
        assert all(math.isfinite(getattr(record, name)) for name in numbers)


_VALID_DUST = st.fixed_dictionaries(
    {},
    optional={
        name: st.floats(min_value=spec.lo, max_value=spec.hi, allow_nan=False)
        for name, spec in DUST_FIELDS.items()
        if name == spec.name
    },
).filter(bool)


@FAST
@given(
    readings=st.lists(_VALID_DUST, min_size=1, max_size=20),
    offsets=st.lists(st.integers(min_value=0, max_value=86_400_000), min_size=20, max_size=20),
)
def test_valid_dust_batches_round_trip(readings: list[dict[str, float]], offsets: list[int]) -> None:
    base = int(NOW.timestamp() * 1000) - 86_400_000
    docs = [dict(r, ts=base + off, seq=i) for i, (r, off) in enumerate(zip(readings, offsets, strict=False))]
    records = decode_message(
        "json", json.dumps(docs).encode(), topic_device="dust-07", kind=DeviceKind.DUST, received_at=NOW, window=WINDOW
    )
    assert len(records) == len(docs)
    for record, doc in zip(records, docs, strict=True):
        assert isinstance(record, DustReading)
        assert record.time == datetime.fromtimestamp(doc["ts"] / 1000, UTC)
        assert record.seq == doc["seq"]
        for name, value in doc.items():
            if name not in ("ts", "seq"):
                assert getattr(record, name) == value


_SPARKPLUG_TOPICS = st.sampled_from(
    [topic("g", kind, "edge") for kind in ("NBIRTH", "NDATA", "NDEATH")]
    + [topic("g", kind, "edge", "dev") for kind in ("DBIRTH", "DDATA", "DDEATH")]
)
_VALUES_OF_TYPE = {
    DataType.DOUBLE: st.floats(),
    DataType.FLOAT: st.floats(width=32),
    DataType.INT32: st.integers(min_value=-(2**31), max_value=2**31 - 1),
    DataType.INT8: st.integers(min_value=-128, max_value=127),
    DataType.UINT32: st.integers(min_value=0, max_value=2**32 - 1),
    DataType.INT64: st.integers(min_value=-(2**63), max_value=2**63 - 1),
    DataType.BOOLEAN: st.booleans(),
    DataType.STRING: st.text(max_size=8),
}
_METRIC = st.sampled_from(sorted(_VALUES_OF_TYPE)).flatmap(
    lambda dtype: st.builds(
        Metric,
        name=st.none() | st.sampled_from(["a", "b", "bdSeq", "Node Control/Rebirth"]) | st.text(max_size=140),
        value=st.none() | _VALUES_OF_TYPE[dtype],
        datatype=st.just(dtype),
        alias=st.none() | st.integers(min_value=0, max_value=5),
        timestamp_ms=st.none() | st.integers(min_value=0, max_value=2 * int(NOW.timestamp() * 1000)),
    )
)


@FAST
@given(
    messages=st.lists(
        st.tuples(
            _SPARKPLUG_TOPICS,
            st.lists(_METRIC, max_size=5),
            st.none() | st.integers(min_value=0, max_value=255),
            st.none() | st.integers(min_value=0, max_value=int(NOW.timestamp() * 1000) + 1_000_000),
            st.none() | st.tuples(st.integers(min_value=0, max_value=400), st.binary(min_size=1, max_size=4)),
        ),
        max_size=8,
    )
)
def test_sparkplug_sequences_give_results_or_decode_error(
    messages: list[tuple[str, list[Metric], int | None, int | None, tuple[int, bytes] | None]],
) -> None:
    decoder = SparkplugDecoder()
    for sp_topic, metrics, seq, ts, damage in messages:
        payload = encode_payload(metrics, timestamp_ms=ts, seq=seq)
        if damage is not None:
            at, junk = damage
            payload = payload[:at] + junk + payload[at + len(junk) :]
        try:
            result = decoder.decode(sp_topic, payload, received_at=NOW, window=WINDOW)
        except DecodeError:
            continue
        assert result.seq_gaps >= 0
        for record in result.records:
            assert math.isfinite(record.value)
            assert NOW - WINDOW.max_age <= record.time <= NOW + timedelta(minutes=5)


@FAST
@given(sp_topic=st.text(max_size=40) | _SPARKPLUG_TOPICS, payload=st.binary(max_size=200))
def test_sparkplug_any_bytes_give_results_or_decode_error(sp_topic: str, payload: bytes) -> None:
    try:
        result = SparkplugDecoder().decode(sp_topic, payload, received_at=NOW, window=WINDOW)
    except DecodeError:
        return
    assert isinstance(result.records, list)
