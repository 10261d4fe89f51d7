"""The platform's own JSON format, for every kind of device.

A message is one reading object, a list of them, or ``{"device": id, "readings": [...]}`` (back-fill after an
outage). A reading has an optional ``ts`` (ISO 8601 or epoch s/ms/µs), an optional ``seq`` and the kind's
fields::

    {"device": "dust-07", "ts": "2026-11-28T08:00:00Z", "seq": 42, "pm1": 4.1, "pm25": 7.9, "pm10": 18.2,
     "temperature": -3.5, "rh": 81.0, "lat": 63.86, "lon": 23.03}

A message is accepted or refused whole: one bad reading sends the whole message to quarantine, raw bytes
kept, so a back-fill batch is never half stored.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ingest.decoders.common import TimeWindow, integer, loads_strict, number, parse_time, text
from ingest.decoders.errors import DecodeError, Reason
from kipsense.records import CyclerSample, DeviceKind, DustReading, MetReading, ProcessValue, Record

#: Most readings one message may carry.
MAX_READINGS = 10_000

_ALIASES = {
    "pm2_5": "pm25",
    "pm2.5": "pm25",
    "temp": "temperature",
    "humidity": "rh",
    "time": "ts",
    "timestamp": "ts",
}

_DUST_FIELDS: dict[str, tuple[float | None, float | None]] = {
    "pm1": (0.0, 10_000.0),
    "pm25": (0.0, 10_000.0),
    "pm10": (0.0, 10_000.0),
    "temperature": (-60.0, 85.0),
    "rh": (0.0, 100.0),
    "pressure": (300.0, 1_100.0),
    "wind_speed": (0.0, 100.0),
    "wind_dir": (0.0, 360.0),
    "lat": (-90.0, 90.0),
    "lon": (-180.0, 180.0),
    "battery": (0.0, 100.0),
    "rssi": (-150.0, 0.0),
}
_MET_FIELDS = {k: _DUST_FIELDS[k] for k in ("wind_speed", "wind_dir", "temperature", "rh", "pressure")}
_CYCLER_FLOATS: dict[str, tuple[float | None, float | None]] = {
    "test_time": (0.0, None),
    "voltage": (-10.0, 10.0),
    "current": (-1_000.0, 1_000.0),
    "temperature": (-60.0, 200.0),
    "charge_capacity": (0.0, None),
    "discharge_capacity": (0.0, None),
    "charge_energy": (0.0, None),
    "discharge_energy": (0.0, None),
    "internal_resistance": (0.0, None),
}


def _normalise(obj: dict[str, Any]) -> dict[str, Any]:
    return {_ALIASES.get(k, k): v for k, v in obj.items()}


def _floats(obj: dict[str, Any], spec: dict[str, tuple[float | None, float | None]]) -> dict[str, float | None]:
    values = {key: number(obj, key, lo=lo, hi=hi) for key, (lo, hi) in spec.items()}
    if all(v is None for v in values.values()):
        raise DecodeError(Reason.MISSING_FIELD, "reading carries no measurement")
    return values


def _dust(device_id: str, ts: datetime, estimated: bool, obj: dict[str, Any]) -> list[Record]:
    values = _floats(obj, _DUST_FIELDS)
    seq = integer(obj, "seq", lo=0)
    return [DustReading(device_id=device_id, time=ts, seq=seq, time_estimated=estimated, **values)]


def _met(device_id: str, ts: datetime, estimated: bool, obj: dict[str, Any]) -> list[Record]:
    values = _floats(obj, _MET_FIELDS)
    seq = integer(obj, "seq", lo=0)
    return [MetReading(device_id=device_id, time=ts, seq=seq, time_estimated=estimated, **values)]


def _cycler(device_id: str, ts: datetime, estimated: bool, obj: dict[str, Any]) -> list[Record]:
    values = _floats(obj, _CYCLER_FLOATS)
    return [
        CyclerSample(
            device_id=device_id,
            time=ts,
            cycle_index=integer(obj, "cycle_index", lo=0),
            step_index=integer(obj, "step_index", lo=0),
            step_type=text(obj, "step_type"),
            seq=integer(obj, "seq", lo=0),
            time_estimated=estimated,
            **values,
        )
    ]


def _process(device_id: str, ts: datetime, estimated: bool, obj: dict[str, Any]) -> list[Record]:
    tags = obj.get("tags")
    if tags is None:
        tag = text(obj, "tag", max_len=128)
        value = number(obj, "value")
        if tag is None or value is None:
            raise DecodeError(Reason.MISSING_FIELD, "process reading needs 'tags' or 'tag' and 'value'")
        tags = {tag: value}
    if not isinstance(tags, dict) or not tags:
        raise DecodeError(Reason.WRONG_TYPE, "tags must be a non-empty object of tag -> number")
    quality = integer(obj, "quality", lo=0)
    out: list[Record] = []
    for tag_name in tags:
        if len(tag_name) > 128 or not tag_name:
            raise DecodeError(Reason.OUT_OF_RANGE, "tag name must be 1-128 characters")
        value = number(tags, tag_name)
        if value is None:
            continue
        out.append(
            ProcessValue(
                device_id=device_id,
                time=ts,
                tag=tag_name,
                value=value,
                quality=192 if quality is None else quality,
                time_estimated=estimated,
            )
        )
    if not out:
        raise DecodeError(Reason.MISSING_FIELD, "all tag values are null")
    return out


_BUILDERS: dict[DeviceKind, Callable[[str, datetime, bool, dict[str, Any]], list[Record]]] = {
    DeviceKind.DUST: _dust,
    DeviceKind.MET: _met,
    DeviceKind.CYCLER: _cycler,
    DeviceKind.PROCESS: _process,
}


def _items(doc: Any, topic_device: str) -> list[Any]:
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict) and "readings" in doc:
        _check_device(doc, topic_device)
        readings = doc["readings"]
        if not isinstance(readings, list):
            raise DecodeError(Reason.WRONG_TYPE, "readings must be a list")
        return readings
    return [doc]


def _check_device(obj: dict[str, Any], topic_device: str) -> None:
    claimed = obj.get("device", obj.get("device_id"))
    if claimed is not None and claimed != topic_device:
        raise DecodeError(Reason.DEVICE_MISMATCH, f"payload claims {str(claimed)[:64]!r}, topic is {topic_device!r}")


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
    build = _BUILDERS[kind]
    out: list[Record] = []
    for raw in items:
        if not isinstance(raw, dict):
            raise DecodeError(Reason.WRONG_TYPE, "a reading must be a JSON object")
        obj = _normalise(raw)
        _check_device(obj, topic_device)
        if obj.get("ts") is None:
            ts, estimated = received_at, True
        else:
            ts, estimated = window.check(parse_time(obj["ts"]), received_at), False
        out.extend(build(topic_device, ts, estimated, obj))
    return out
