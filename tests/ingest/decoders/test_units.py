"""The SenML unit tables agree with the field tables."""

from __future__ import annotations

import pytest

from ingest.decoders.fields import FIELDS
from ingest.decoders.units import FIELD_OF_UNIT, UNITS

_CANONICAL = {spec.name for table in FIELDS.values() for spec in table.values()}


def test_unit_tables_name_canonical_fields_only() -> None:
    assert set(UNITS) <= _CANONICAL
    assert set(FIELD_OF_UNIT.values()) <= _CANONICAL


def test_a_unit_that_places_a_record_is_accepted_for_that_field() -> None:
    for unit, field in FIELD_OF_UNIT.items():
        assert unit in UNITS[field], (unit, field)


@pytest.mark.parametrize(
    ("field", "unit", "value", "expected"),
    [("temperature", "K", 273.15, 0.0), ("pressure", "Pa", 101325.0, 1013.25), ("charge_energy", "J", 3600.0, 1.0),
     ("pm25", "kg/m3", 1e-8, 10.0), ("wind_speed", "km/h", 36.0, 10.0)],
)  # fmt: skip
def test_conversions(field: str, unit: str, value: float, expected: float) -> None:
    scale, offset = UNITS[field][unit]
    assert value * scale + offset == pytest.approx(expected)
