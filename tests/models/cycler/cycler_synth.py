"""A synthetic cycler channel with known per-cycle truth (capacity, CE, resistance), built vectorised."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from models.cycler.samples import ChannelSamples

CHARGE, REST, DISCHARGE = 60, 5, 60
PER_CYCLE = CHARGE + REST + DISCHARGE + REST
CURRENT = 2.0


def synthetic_channel(
    capacity: NDArray[np.float64],
    ce: NDArray[np.float64],
    resistance: float = 0.02,
    temperature: NDArray[np.float64] | None = None,
) -> ChannelSamples:
    """One sample per second; cycle ``k`` discharges ``capacity[k]`` Ah after charging ``capacity[k]/ce[k]``.

    Each cycle: CC charge at +2 A, rest, CC discharge at -2 A, rest. Voltage = 3.7 V + I * R, so every
    current step has dV/dI = R.
    """
    n = capacity.size
    phase = np.r_[np.zeros(CHARGE), np.ones(REST), 2 * np.ones(DISCHARGE), 3 * np.ones(REST)]
    current = np.select([phase == 0, phase == 2], [CURRENT, -CURRENT], 0.0)
    ramp_c = np.r_[np.linspace(0, 1, CHARGE), np.ones(REST + DISCHARGE + REST)]
    ramp_d = np.r_[np.zeros(CHARGE + REST), np.linspace(0, 1, DISCHARGE), np.ones(REST)]
    qc = (capacity / ce)[:, None] * ramp_c[None, :]
    qd = capacity[:, None] * ramp_d[None, :]
    total = n * PER_CYCLE
    temp = np.full(total, 25.0) if temperature is None else temperature
    return ChannelSamples.from_columns(
        {
            "test_time": np.arange(total, dtype=np.float64),
            "cycle_index": np.repeat(np.arange(1, n + 1), PER_CYCLE).astype(np.float64),
            "step_index": np.tile(phase + 1, n),
            "current": np.tile(current, n),
            "voltage": np.tile(3.7 + current * resistance, n),
            "temperature": temp,
            "charge_capacity": qc.ravel(),
            "discharge_capacity": qd.ravel(),
            "charge_energy": 3.8 * qc.ravel(),
            "discharge_energy": 3.6 * qd.ravel(),
            "internal_resistance": np.full(total, resistance),
        }
    )
