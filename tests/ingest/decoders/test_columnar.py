"""The columnar fast path accepts only what the strict native JSON decoder accepts, with the same records."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ingest.decoders import DecodeError, TimeWindow, columnar, native_json
from ingest.decoders.fields import FIELDS
from kipsense.records import DeviceKind, Record
from store.row_blocks import RowBlock

NOW = datetime(2026, 11, 28, 8, 5, 0, 123456, tzinfo=UTC)
WINDOW = TimeWindow(max_age=timedelta(days=30), max_future=timedelta(seconds=300))
NOW_MS = int(NOW.timestamp() * 1000)
MANY = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_KINDS = [DeviceKind.DUST, DeviceKind.MET, DeviceKind.CYCLER, DeviceKind.PROCESS]
_EXTRA_KEYS = ["ts", "time", "timestamp", "seq", "device", "device_id", "fw", "tags"]


def _stamps() -> st.SearchStrategy[Any]:
    """Mostly epochs inside the window (s, ms, µs), some outside it or of other types."""
    inside_ms = st.integers(min_value=NOW_MS - 29 * 86_400_000, max_value=NOW_MS + 299_000)
    return st.one_of(
        inside_ms,
        inside_ms,
        inside_ms.map(lambda ms: ms // 1000),
        inside_ms.map(lambda ms: ms * 1000 + 7),
        st.integers(min_value=-5, max_value=10**18),
        st.integers(min_value=NOW_MS + 290_000, max_value=NOW_MS + 310_000),
        st.integers(min_value=NOW_MS - 30 * 86_400_000 - 5_000, max_value=NOW_MS - 30 * 86_400_000 + 5_000),
        st.floats(min_value=1.7e9, max_value=1.9e12),
        st.sampled_from(["2026-11-28T08:00:00Z", True, None, "x"]),
    )


def _values(key: str) -> st.SearchStrategy[Any]:
    if key in ("ts", "time", "timestamp"):
        return _stamps()
    if key == "seq":
        return st.one_of(st.integers(min_value=0, max_value=2**62), st.integers(min_value=-2, max_value=2**63 + 5),
                         st.sampled_from([None, 3.0, "1", False]))  # fmt: skip
    if key in ("device", "device_id"):
        return st.sampled_from(["dev-1", "dev-2", None])
    return st.one_of(
        st.floats(min_value=-20.0, max_value=120.0),
        st.floats(allow_nan=False, allow_infinity=False),
        st.integers(min_value=-2000, max_value=2000),
        st.sampled_from([None, True, "7", -0.0, 0, 1e12, 1e12 + 1, 10_000.0, 10_000.000001]),
    )


def _plain_value(kind: DeviceKind, key: str) -> st.SearchStrategy[Any]:
    """A value the strict decoder accepts for ``key`` (mostly), of the shapes devices send."""
    if key in ("ts", "time", "timestamp"):
        inside_ms = st.integers(min_value=NOW_MS - 29 * 86_400_000, max_value=NOW_MS + 299_000)
        return st.one_of(inside_ms, inside_ms.map(lambda ms: ms // 1000), inside_ms.map(lambda ms: ms * 1000 + 7))
    if key == "seq":
        return st.integers(min_value=0, max_value=2**62)
    spec = FIELDS[kind][key]
    return st.floats(min_value=spec.lo, max_value=spec.hi) | st.integers(min_value=int(spec.lo), max_value=int(spec.hi))


@st.composite
def plain_batches(draw: st.DrawFn) -> tuple[DeviceKind, bytes]:
    """Lists of readings of one shape with plausible values, now and then one unusual value or key."""
    kind = draw(st.sampled_from([DeviceKind.DUST, DeviceKind.MET, DeviceKind.CYCLER]))
    floats = sorted(k for k, spec in FIELDS[kind].items() if spec.kind is float)
    shape = [
        draw(st.sampled_from(["ts", "time", "timestamp"])),
        *draw(st.lists(st.sampled_from(floats), min_size=1, max_size=4, unique=True)),
        *draw(st.sampled_from([[], ["seq"], ["fw"], ["seq", "fw"]])),
    ]
    shape = draw(st.permutations(shape))
    readings = []
    for _ in range(draw(st.integers(min_value=1, max_value=12))):
        reading = {}
        for key in shape:
            odd = draw(st.integers(min_value=0, max_value=80)) == 0
            reading[key] = draw(_values(key) if odd or key == "fw" else _plain_value(kind, key))
        readings.append(reading)
    return kind, json.dumps(readings).encode()


@st.composite
def batches(draw: st.DrawFn) -> tuple[DeviceKind, bytes]:
    """A kind and a native JSON payload: usually a list of readings sharing one shape, sometimes not."""
    if draw(st.booleans()):
        return draw(plain_batches())
    kind = draw(st.sampled_from(_KINDS))
    pool = sorted({*FIELDS.get(kind, {"pm10": None}), *_EXTRA_KEYS})
    shape = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=6, unique=True))
    n = draw(st.integers(min_value=1, max_value=12))
    readings: list[dict[str, Any]] = []
    for _ in range(n):
        keys = shape
        if draw(st.integers(min_value=0, max_value=9)) == 0:  # now and then a reading of another shape
            keys = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=6, unique=True))
        readings.append({k: draw(_values(k)) for k in keys})
    doc: Any = readings
    form = draw(st.integers(min_value=0, max_value=19))
    if form == 0:
        doc = {"device": "dev-1", "readings": readings}
    elif form == 1:
        doc = readings[0]
    return kind, json.dumps(doc).encode()


def _strict(kind: DeviceKind, payload: bytes) -> list[Record] | tuple[str, str]:
    try:
        return native_json.decode(payload, topic_device="dev-1", kind=kind, received_at=NOW, window=WINDOW)
    except DecodeError as exc:
        return exc.reason.value, exc.detail


def _fast(kind: DeviceKind, payload: bytes) -> RowBlock | None:
    oldest, latest = WINDOW.bounds(NOW)
    return columnar.decode(payload, topic_device="dev-1", kind=kind, received_at=NOW, oldest=oldest, latest=latest)


@MANY
@given(batch=batches())
def test_fast_path_accepts_only_what_strict_accepts_with_the_same_records(batch: tuple[DeviceKind, bytes]) -> None:
    kind, payload = batch
    strict = _strict(kind, payload)
    block = _fast(kind, payload)
    event("fast path" if block is not None else "strict path")
    if block is None:
        return  # the strict decoder decides, quarantine reason included
    assert isinstance(strict, list), f"fast path took a payload the strict decoder refuses: {strict}"
    assert repr(block.records()) == repr(strict)  # repr: -0.0 and 0.0 differ
    assert len(block) == len(strict)
    assert block.last_time == max(r.time for r in strict)


def _batch(n: int, **extra: Any) -> bytes:
    return json.dumps(
        [{"ts": NOW_MS - 1000 + k, "seq": k, "pm10": 20.0, "pm25": 9, **extra} for k in range(n)]
    ).encode()


def test_plain_batches_take_the_fast_path() -> None:
    block = _fast(DeviceKind.DUST, _batch(50))
    assert block is not None
    assert len(block) == 50
    assert block.records() == _strict(DeviceKind.DUST, _batch(50))


def test_unusual_batches_take_the_strict_path() -> None:
    assert _fast(DeviceKind.DUST, _batch(columnar.MIN_READINGS - 1)) is None  # too few to gain anything
    assert _fast(DeviceKind.DUST, _batch(10, pm1=None)) is None  # a null
    assert _fast(DeviceKind.DUST, _batch(10, pm1=1e6)) is None  # out of range: strict gives the reason
    assert _fast(DeviceKind.DUST, _batch(10, pm1_0=1.0, pm1=1.0)) is None  # one field twice
    assert _fast(DeviceKind.DUST, _batch(10, device="dev-1")) is None  # claimed device
    assert _fast(DeviceKind.CYCLER, _batch(10, cycle_index=3)) is None  # integer field
    assert _fast(DeviceKind.PROCESS, _batch(10)) is None
    late = json.dumps([{"ts": NOW_MS + 10**6 + k, "pm10": 1.0} for k in range(10)]).encode()
    assert _fast(DeviceKind.DUST, late) is None
    assert _strict(DeviceKind.DUST, late)[0] == "future_timestamp"


@st.composite
def partly_untimed(draw: st.DrawFn) -> tuple[DeviceKind, list[dict[str, Any]]]:
    """Lists of plain readings, some or all without a timestamp."""
    kind = draw(st.sampled_from([DeviceKind.DUST, DeviceKind.MET, DeviceKind.CYCLER]))
    floats = sorted(k for k, spec in FIELDS[kind].items() if spec.kind is float and spec.name == k)  # no aliases
    keys = draw(st.lists(st.sampled_from(floats), min_size=1, max_size=3, unique=True))
    readings = []
    for _ in range(draw(st.integers(min_value=1, max_value=12))):
        reading = {k: draw(_plain_value(kind, k)) for k in keys}
        if draw(st.booleans()):
            reading["ts"] = draw(_plain_value(kind, "ts"))
        readings.append(reading)
    return kind, readings


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=partly_untimed())
def test_readings_without_timestamps_keep_their_own_times_in_list_order(
    batch: tuple[DeviceKind, list[dict[str, Any]]],
) -> None:
    kind, readings = batch
    payload = json.dumps(readings).encode()
    records = _strict(kind, payload)
    assert isinstance(records, list)
    assert len(records) == len(readings)
    untimed = [r for r, raw in zip(records, readings, strict=True) if "ts" not in raw]
    event(f"{min(len(untimed), 3)}+ untimed")
    assert all(getattr(r, "time_estimated", False) for r in untimed)
    assert [r.time for r in untimed] == sorted({r.time for r in untimed})  # distinct, in list order
    if untimed:
        assert untimed[-1].time == NOW
        assert NOW - untimed[0].time == timedelta(microseconds=len(untimed) - 1)
    # The fast path never estimates: it leaves such lists to the strict decoder.
    assert _fast(kind, payload) is None or not untimed
