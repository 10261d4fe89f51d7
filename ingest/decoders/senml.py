"""SenML packs (RFC 8428, JSON representation) on ``sensors/<device>/senml``.

Base fields (``bn``, ``bt``, ``bu``, ``bv``, ``bver``) apply to their own record and every later one until
overridden. The resolved name is ``bn + n``; its part after the last ``:`` or ``/`` names the measurement
(``pm25``, ``temperature``, ... as in native JSON), the part before it names the device, and the device's last
component must equal the topic's device (case-insensitive), e.g. ``urn:dev:ow:10e2073a01080063:`` on topic
``sensors/10e2073a01080063/senml``. A record whose measurement name is unknown is placed by an unambiguous
unit (``Cel``, ``%RH``, ``lat``, ``lon``, ...), otherwise ignored. Units are converted to the platform's
(``Pa`` -> hPa, ``K`` -> °C); a unit that does not fit the measurement is refused.

Times are seconds (``bt + t``); a resolved time below 2**28 is relative to the receive time (RFC 8428 §4.5.3)
and flagged ``time_estimated``. An absolute time of 1e11 or more is refused: SenML times are seconds, so such
a value is milliseconds sent by mistake. Records sharing a time become one reading; for process lines every
numeric or boolean record is one tag value named by its measurement name.

Example (RFC 8428 §5.1.2 style)::

    [{"bn": "urn:dev:ow:10e2073a01080063:", "bt": 1.320067464e9, "bu": "ug/m3", "n": "pm25", "v": 7.9},
     {"n": "pm10", "v": 18.2}, {"n": "temperature", "u": "Cel", "v": -3.5}, {"n": "rh", "u": "%RH", "v": 81}]
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from typing import Any, Final

from ingest.decoders.common import TimeWindow, check_bounds, epoch_to_datetime, loads_strict
from ingest.decoders.errors import DecodeError, Reason
from ingest.decoders.fields import FIELDS, TAG_VALUE, build
from ingest.decoders.native_json import MAX_READINGS
from ingest.decoders.units import FIELD_OF_UNIT, UNITS
from kipsense.records import DeviceKind, ProcessValue, Record

#: RFC 8428 §4.5.1: name characters, first one alphanumeric.
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9:./_-]*")
_SPLIT: Final = re.compile(r"[:/]")
_RELATIVE_LIMIT: Final = 2**28
_SECONDS_LIMIT: Final = 1e11
_SUPPORTED_VERSION: Final = 10
_KNOWN_LABELS: Final = frozenset(
    {"bn", "bt", "bu", "bv", "bs", "bver", "n", "u", "v", "vs", "vb", "vd", "s", "t", "ut"}
)
_MAX_NAME: Final = 255


def _number(record: dict[str, Any], label: str) -> float | None:
    value = record.get(label)
    if value is None:
        return None
    if type(value) is not float and type(value) is not int:
        raise DecodeError(Reason.WRONG_TYPE, f"SenML {label} must be a number")
    if type(value) is float and not math.isfinite(value):
        raise DecodeError(Reason.NON_FINITE, f"SenML {label} is not finite")
    if not -1e300 < value < 1e300:
        raise DecodeError(Reason.OUT_OF_RANGE, f"SenML {label} is out of range")
    return float(value)


def _string(record: dict[str, Any], label: str) -> str | None:
    value = record.get(label)
    if value is not None and type(value) is not str:
        raise DecodeError(Reason.WRONG_TYPE, f"SenML {label} must be a string")
    return value


def _split_name(name: str, topic_device: str) -> str:
    """Return the measurement part of a resolved name after checking its device part against the topic."""
    cut = max(name.rfind(":"), name.rfind("/"))
    if cut < 0:
        return name
    if name[cut + 1 :].lower() == topic_device:
        return ""  # a name that is only the device (RFC 8428 §5.1.1): the record is placed by its unit
    components = [c for c in _SPLIT.split(name[:cut]) if c]
    if components and components[-1].lower() != topic_device:
        raise DecodeError(Reason.DEVICE_MISMATCH, f"SenML name {name[:80]!r} is not of device {topic_device!r}")
    return name[cut + 1 :]


def _convert(field: str, unit: str | None, value: float) -> float:
    accepted = UNITS.get(field)
    if unit is None or accepted is None:
        return value
    conv = accepted.get(unit)
    if conv is None:
        raise DecodeError(Reason.BAD_UNIT, f"unit {unit[:16]!r} does not fit {field}")
    return value * conv[0] + conv[1]


class _Resolver:
    """Carries the base fields from record to record (RFC 8428 §4.6 resolution)."""

    def __init__(self) -> None:
        self.bn = ""
        self.bt = 0.0
        self.bu: str | None = None
        self.bv = 0.0

    def update(self, record: dict[str, Any]) -> None:
        for label in record:
            if label not in _KNOWN_LABELS:
                if label.endswith("_"):
                    raise DecodeError(Reason.UNKNOWN_FIELD, f"SenML must-understand field {label[:32]!r}")
        bver = _number(record, "bver")
        if bver is not None and bver > _SUPPORTED_VERSION:
            raise DecodeError(Reason.UNSUPPORTED_VERSION, f"SenML version {bver:g} is newer than 10")
        bn = _string(record, "bn")
        if bn is not None:
            self.bn = bn
        bt = _number(record, "bt")
        if bt is not None:
            self.bt = bt
        if "bu" in record:
            self.bu = _string(record, "bu")
        bv = _number(record, "bv")
        if bv is not None:
            self.bv = bv

    def name(self, record: dict[str, Any]) -> str:
        name = self.bn + (_string(record, "n") or "")
        if len(name) > _MAX_NAME or not _NAME.fullmatch(name):
            raise DecodeError(Reason.BAD_NAME, f"SenML name {name[:80]!r} is empty or has invalid characters")
        return name

    def time(self, record: dict[str, Any]) -> float:
        return self.bt + (_number(record, "t") or 0.0)

    def unit(self, record: dict[str, Any]) -> str | None:
        unit = _string(record, "u")
        return self.bu if unit is None else unit


def _resolve_time(seconds: float, received_at: datetime, oldest: datetime, latest: datetime) -> tuple[datetime, bool]:
    if seconds < _RELATIVE_LIMIT:
        try:
            ts = received_at + timedelta(seconds=seconds)
        except OverflowError:
            raise DecodeError(Reason.BAD_TIMESTAMP, f"relative time {seconds:g} s is out of range") from None
        return check_bounds(ts, oldest, latest), True
    if seconds >= _SECONDS_LIMIT:
        raise DecodeError(Reason.BAD_TIMESTAMP, f"SenML time {seconds:g} is not in seconds (milliseconds?)")
    return check_bounds(epoch_to_datetime(seconds), oldest, latest), False


def decode(
    payload: bytes,
    *,
    topic_device: str,
    kind: DeviceKind,
    received_at: datetime,
    window: TimeWindow,
) -> list[Record]:
    """Decode one SenML JSON pack published on ``sensors/<topic_device>/senml`` by a device of ``kind``."""
    pack = loads_strict(payload)
    if type(pack) is not list:
        raise DecodeError(Reason.WRONG_TYPE, "a SenML pack is a JSON array of records")
    if not pack:
        raise DecodeError(Reason.EMPTY, "empty SenML pack")
    if len(pack) > MAX_READINGS:
        raise DecodeError(Reason.OVERSIZED, f"more than {MAX_READINGS} records in one pack")
    oldest, latest = window.bounds(received_at)
    fields = FIELDS.get(kind)
    resolver = _Resolver()
    # (time, estimated) -> canonical values; dicts keep first-seen order.
    readings: dict[tuple[datetime, bool], dict[str, Any]] = {}
    tags: list[Record] = []
    for record in pack:
        if type(record) is not dict:
            raise DecodeError(Reason.WRONG_TYPE, "a SenML record must be a JSON object")
        resolver.update(record)
        measurement = _split_name(resolver.name(record), topic_device)
        unit = resolver.unit(record)
        when = _resolve_time(resolver.time(record), received_at, oldest, latest)
        value = _number(record, "v")
        if value is not None:
            value += resolver.bv
        if fields is None:  # process line: every numeric or boolean record is a tag value
            vb = record.get("vb")
            if value is None and vb is not None:
                if type(vb) is not bool:
                    raise DecodeError(Reason.WRONG_TYPE, "SenML vb must be a boolean")
                value = float(vb)
            if value is not None:
                tag_value = float(TAG_VALUE.convert(value))
                tags.append(ProcessValue(topic_device, when[0], measurement, tag_value, time_estimated=when[1]))
            continue
        spec = fields.get(measurement) or fields.get(measurement.lower())
        if spec is None and unit is not None:
            spec = fields.get(FIELD_OF_UNIT.get(unit, ""))
        if spec is None:
            continue  # a measurement this platform does not store
        if spec.kind is str:
            converted = None if record.get("vs") is None else spec.convert(record["vs"])
        else:
            converted = None if value is None else spec.convert(_convert(spec.name, unit, value))
        if converted is None:
            continue
        values = readings.setdefault(when, {})
        if spec.name in values:
            raise DecodeError(Reason.DUPLICATE_KEY, f"{spec.name} given twice for one time")
        values[spec.name] = converted
    if fields is None:
        if not tags:
            raise DecodeError(Reason.MISSING_FIELD, "SenML pack carries no numeric value")
        return tags
    out = [build(kind, topic_device, ts, estimated, values) for (ts, estimated), values in readings.items()]
    if not out:
        raise DecodeError(Reason.MISSING_FIELD, "SenML pack carries no measurement of a known name")
    return out
