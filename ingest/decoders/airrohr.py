"""Sensor.Community (airrohr firmware) JSON on ``sensors/<device>/airrohr``, dust devices only.

The firmware sends every value as a string in ``sensordatavalues`` and no timestamp::

    {"esp8266id": "13597771", "software_version": "NRZ-2020-133",
     "sensordatavalues": [{"value_type": "SDS_P1", "value": "12.53"}, {"value_type": "SDS_P2", "value": "6.33"},
                          {"value_type": "BME280_temperature", "value": "4.52"},
                          {"value_type": "BME280_pressure", "value": "101272.31"}, ...,
                          {"value_type": "signal", "value": "-68"}]}

``SDS_P1`` is PM10 and ``SDS_P2`` PM2.5 (``P0`` is PM1 on PMS/SPS30/NPM sensors). Pressure arrives in Pa and
is stored in hPa. When several sensors measure one quantity the better one wins (SDS011 before PMS for PM,
SHT3x before BME280 before HTU21D before DHT22 for temperature and humidity). The reading gets the receive time
and ``time_estimated=True``. Counters such as ``samples``, ``min_micro`` and ``interval`` are ignored.

The chip id is a hardware id, not a platform device id; it is compared with the topic only when the topic
device is named after it (``esp8266-<id>`` or ``esp32-<id>``).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Final

from ingest.decoders.common import TimeWindow, loads_strict
from ingest.decoders.errors import DecodeError, Reason
from ingest.decoders.fields import DUST_FIELDS, build
from kipsense.records import DeviceKind, Record

#: value_type -> (canonical field, scale to platform unit, rank; lower rank wins).
VALUE_TYPES: Final[dict[str, tuple[str, float, int]]] = {
    "SDS_P1": ("pm10", 1.0, 0),
    "SDS_P2": ("pm25", 1.0, 0),
    "SPS30_P0": ("pm1", 1.0, 1),
    "SPS30_P1": ("pm10", 1.0, 1),
    "SPS30_P2": ("pm25", 1.0, 1),
    "PMS_P0": ("pm1", 1.0, 2),
    "PMS_P1": ("pm10", 1.0, 2),
    "PMS_P2": ("pm25", 1.0, 2),
    "NPM_P0": ("pm1", 1.0, 3),
    "NPM_P1": ("pm10", 1.0, 3),
    "NPM_P2": ("pm25", 1.0, 3),
    "HPM_P1": ("pm10", 1.0, 4),
    "HPM_P2": ("pm25", 1.0, 4),
    "SHT3X_temperature": ("temperature", 1.0, 0),
    "SHT3X_humidity": ("rh", 1.0, 0),
    "BME280_temperature": ("temperature", 1.0, 1),
    "BME280_humidity": ("rh", 1.0, 1),
    "BME280_pressure": ("pressure", 0.01, 0),
    "HTU21D_temperature": ("temperature", 1.0, 2),
    "HTU21D_humidity": ("rh", 1.0, 2),
    "temperature": ("temperature", 1.0, 3),  # DHT22
    "humidity": ("rh", 1.0, 3),  # DHT22
    "BMP280_temperature": ("temperature", 1.0, 4),
    "BMP280_pressure": ("pressure", 0.01, 1),
    "BMP_temperature": ("temperature", 1.0, 5),
    "BMP_pressure": ("pressure", 0.01, 2),
    "DS18B20_temperature": ("temperature", 1.0, 6),
    "GPS_lat": ("lat", 1.0, 0),
    "GPS_lon": ("lon", 1.0, 0),
    "signal": ("rssi", 1.0, 0),
}
#: Plain decimal numbers only: Python's float() would also take "nan", "inf", "1_000" and padded text.
_DECIMAL: Final = re.compile(r"-?[0-9]{1,20}(?:\.[0-9]{1,20})?(?:[eE][+-]?[0-9]{1,3})?")
_CHIP_TOPIC: Final = re.compile(r"esp(?:8266|32)-([0-9a-f]+)")
_MAX_VALUES: Final = 64
_GPS: Final = ("lat", "lon")


def _number(value_type: str, value: Any) -> float:
    if type(value) is str:
        if not _DECIMAL.fullmatch(value):
            raise DecodeError(Reason.WRONG_TYPE, f"{value_type}={value[:24]!r} is not a decimal number")
        return float(value)
    if type(value) is float or type(value) is int:
        return float(value)
    raise DecodeError(Reason.WRONG_TYPE, f"{value_type} must be a number or a numeric string")


def _check_chip(doc: dict[str, Any], topic_device: str) -> None:
    named = _CHIP_TOPIC.fullmatch(topic_device)
    if named is None:
        return
    for key in ("esp8266id", "esp32id"):
        chip = doc.get(key)
        if chip is not None and str(chip).lower() != named.group(1):
            raise DecodeError(Reason.DEVICE_MISMATCH, f"{key} {str(chip)[:24]!r} is not topic {topic_device!r}")


def decode(
    payload: bytes,
    *,
    topic_device: str,
    kind: DeviceKind,
    received_at: datetime,
    window: TimeWindow,
) -> list[Record]:
    """Decode one airrohr firmware message published on ``sensors/<topic_device>/airrohr``."""
    if kind is not DeviceKind.DUST:
        raise DecodeError(Reason.KIND_MISMATCH, f"airrohr messages come from dust devices, not {kind}")
    doc = loads_strict(payload)
    if type(doc) is not dict:
        raise DecodeError(Reason.WRONG_TYPE, "an airrohr message is a JSON object")
    _check_chip(doc, topic_device)
    entries = doc.get("sensordatavalues")
    if type(entries) is not list:
        raise DecodeError(Reason.MISSING_FIELD, "sensordatavalues must be a list")
    if len(entries) > _MAX_VALUES:
        raise DecodeError(Reason.OVERSIZED, f"more than {_MAX_VALUES} sensordatavalues")
    seen: set[str] = set()
    best: dict[str, tuple[int, float]] = {}
    for entry in entries:
        if type(entry) is not dict:
            raise DecodeError(Reason.WRONG_TYPE, "a sensordatavalues entry must be an object")
        value_type = entry.get("value_type")
        if type(value_type) is not str:
            raise DecodeError(Reason.WRONG_TYPE, "value_type must be a string")
        if value_type in seen:
            raise DecodeError(Reason.DUPLICATE_KEY, f"value_type {value_type[:32]!r} appears twice")
        seen.add(value_type)
        target = VALUE_TYPES.get(value_type)
        if target is None:
            continue
        field, scale, rank = target
        value = _number(value_type, entry.get("value")) * scale
        if field not in best or rank < best[field][0]:
            best[field] = (rank, value)
    for field in _GPS:
        # Without a fix the GPS module reports placeholders outside the coordinate range: no position then.
        if field in best and not DUST_FIELDS[field].lo <= best[field][1] <= DUST_FIELDS[field].hi:
            del best[field]
    values = {field: DUST_FIELDS[field].convert(value) for field, (_, value) in best.items()}
    return [build(kind, topic_device, received_at, True, values)]
