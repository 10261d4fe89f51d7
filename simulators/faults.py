"""Sensor faults and device behaviour injected into dust readings, with their ground truth."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kipsense.records import TruthEvent
from simulators.sensor import Readings


@dataclass(frozen=True)
class FaultSpec:
    """Rates of injected faults (events per device per day). ``FaultSpec.none()`` injects nothing."""

    stuck_per_day: float = 0.0

    @classmethod
    def none(cls) -> FaultSpec:
        """A spec that injects no faults."""
        return cls()

    def apply(
        self, seed: int, device_ids: Sequence[str], t_ms: NDArray[np.int64], readings: Readings
    ) -> tuple[Readings, tuple[TruthEvent, ...]]:
        """Inject the faults overlapping ``t_ms`` into ``readings``; returns them with the truth events."""
        return readings, ()
