"""airrohr firmware JSON: numeric strings, sensor priority, chip id, kinds."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from ingest.decoders import TimeWindow
from ingest.decoders.airrohr import decode
from ingest.decoders.errors import DecodeError, Reason
from kipsense.records import DeviceKind, DustReading, Record


def _decode(
    values: list[dict[str, Any]], received_at: datetime, device: str = "dust-07", **extra: object
) -> list[Record]:
    payload = json.dumps({"software_version": "NRZ-2020-133", **extra, "sensordatavalues": values}).encode()
    return decode(payload, topic_device=device, kind=DeviceKind.DUST, received_at=received_at, window=TimeWindow())


def test_sds011_p1_is_pm10_and_p2_is_pm25(received_at: datetime) -> None:
    values = [{"value_type": "SDS_P1", "value": "20.5"}, {"value_type": "SDS_P2", "value": "8.25"}]
    (reading,) = _decode(values, received_at)
    assert reading == DustReading("dust-07", received_at, pm25=8.25, pm10=20.5, time_estimated=True)


def test_the_better_sensor_wins_whatever_the_order(received_at: datetime) -> None:
    values = [
        {"value_type": "temperature", "value": "9.0"},
        {"value_type": "BME280_temperature", "value": "8.0"},
        {"value_type": "BMP_pressure", "value": "99000"},
        {"value_type": "BME280_pressure", "value": "100000"},
    ]
    for ordered in (values, values[::-1]):
        (reading,) = _decode(ordered, received_at)
        assert isinstance(reading, DustReading)
        assert (reading.temperature, reading.pressure) == (8.0, 1000.0)


def test_numbers_sent_as_numbers_are_accepted(received_at: datetime) -> None:
    (reading,) = _decode([{"value_type": "SDS_P2", "value": 8}], received_at)
    assert isinstance(reading, DustReading) and reading.pm25 == 8.0


def test_chip_id_is_checked_only_against_chip_named_topics(received_at: datetime) -> None:
    values = [{"value_type": "SDS_P2", "value": "8.0"}]
    assert _decode(values, received_at, "dust-07", esp8266id="123")[0].device_id == "dust-07"
    assert _decode(values, received_at, "esp8266-123", esp8266id="123")[0].device_id == "esp8266-123"
    with pytest.raises(DecodeError) as caught:
        _decode(values, received_at, "esp8266-124", esp8266id="123")
    assert caught.value.reason is Reason.DEVICE_MISMATCH


@pytest.mark.parametrize("text", ["", " 8.0", "8.0 ", "inf", "-nan", "0x10", "8,0", "1e9999"])
def test_only_plain_decimals_are_numbers(text: str, received_at: datetime) -> None:
    with pytest.raises(DecodeError) as caught:
        _decode([{"value_type": "SDS_P2", "value": text}], received_at)
    assert caught.value.reason in {Reason.WRONG_TYPE, Reason.NON_FINITE}


def test_other_kinds_are_refused(received_at: datetime) -> None:
    payload = b'{"sensordatavalues": [{"value_type": "SDS_P2", "value": "8.0"}]}'
    with pytest.raises(DecodeError) as caught:
        decode(payload, topic_device="x", kind=DeviceKind.MET, received_at=received_at, window=TimeWindow())
    assert caught.value.reason is Reason.KIND_MISMATCH
