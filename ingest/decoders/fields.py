"""Measurement fields of each device kind: accepted names, plausible ranges, and building records from them.

Every decoder ends in the same place: a mapping of canonical field name -> value for one device and one time,
checked against the ranges below and turned into the kind's record by ``build``. The native JSON decoder
looks keys up in ``FIELDS[kind]`` directly (one dict lookup per key), so the aliases live here too.

Cycler fields accept BEEP-style names (``test_time``, ``cycle_index``, ``charge_capacity``, ...) and the
Battery Data Format column names (``Test Time / s``, ``Cycle Count / 1``, ``Charging Capacity / Ah``, ...) and
their machine-readable forms (``test_time_second``, ``cycle_count``, ``charging_capacity_ah``, ...).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Final

from ingest.decoders.errors import DecodeError, Reason
from kipsense.records import CyclerSample, DeviceKind, DustReading, MetReading, Record


@dataclass(frozen=True, slots=True)
class Field:
    """One measurement: its canonical (record attribute) name, inclusive range, and value type."""

    name: str
    lo: float
    hi: float
    kind: type = float  # float, int or str

    def convert(self, value: Any) -> float | int | str:
        """Check one JSON value against the field and return it as the record expects."""
        vtype = type(value)
        if self.kind is str:
            if vtype is not str:
                raise DecodeError(Reason.WRONG_TYPE, f"{self.name} must be a string")
            if len(value) > self.hi:
                raise DecodeError(Reason.OUT_OF_RANGE, f"{self.name} longer than {int(self.hi)}")
            return str(value)
        if vtype is not float and vtype is not int:
            raise DecodeError(Reason.WRONG_TYPE, f"{self.name} must be a number, got {vtype.__name__}")
        if not self.lo <= value <= self.hi:
            raise out_of_range(self, value)
        if self.kind is int:
            if vtype is float and not value.is_integer():
                raise DecodeError(Reason.WRONG_TYPE, f"{self.name} must be an integer")
            return int(value)
        return float(value)


def out_of_range(spec: Field, value: float) -> DecodeError:
    """The error for a number outside ``spec``'s range; NaN and infinities get their own reason."""
    if isinstance(value, float) and not math.isfinite(value):
        return DecodeError(Reason.NON_FINITE, f"{spec.name} is not finite")
    shown = f"{value:.6g}" if isinstance(value, float) else str(value)[:24]
    return DecodeError(Reason.OUT_OF_RANGE, f"{spec.name}={shown} outside [{spec.lo:g}, {spec.hi:g}]")


def _table(*entries: tuple[Field, tuple[str, ...]]) -> dict[str, Field]:
    table: dict[str, Field] = {}
    for spec, aliases in entries:
        for key in (spec.name, *aliases):
            table[key] = spec
    return table


_PM = 10_000.0  # µg/m³; an optical sensor saturates far below this
_BIG = 1e12  # bound for open-ended counters, keeps every value a finite float

_TEMPERATURE = Field("temperature", -60.0, 85.0)
_RH = Field("rh", 0.0, 100.0)
_PRESSURE = Field("pressure", 300.0, 1_100.0)  # hPa
_WIND_SPEED = Field("wind_speed", 0.0, 100.0)
_WIND_DIR = Field("wind_dir", 0.0, 360.0)

DUST_FIELDS: Final = _table(
    (Field("pm1", 0.0, _PM), ("pm1_0", "pm1.0")),
    (Field("pm25", 0.0, _PM), ("pm2_5", "pm2.5")),
    (Field("pm10", 0.0, _PM), ("pm10_0",)),
    (_TEMPERATURE, ("temp",)),
    (_RH, ("humidity",)),
    (_PRESSURE, ()),
    (_WIND_SPEED, ()),
    (_WIND_DIR, ()),
    (Field("lat", -90.0, 90.0), ("latitude",)),
    (Field("lon", -180.0, 180.0), ("longitude", "lng")),
    (Field("battery", 0.0, 100.0), ()),
    (Field("rssi", -150.0, 0.0), ()),
)

MET_FIELDS: Final = _table(
    (_WIND_SPEED, ()),
    (_WIND_DIR, ()),
    (_TEMPERATURE, ("temp",)),
    (_RH, ("humidity",)),
    (_PRESSURE, ()),
)

CYCLER_FIELDS: Final = _table(
    (Field("test_time", 0.0, _BIG), ("Test Time / s", "test_time_second", "test_time_s")),
    (Field("cycle_index", 0, _BIG, int), ("Cycle Count / 1", "cycle_count", "cycle")),
    (Field("step_index", 0, _BIG, int), ("Step Count / 1", "step_count", "step")),
    (Field("step_type", 0, 64, str), ("Step Type", "step_type_text")),
    (Field("voltage", -10.0, 10.0), ("Voltage / V", "voltage_volt", "voltage_v")),
    (Field("current", -1_000.0, 1_000.0), ("Current / A", "current_ampere", "current_a")),
    (
        Field("temperature", -60.0, 200.0),
        (
            "Temperature T1 / degC",
            "Surface Temperature T1 / degC",
            "temperature_t1_celsius",
            "surface_temperature_t1_celsius",
            "temperature_t1_degc",
        ),
    ),
    (Field("charge_capacity", 0.0, _BIG), ("Charging Capacity / Ah", "charging_capacity_ah")),
    (Field("discharge_capacity", 0.0, _BIG), ("Discharging Capacity / Ah", "discharging_capacity_ah")),
    (Field("charge_energy", 0.0, _BIG), ("Charging Energy / Wh", "charging_energy_wh")),
    (Field("discharge_energy", 0.0, _BIG), ("Discharging Energy / Wh", "discharging_energy_wh")),
    (
        Field("internal_resistance", 0.0, _BIG),
        (
            "Internal Resistance / ohm",
            "internal_resistance_ohm",
            "DC Internal Resistance / ohm",
            "dc_internal_resistance_ohm",
        ),
    ),
)

#: Accepted field names (canonical and aliases) of each measuring kind. Process lines have free tag names.
FIELDS: Final[dict[DeviceKind, dict[str, Field]]] = {
    DeviceKind.DUST: DUST_FIELDS,
    DeviceKind.MET: MET_FIELDS,
    DeviceKind.CYCLER: CYCLER_FIELDS,
}

#: Float fields of each kind as key -> (canonical name, lo, hi): the native decoder's per-key fast path.
QUICK: Final[dict[DeviceKind, dict[str, tuple[str, float, float]]]] = {
    kind: {key: (spec.name, spec.lo, spec.hi) for key, spec in table.items() if spec.kind is float}
    for kind, table in FIELDS.items()
}

#: Names a reading's timestamp may have (``Unix Time / s`` is the Battery Data Format column).
TIME_KEYS: Final = frozenset({"ts", "time", "timestamp", "Unix Time / s", "unix_time_second"})
#: Process tag values: anything a float can hold.
TAG_VALUE: Final = Field("value", -1e300, 1e300)
SEQ: Final = Field("seq", 0, 2**62, int)


def build(kind: DeviceKind, device_id: str, ts: datetime, estimated: bool, values: dict[str, Any]) -> Record:
    """One record of a measuring kind from checked canonical values (``seq`` included when known)."""
    if len(values) == ("seq" in values):
        raise DecodeError(Reason.MISSING_FIELD, "reading carries no measurement")
    if kind is DeviceKind.DUST:
        return DustReading(device_id, ts, **values, time_estimated=estimated)
    if kind is DeviceKind.MET:
        return MetReading(device_id, ts, **values, time_estimated=estimated)
    if kind is DeviceKind.CYCLER:
        return CyclerSample(device_id, ts, **values, time_estimated=estimated)
    raise DecodeError(Reason.KIND_MISMATCH, f"{kind} readings are not built from fields")


def _fast_constructor(cls: type[Any]) -> Callable[[list[Any]], Any]:
    """``cls(*values)`` for a frozen slots dataclass, without its generated ``__init__``.

    That ``__init__`` sets each field through ``object.__setattr__`` by name (the frozen guard), about 2 µs for
    a 16-field reading; setting the slots through their descriptors builds the same object in about 1 µs. A
    class that validates in ``__post_init__`` keeps its own ``__init__``.
    """
    if hasattr(cls, "__post_init__") or "__slots__" not in cls.__dict__:
        return lambda values: cls(*values)
    setters = tuple(cls.__dict__[f.name].__set__ for f in fields(cls))
    new = object.__new__

    def construct(values: list[Any]) -> Any:
        obj = new(cls)
        for setter, value in zip(setters, values, strict=True):
            setter(obj, value)
        return obj

    return construct


@dataclass(frozen=True, slots=True)
class Layout:
    """A measuring kind's record as a list of values: ``[device_id, time, <fields>..., seq, time_estimated]``.

    ``slots`` maps every accepted key (canonical names and aliases) to ``(index, lo, hi, is_float, spec)``;
    ``construct`` turns a filled list into the record.
    """

    template: tuple[Any, ...]
    slots: dict[str, tuple[int, float, float, bool, Field]]
    seq: int
    construct: Callable[[list[Any]], Record]


def _layout(record: type[Any], table: dict[str, Field]) -> Layout:
    names = [f.name for f in fields(record)]
    if names[:2] != ["device_id", "time"] or names[-2:] != ["seq", "time_estimated"]:
        raise TypeError(f"{record.__name__} does not have the reading layout")
    template = (None,) * (len(names) - 1) + (False,)
    slots = {key: (names.index(spec.name), spec.lo, spec.hi, spec.kind is float, spec) for key, spec in table.items()}
    return Layout(template, slots, names.index("seq"), _fast_constructor(record))


#: Record layouts of the measuring kinds (the native JSON decoder's hot path).
LAYOUTS: Final[dict[DeviceKind, Layout]] = {
    DeviceKind.DUST: _layout(DustReading, DUST_FIELDS),
    DeviceKind.MET: _layout(MetReading, MET_FIELDS),
    DeviceKind.CYCLER: _layout(CyclerSample, CYCLER_FIELDS),
}
