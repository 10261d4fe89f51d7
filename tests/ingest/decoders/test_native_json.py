"""Native JSON: kinds, batches, aliases, the fast path against the general one, and refusals."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from ingest.decoders import TimeWindow
from ingest.decoders.errors import DecodeError, Reason
from ingest.decoders.native_json import MAX_READINGS, decode
from kipsense.records import CyclerSample, DeviceKind, DustReading, MetReading, ProcessValue, Record


def _decode(doc: Any, received_at: datetime, kind: DeviceKind = DeviceKind.DUST) -> list[Record]:
    payload = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return decode(payload, topic_device="dust-07", kind=kind, received_at=received_at, window=TimeWindow())


def _dust(doc: Any, received_at: datetime) -> DustReading:
    (reading,) = _decode(doc, received_at)
    assert isinstance(reading, DustReading)
    return reading


def _reason(doc: Any, received_at: datetime, kind: DeviceKind = DeviceKind.DUST) -> Reason:
    with pytest.raises(DecodeError) as caught:
        _decode(doc, received_at, kind)
    return caught.value.reason


def test_reading_without_timestamp_gets_receive_time_and_flag(received_at: datetime) -> None:
    (reading,) = _decode({"pm25": 7.9}, received_at)
    assert isinstance(reading, DustReading)
    assert reading.time == received_at
    assert reading.time_estimated


def test_integers_and_floats_give_the_same_reading(received_at: datetime) -> None:
    as_floats = _decode({"pm25": 8.0, "rh": 81.0, "temperature": -3.0}, received_at)
    as_ints = _decode({"pm25": 8, "rh": 81, "temperature": -3}, received_at)
    assert as_floats == as_ints
    assert all(isinstance(getattr(as_ints[0], f), float) for f in ("pm25", "rh", "temperature"))


def test_range_limits_are_inclusive(received_at: datetime) -> None:
    reading = _dust({"rh": 100.0, "pm25": 0.0, "lat": -90.0, "lon": 180.0}, received_at)
    assert (reading.rh, reading.pm25, reading.lat, reading.lon) == (100.0, 0.0, -90.0, 180.0)
    assert _reason({"rh": 100.0001}, received_at) is Reason.OUT_OF_RANGE


def test_unknown_keys_are_ignored_but_known_ones_still_checked(received_at: datetime) -> None:
    (reading,) = _decode({"pm25": 7.9, "fw": "2.1", "diag": {"resets": 3}}, received_at)
    assert reading == DustReading("dust-07", received_at, pm25=7.9, time_estimated=True)
    assert _reason({"pm25": 7.9, "pm10": "high", "fw": "2.1"}, received_at) is Reason.WRONG_TYPE


def test_null_fields_are_absent(received_at: datetime) -> None:
    reading = _dust({"pm25": 7.9, "pm10": None, "seq": None}, received_at)
    assert reading.pm10 is None and reading.seq is None


def test_a_batch_is_refused_whole_when_one_reading_is_bad(received_at: datetime) -> None:
    batch = [{"pm25": float(i)} for i in range(20)] + [{"pm25": -1.0}]
    assert _reason(batch, received_at) is Reason.OUT_OF_RANGE
    assert len(_decode(batch[:-1], received_at)) == 20


def test_too_many_readings_are_oversized(received_at: datetime) -> None:
    assert _reason([{"pm25": 1.0}] * (MAX_READINGS + 1), received_at) is Reason.OVERSIZED
    assert len(_decode([{"pm25": 1.0}] * MAX_READINGS, received_at)) == MAX_READINGS


def test_met_kind_reads_met_fields_only(received_at: datetime) -> None:
    (reading,) = _decode({"wind_speed": 3.5, "wind_dir": 90, "pm25": 7.0}, received_at, DeviceKind.MET)
    assert reading == MetReading("dust-07", received_at, wind_speed=3.5, wind_dir=90.0, time_estimated=True)
    assert _reason({"pm25": 7.0}, received_at, DeviceKind.MET) is Reason.MISSING_FIELD


def test_cycler_counters_must_be_whole_numbers(received_at: datetime) -> None:
    (sample,) = _decode({"cycle_index": 12.0, "Step Count / 1": 3}, received_at, DeviceKind.CYCLER)
    assert isinstance(sample, CyclerSample)
    assert (sample.cycle_index, sample.step_index) == (12, 3)
    assert isinstance(sample.cycle_index, int)
    assert _reason({"cycle_index": 12.5}, received_at, DeviceKind.CYCLER) is Reason.WRONG_TYPE
    assert _reason({"voltage": 3.7, "step_type": "x" * 65}, received_at, DeviceKind.CYCLER) is Reason.OUT_OF_RANGE
    assert _reason({"voltage": 3.7, "step_type": 3}, received_at, DeviceKind.CYCLER) is Reason.WRONG_TYPE


def test_beep_and_bdf_names_give_the_same_sample(received_at: datetime) -> None:
    beep = {"test_time": 10.0, "voltage": 3.9, "current": 1.5, "cycle_index": 1, "step_index": 2,
            "temperature": 25.0, "charge_capacity": 0.5, "discharge_capacity": 0.1, "charge_energy": 1.9,
            "discharge_energy": 0.4, "step_type": "charge"}  # fmt: skip
    bdf = {"Test Time / s": 10.0, "Voltage / V": 3.9, "Current / A": 1.5, "Cycle Count / 1": 1,
           "Step Count / 1": 2, "Temperature T1 / degC": 25.0, "Charging Capacity / Ah": 0.5,
           "Discharging Capacity / Ah": 0.1, "Charging Energy / Wh": 1.9, "Discharging Energy / Wh": 0.4,
           "Step Type": "charge"}  # fmt: skip
    assert _decode(beep, received_at, DeviceKind.CYCLER) == _decode(bdf, received_at, DeviceKind.CYCLER)


def test_process_single_tag_and_quality(received_at: datetime) -> None:
    (value,) = _decode({"tag": "FIC101.PV", "value": 12, "quality": 0}, received_at, DeviceKind.PROCESS)
    assert value == ProcessValue("dust-07", received_at, "FIC101.PV", 12.0, 0, True)


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ({"tags": {"A": None}}, Reason.MISSING_FIELD),
        ({"tags": {}}, Reason.WRONG_TYPE),
        ({"tags": [1, 2]}, Reason.WRONG_TYPE),
        ({"tag": "A"}, Reason.MISSING_FIELD),
        ({"tags": {"": 1.0}}, Reason.OUT_OF_RANGE),
        ({"tags": {"A" * 129: 1.0}}, Reason.OUT_OF_RANGE),
        ({"tags": {"A": "on"}}, Reason.WRONG_TYPE),
        ({"tags": {"A": 1e999}}, Reason.NON_FINITE),
        ({"tags": {"A": 1.0}, "quality": 256}, Reason.OUT_OF_RANGE),
        ({"tags": {"A": 1.0}, "ts": "2026-11-28T08:00:00Z", "time": 1795852800}, Reason.DUPLICATE_KEY),
        ({"tags": {"A": 1.0}, "device": "line-2"}, Reason.DEVICE_MISMATCH),
    ],
)
def test_process_refusals(doc: dict[str, Any], reason: Reason, received_at: datetime) -> None:
    assert _reason(doc, received_at, DeviceKind.PROCESS) is reason
