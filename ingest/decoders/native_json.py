"""The platform's own JSON format, for every kind of device.

A message is one reading object, a list of them, or ``{"device": id, "readings": [...]}`` (back-fill after an
outage). A reading has an optional ``ts`` (ISO 8601 or epoch s/ms/µs; also ``time``, ``timestamp``), an
optional ``seq`` and the kind's fields (names and ranges in ``ingest.decoders.fields``)::

    {"device": "dust-07", "ts": "2026-11-28T08:00:00Z", "seq": 42, "pm1": 4.1, "pm25": 7.9, "pm10": 18.2,
     "temperature": -3.5, "rh": 81.0, "lat": 63.86, "lon": 23.03}

Process lines send ``{"ts": ..., "tags": {"FIC101.PV": 12.5, ...}, "quality": 192}`` or one
``{"tag": ..., "value": ...}``.

A message is accepted or refused whole: one bad reading sends the whole message to quarantine, raw bytes
kept, so a back-fill batch is never half stored. Unknown keys are ignored (a newer firmware may add
diagnostics); a reading with no known measurement is refused.

A reading without a timestamp gets an estimated time (``time_estimated``): the receive time. When a list holds
several such readings they are taken to be in the order measured (oldest first) and spread one microsecond
apart, the last one at the receive time, so each keeps its own key instead of all colliding on one (for
process lines the unit is one list item, all of whose tags share its time). The microsecond steps only keep
the readings apart and in order; the flag says the times are not the device's. See ``spread_estimated``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Final

from ingest.decoders.common import TimeWindow, check_bounds, loads_strict, parse_time
from ingest.decoders.errors import DecodeError, Reason
from ingest.decoders.fields import LAYOUTS, SEQ, TAG_VALUE, TIME_KEYS, Field, Layout, out_of_range
from kipsense.records import DeviceKind, ProcessValue, Record

#: Most readings one message may carry.
MAX_READINGS: Final = 10_000
_QUALITY = Field("quality", 0, 255, int)
_DEVICE_KEYS = frozenset({"device", "device_id"})
_US: Final = timedelta(microseconds=1)


def estimated_time(received_at: datetime, position: int, count: int) -> datetime:
    """The estimated time of the ``position``-th (from 0) of ``count`` readings without a timestamp."""
    return received_at - (count - 1 - position) * _US


def spread_estimated(records: list[Record], received_at: datetime) -> list[Record]:
    """Spread readings that got the receive time (``time_estimated``) 1 µs apart in list order, the last at it."""
    if len(records) < 2:
        return records
    positions = [i for i, r in enumerate(records) if getattr(r, "time_estimated", False)]
    count = len(positions)
    if count > 1:
        for j, i in enumerate(positions):
            records[i] = replace(records[i], time=estimated_time(received_at, j, count))
    return records


def _items(doc: Any, topic_device: str) -> list[Any]:
    if type(doc) is list:
        return doc
    if type(doc) is dict and "readings" in doc:
        _check_device(doc, topic_device)
        readings = doc["readings"]
        if type(readings) is not list:
            raise DecodeError(Reason.WRONG_TYPE, "readings must be a list")
        return readings
    return [doc]


def _check_device(obj: dict[str, Any], topic_device: str) -> None:
    for key in _DEVICE_KEYS:
        claimed = obj.get(key)
        if claimed is not None and claimed != topic_device:
            raise DecodeError(
                Reason.DEVICE_MISMATCH, f"payload claims {str(claimed)[:64]!r}, topic is {topic_device!r}"
            )


def _time(raw: Any, received_at: datetime, oldest: datetime, latest: datetime) -> tuple[datetime, bool]:
    if raw is None:
        return received_at, True
    return check_bounds(parse_time(raw), oldest, latest), False


def _reading(
    raw: dict[str, Any], layout: Layout, topic_device: str, received_at: datetime, oldest: datetime, latest: datetime
) -> Record:
    """One checked reading object (one pass over its keys) as the kind's record.

    Refusals come in this order: the first bad key, then the timestamp, then a reading with no measurement.
    """
    values = list(layout.template)
    values[0] = topic_device
    slots = layout.slots
    measured = 0
    ts: Any = None
    for key, value in raw.items():
        slot = slots.get(key)
        if slot is not None:
            index, lo, hi, is_float, spec = slot
            if is_float and type(value) is float:
                # The common case: a float field carrying a float. Everything else takes spec.convert below.
                if not lo <= value <= hi:
                    raise out_of_range(spec, value)
                if values[index] is not None:
                    raise DecodeError(Reason.DUPLICATE_KEY, f"{spec.name} given twice under different names")
                values[index] = value
                measured += 1
                continue
            if values[index] is not None:
                raise DecodeError(Reason.DUPLICATE_KEY, f"{spec.name} given twice under different names")
            if value is not None:
                values[index] = spec.convert(value)
                measured += 1
        elif key in TIME_KEYS:
            if ts is not None:
                raise DecodeError(Reason.DUPLICATE_KEY, "timestamp given twice under different names")
            ts = value
        elif key == "seq":
            if value is not None:
                values[layout.seq] = SEQ.convert(value)
        elif key in _DEVICE_KEYS and value is not None and value != topic_device:
            raise DecodeError(Reason.DEVICE_MISMATCH, f"payload claims {str(value)[:64]!r}, topic is {topic_device!r}")
    if ts is None:
        values[1] = received_at
        values[-1] = True
    else:
        values[1] = check_bounds(parse_time(ts), oldest, latest)
    if not measured:
        raise DecodeError(Reason.MISSING_FIELD, "reading carries no measurement")
    return layout.construct(values)


def _stamps(raw: dict[str, Any]) -> list[Any]:
    return [raw[k] for k in TIME_KEYS if raw.get(k) is not None]


def _process(
    raw: dict[str, Any], topic_device: str, estimated_at: datetime, oldest: datetime, latest: datetime
) -> list[Record]:
    """The tag values of one process item; without a timestamp they all get ``estimated_at``."""
    _check_device(raw, topic_device)
    stamps = _stamps(raw)
    if len(stamps) > 1:
        raise DecodeError(Reason.DUPLICATE_KEY, "timestamp given twice under different names")
    ts, estimated = _time(stamps[0] if stamps else None, estimated_at, oldest, latest)
    tags = raw.get("tags")
    if tags is None:
        tag, value = raw.get("tag"), raw.get("value")
        if tag is None or value is None:
            raise DecodeError(Reason.MISSING_FIELD, "process reading needs 'tags' or 'tag' and 'value'")
        tags = {tag: value}
    if type(tags) is not dict or not tags:
        raise DecodeError(Reason.WRONG_TYPE, "tags must be a non-empty object of tag -> number")
    quality_raw = raw.get("quality")
    quality = 192 if quality_raw is None else int(_QUALITY.convert(quality_raw))
    out: list[Record] = []
    for tag_name, value in tags.items():
        if type(tag_name) is not str:
            raise DecodeError(Reason.WRONG_TYPE, "tag name must be a string")
        if not 0 < len(tag_name) <= 128:
            raise DecodeError(Reason.OUT_OF_RANGE, "tag name must be 1-128 characters")
        if value is None:
            continue
        out.append(ProcessValue(topic_device, ts, tag_name, float(TAG_VALUE.convert(value)), quality, estimated))
    if not out:
        raise DecodeError(Reason.MISSING_FIELD, "all tag values are null")
    return out


def decode(
    payload: bytes,
    *,
    topic_device: str,
    kind: DeviceKind,
    received_at: datetime,
    window: TimeWindow,
) -> list[Record]:
    """Decode one native JSON message of a device of ``kind`` published on ``sensors/<topic_device>/json``."""
    items = _items(loads_strict(payload), topic_device)
    if not items:
        raise DecodeError(Reason.EMPTY, "no readings in message")
    if len(items) > MAX_READINGS:
        raise DecodeError(Reason.OVERSIZED, f"more than {MAX_READINGS} readings in one message")
    oldest, latest = window.bounds(received_at)
    out: list[Record] = []
    if kind is DeviceKind.PROCESS:
        untimed = sum(1 for raw in items if type(raw) is dict and not _stamps(raw))
        position = 0
        for raw in items:
            if type(raw) is not dict:
                raise DecodeError(Reason.WRONG_TYPE, "a reading must be a JSON object")
            estimated_at = received_at
            if untimed > 1 and not _stamps(raw):
                estimated_at = estimated_time(received_at, position, untimed)
                position += 1
            out.extend(_process(raw, topic_device, estimated_at, oldest, latest))
        return out
    layout = LAYOUTS[kind]
    for raw in items:
        if type(raw) is not dict:
            raise DecodeError(Reason.WRONG_TYPE, "a reading must be a JSON object")
        out.append(_reading(raw, layout, topic_device, received_at, oldest, latest))
    return spread_estimated(out, received_at)
