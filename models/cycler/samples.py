"""One channel's samples as columns (1-d arrays in stream order), the input of the per-cycle features."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Final

import numpy as np
from numpy.typing import ArrayLike

from kipsense.records import CyclerSample
from models.detectors.base import FloatArray

#: Numeric columns, with the BEEP-style names of :class:`kipsense.records.CyclerSample`.
COLUMNS: Final = (
    "test_time",
    "cycle_index",
    "step_index",
    "voltage",
    "current",
    "temperature",
    "charge_capacity",
    "discharge_capacity",
    "charge_energy",
    "discharge_energy",
    "internal_resistance",
)


@dataclass(frozen=True, slots=True, eq=False)
class ChannelSamples:
    """Samples of one cycler channel as float columns (NaN = not sent); counters are floats too.

    Units follow the records: seconds, V, A (charge positive), °C, Ah, Wh, ohm.
    """

    test_time: FloatArray
    cycle_index: FloatArray
    step_index: FloatArray
    voltage: FloatArray
    current: FloatArray
    temperature: FloatArray
    charge_capacity: FloatArray
    discharge_capacity: FloatArray
    charge_energy: FloatArray
    discharge_energy: FloatArray
    internal_resistance: FloatArray

    def __post_init__(self) -> None:
        sizes = {getattr(self, f.name).shape for f in fields(self)}
        if len(sizes) != 1 or len(next(iter(sizes))) != 1:
            raise ValueError(f"all columns must be 1-d arrays of one length, got shapes {sorted(sizes)}")

    def __len__(self) -> int:
        return int(self.test_time.size)

    @classmethod
    def from_columns(cls, columns: Mapping[str, ArrayLike]) -> ChannelSamples:
        """Build from a mapping of column name to values; absent columns are all NaN."""
        unknown = set(columns) - set(COLUMNS)
        if unknown:
            raise ValueError(f"unknown columns: {sorted(unknown)}")
        if not columns:
            raise ValueError("no columns given")
        arrays = {k: np.asarray(v, dtype=np.float64) for k, v in columns.items()}
        n = next(iter(arrays.values())).shape
        return cls(**{name: arrays.get(name, np.full(n, np.nan)) for name in COLUMNS})

    @classmethod
    def from_samples(cls, samples: Sequence[CyclerSample]) -> ChannelSamples:
        """Build from records of one channel, in stream order (``None`` becomes NaN)."""
        if len({s.device_id for s in samples}) > 1:
            raise ValueError("samples of more than one channel")
        data = {
            name: np.array([np.nan if (v := getattr(s, name)) is None else v for s in samples], dtype=np.float64)
            for name in COLUMNS
        }
        return cls(**data)
