"""SenML: base-field resolution, units, relative times, device names, process tags."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from ingest.decoders import TimeWindow
from ingest.decoders.errors import DecodeError, Reason
from ingest.decoders.senml import decode
from kipsense.records import CyclerSample, DeviceKind, DustReading, ProcessValue, Record


def _decode(pack: list[Any], received_at: datetime, kind: DeviceKind = DeviceKind.DUST) -> list[Record]:
    return decode(
        json.dumps(pack).encode(), topic_device="dust-07", kind=kind, received_at=received_at, window=TimeWindow()
    )


def test_units_are_converted_to_platform_units(received_at: datetime) -> None:
    (reading,) = _decode(
        [
            {"bn": "dust-07/", "n": "temperature", "u": "K", "v": 270.65},
            {"n": "pressure", "u": "kPa", "v": 101.3},
            {"n": "pm10", "u": "mg/m3", "v": 0.025},
            {"n": "rh", "u": "/", "v": 0.5},
        ],
        received_at,
    )
    assert isinstance(reading, DustReading)
    assert reading.temperature == pytest.approx(-2.5)
    assert reading.pressure == pytest.approx(1013.0)
    assert reading.pm10 == pytest.approx(25.0)
    assert reading.rh == pytest.approx(50.0)


def test_base_value_and_base_time_apply_to_later_records(received_at: datetime) -> None:
    t0 = (received_at - timedelta(minutes=3)).timestamp()
    readings = _decode(
        [
            {"bn": "dust-07/", "bt": t0, "bv": 10.0, "bu": "ug/m3", "n": "pm25", "v": 1.5},
            {"n": "pm25", "t": 60, "v": 2},
        ],
        received_at,
    )
    assert [(r.time, r.pm25) for r in readings if isinstance(r, DustReading)] == [
        (received_at - timedelta(minutes=3), 11.5),
        (received_at - timedelta(minutes=2), 12.0),
    ]
    assert not any(r.time_estimated for r in readings if isinstance(r, DustReading))


def test_a_later_base_name_replaces_the_earlier_one(received_at: datetime) -> None:
    with pytest.raises(DecodeError) as caught:
        _decode([{"bn": "dust-07/", "n": "pm25", "v": 1.0}, {"bn": "dust-08/", "n": "pm10", "v": 2.0}], received_at)
    assert caught.value.reason is Reason.DEVICE_MISMATCH


def test_unknown_measurements_are_skipped_and_unit_places_unnamed_ones(received_at: datetime) -> None:
    (reading,) = _decode(
        [{"bn": "urn:dev:mac:dust-07:", "n": "co2", "u": "ppm", "v": 412}, {"n": "t1", "u": "Cel", "v": 4.5}],
        received_at,
    )
    assert reading == DustReading("dust-07", received_at, temperature=4.5, time_estimated=True)


def test_cycler_step_type_comes_from_a_string_value(received_at: datetime) -> None:
    (sample,) = _decode(
        [{"bn": "dust-07/", "n": "voltage", "u": "V", "v": 3.7}, {"n": "step_type", "vs": "rest"}],
        received_at,
        DeviceKind.CYCLER,
    )
    assert isinstance(sample, CyclerSample)
    assert (sample.voltage, sample.step_type) == (3.7, "rest")


def test_process_tags_take_numbers_and_booleans(received_at: datetime) -> None:
    values = _decode(
        [{"bn": "dust-07:", "n": "FIC101.PV", "v": 12.5}, {"n": "P101.Run", "vb": True}, {"n": "Mode", "vs": "auto"}],
        received_at,
        DeviceKind.PROCESS,
    )
    assert values == [
        ProcessValue("dust-07", received_at, "FIC101.PV", 12.5, time_estimated=True),
        ProcessValue("dust-07", received_at, "P101.Run", 1.0, time_estimated=True),
    ]


@pytest.mark.parametrize(
    ("pack", "reason"),
    [
        ([], Reason.EMPTY),
        ([1], Reason.WRONG_TYPE),
        ([{"n": "pm25", "v": 1.0, "bt": "now"}], Reason.WRONG_TYPE),
        ([{"n": "pm25", "v": 1.0, "t": -1e12}], Reason.BAD_TIMESTAMP),
        ([{"n": "pm25", "v": 10**400}], Reason.OUT_OF_RANGE),
        ([{"n": "pm25", "v": 1.0, "bver": 11}], Reason.UNSUPPORTED_VERSION),
        ([{"n": "", "v": 1.0}], Reason.BAD_NAME),
        ([{"n": "pm25", "v": True}], Reason.WRONG_TYPE),
    ],
)
def test_refusals(pack: list[Any], reason: Reason, received_at: datetime) -> None:
    with pytest.raises(DecodeError) as caught:
        _decode(pack, received_at)
    assert caught.value.reason is reason
