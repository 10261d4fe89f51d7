"""A small accelerated-ageing scenario (about 80 cycles of 5 channels, every fault kind) for tests and demos."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

import numpy as np
from numpy.typing import NDArray

from simulators.cycler.bank import CyclerBank
from simulators.cycler.config import AgeingParams, CyclerConfig, CyclerFault
from simulators.cycler.frame import CyclerFrame
from simulators.cycler.protocol import REFERENCE_START, REGULAR_START

START = datetime(2024, 3, 1, 6, 0, tzinfo=UTC)
CYCLE_S = 9000.0  # roughly one 1C cycle with its rests
N_STEPS = 12_000  # 60-s samples: about 80 cycles
HEALTHY = (0, 4)


def scenario_config(seed: int = 5) -> CyclerConfig:
    """Channels: 0 and 4 healthy, 1 early knee, 2 internal short, 3 a series of channel/sensor faults."""
    return CyclerConfig(
        n_channels=5,
        seed=seed,
        sample_interval_s=60.0,
        ageing=AgeingParams(fade_per_cycle=3e-4, knee_cycle=45.0, knee_width=3.0, knee_curvature=2e-4, knee_cv=0.05),
        faults=(
            CyclerFault(channel=1, kind="early_knee", start_s=15 * CYCLE_S),
            CyclerFault(channel=2, kind="internal_short", start_s=20 * CYCLE_S, magnitude=40.0),
            CyclerFault(channel=3, kind="thermal_excursion", start_s=10 * CYCLE_S, duration_s=3600.0),
            CyclerFault(channel=3, kind="contact_resistance", start_s=30 * CYCLE_S, magnitude=0.03),
            CyclerFault(channel=3, kind="counter_reset", start_s=50 * CYCLE_S + 1234.0),
            CyclerFault(channel=3, kind="sensor_dropout", start_s=60 * CYCLE_S, duration_s=1800.0),
            CyclerFault(channel=3, kind="sensor_dropout", start_s=65 * CYCLE_S, duration_s=1800.0, field="temperature"),
            CyclerFault(channel=3, kind="capacity_reset", start_s=70 * CYCLE_S + 600.0),
        ),
    )


@cache
def scenario_frame() -> CyclerFrame:
    """The scenario generated once per process (callers only read it)."""
    return CyclerBank(scenario_config()).generate(START, N_STEPS)


def regular_cycles(frame: CyclerFrame, ch: int) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """Cycle numbers, charge and discharge capacity of the completed regular cycles of channel ``ch``.

    Cycles next to formation or reference cycles are left out: their depth of discharge differs.
    """
    cyc = frame.cycle_index[:, ch]
    last = np.flatnonzero(np.diff(cyc) > 0)
    n = cyc[last]
    step = frame.step_index[:, ch]
    special = np.unique(cyc[(step < REGULAR_START) | (step >= REFERENCE_START)])
    keep = ~np.isin(n, special) & ~np.isin(n - 1, special)
    return n[keep], frame.charge_capacity[last[keep], ch], frame.discharge_capacity[last[keep], ch]
