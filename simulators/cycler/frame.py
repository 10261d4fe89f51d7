"""A block of cycler samples: (T, N) arrays per BEEP field, ground truth beside them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from kipsense.records import CyclerSample, TruthEvent
from simulators.cycler.config import STEP_TYPE_NAMES

#: Float fields of a frame, in ``CyclerSample`` order (``test_time`` first).
FLOAT_FIELDS: Final = (
    "test_time",
    "voltage",
    "current",
    "temperature",
    "charge_capacity",
    "discharge_capacity",
    "charge_energy",
    "discharge_energy",
    "internal_resistance",
)


def datetime64_ms(t: datetime) -> np.datetime64:
    """A timezone-aware datetime as naive UTC ``datetime64[ms]``."""
    if t.tzinfo is None:
        raise ValueError("start time must be timezone-aware (UTC)")
    return np.datetime64(t.astimezone(UTC).replace(tzinfo=None), "ms")


def to_datetime(t: np.datetime64) -> datetime:
    """A ``datetime64`` holding UTC as an aware datetime."""
    ms = int(t.astype("datetime64[ms]").astype(np.int64))
    return datetime.fromtimestamp(ms / 1000.0, tz=UTC)


@dataclass(frozen=True, slots=True, eq=False)
class CyclerFrame:
    """``T`` samples of ``N`` channels.

    Float arrays hold NaN where a value was not sent (``present`` false, or a sensor dropped out);
    ``charge_capacity``/``discharge_capacity`` (Ah) and the energies (Wh) restart at every cycle, as in
    BEEP's structured cycler data. ``step_type`` holds codes into ``step_type_names``. ``truth`` lists the
    injected faults whose interval overlaps the frame.
    """

    device_ids: tuple[str, ...]
    times: NDArray[np.datetime64]
    test_time: NDArray[np.float64]
    cycle_index: NDArray[np.int64]
    step_index: NDArray[np.int64]
    step_type: NDArray[np.int8]
    voltage: NDArray[np.float64]
    current: NDArray[np.float64]
    temperature: NDArray[np.float64]
    charge_capacity: NDArray[np.float64]
    discharge_capacity: NDArray[np.float64]
    charge_energy: NDArray[np.float64]
    discharge_energy: NDArray[np.float64]
    internal_resistance: NDArray[np.float64]
    present: NDArray[np.bool_]
    truth: tuple[TruthEvent, ...]
    step_type_names: tuple[str, ...] = STEP_TYPE_NAMES

    @property
    def n_samples(self) -> int:
        """Number of (time, channel) samples the channels actually sent."""
        return int(self.present.sum())

    def column(self, name: str) -> NDArray[np.float64]:
        """One float field as a (T, N) array, by its BEEP name."""
        if name not in FLOAT_FIELDS:
            raise KeyError(name)
        arr: NDArray[np.float64] = getattr(self, name)
        return arr

    def to_samples(self) -> list[CyclerSample]:
        """The sent samples as records, time-major, ready for publishing."""
        rows, cols = np.nonzero(self.present)
        if rows.size == 0:
            return []
        ms = self.times.astype("datetime64[ms]").astype(np.int64)
        times = [datetime.fromtimestamp(int(m) / 1000.0, tz=UTC) for m in ms]
        floats = [self.column(name)[rows, cols].tolist() for name in FLOAT_FIELDS]
        cyc = self.cycle_index[rows, cols].tolist()
        stp = self.step_index[rows, cols].tolist()
        typ = self.step_type[rows, cols].tolist()
        out: list[CyclerSample] = []
        for j, (r, c) in enumerate(zip(rows.tolist(), cols.tolist(), strict=True)):
            v = [None if x != x else float(x) for x in (f[j] for f in floats)]  # NaN -> None
            out.append(
                CyclerSample(
                    device_id=self.device_ids[c],
                    time=times[r],
                    test_time=v[0],
                    cycle_index=cyc[j],
                    step_index=stp[j],
                    step_type=self.step_type_names[typ[j]],
                    voltage=v[1],
                    current=v[2],
                    temperature=v[3],
                    charge_capacity=v[4],
                    discharge_capacity=v[5],
                    charge_energy=v[6],
                    discharge_energy=v[7],
                    internal_resistance=v[8],
                )
            )
        return out

    @classmethod
    def concat(cls, frames: Sequence[CyclerFrame]) -> CyclerFrame:
        """Frames of the same channels one after another as one frame (truth events deduplicated)."""
        if not frames:
            raise ValueError("nothing to concatenate")
        truth: dict[tuple[str, str, datetime], TruthEvent] = {}
        for fr in frames:
            for ev in fr.truth:
                truth.setdefault((ev.device_id, ev.kind, ev.start), ev)

        def cat(name: str) -> NDArray[Any]:
            return np.concatenate([getattr(f, name) for f in frames])

        floats = {name: cat(name) for name in FLOAT_FIELDS}
        return cls(
            device_ids=frames[0].device_ids,
            times=cat("times"),
            cycle_index=cat("cycle_index"),
            step_index=cat("step_index"),
            step_type=cat("step_type"),
            present=cat("present"),
            truth=tuple(truth.values()),
            step_type_names=frames[0].step_type_names,
            **floats,
        )
