"""The cycling schedule as lookup tables, so every channel's step is resolved with one fancy index.

Step numbers (``step_index``) follow a cycler schedule file:

====  ==================  ============================================
step  type                ends when
====  ==================  ============================================
1-5   formation cycle     CC charge -> CV -> rest -> CC discharge -> rest
6-10  regular cycle       CC charge -> CV -> rest -> CC discharge -> rest
11-17 reference cycle     CC charge -> CV -> rest -> pulse -> rest -> CC discharge -> rest
====  ==================  ============================================

Step 0 is the idle channel after the cell reached its end-of-life capacity.
A CC charge ends at ``v_max`` (into CV), CV ends below the cut-off current, a discharge ends at ``v_min``,
rests and the pulse end by duration. The last rest of a cycle ends the cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from simulators.cycler.config import ProtocolParams, StepType

FORMATION_START: Final = 1
REGULAR_START: Final = 6
REFERENCE_START: Final = 11

_R, _CC, _CV, _DIS, _PULSE = (
    StepType.REST,
    StepType.CC_CHARGE,
    StepType.CV_CHARGE,
    StepType.CC_DISCHARGE,
    StepType.PULSE,
)


@dataclass(frozen=True, slots=True)
class StepTable:
    """Per-step arrays indexed by step number (0 = test finished)."""

    kind: NDArray[np.int8]
    #: Signed current in multiples of 1C (positive = charge); for CV the cap of the current.
    c_rate: NDArray[np.float64]
    duration_s: NDArray[np.float64]
    ends_cycle: NDArray[np.bool_]


def build_table(p: ProtocolParams) -> StepTable:
    """The step table of protocol ``p``."""
    inf = np.inf
    rows: list[tuple[StepType, float, float, bool]] = [
        (_R, 0.0, inf, False),  # 0: test finished (end of life reached); the channel stays idle
        (_CC, p.formation_c_rate, inf, False),
        (_CV, p.formation_c_rate, inf, False),
        (_R, 0.0, p.rest_s, False),
        (_DIS, -p.formation_c_rate, inf, False),
        (_R, 0.0, p.rest_s, True),
        (_CC, p.charge_c_rate, inf, False),
        (_CV, p.charge_c_rate, inf, False),
        (_R, 0.0, p.rest_s, False),
        (_DIS, -p.discharge_c_rate, inf, False),
        (_R, 0.0, p.rest_s, True),
        (_CC, p.reference_c_rate, inf, False),
        (_CV, p.reference_c_rate, inf, False),
        (_R, 0.0, p.rest_s, False),
        (_PULSE, -p.pulse_c_rate, p.pulse_s, False),
        (_R, 0.0, p.rest_s, False),
        (_DIS, -p.reference_c_rate, inf, False),
        (_R, 0.0, p.rest_s, True),
    ]
    return StepTable(
        kind=np.array([r[0] for r in rows], dtype=np.int8),
        c_rate=np.array([r[1] for r in rows], dtype=np.float64),
        duration_s=np.array([r[2] for r in rows], dtype=np.float64),
        ends_cycle=np.array([r[3] for r in rows], dtype=np.bool_),
    )


def cycle_start_step(cycle: NDArray[np.int64], p: ProtocolParams) -> NDArray[np.int64]:
    """First step of (1-based, physical) cycle number ``cycle``.

    Formation first; the first cycle after formation and every ``reference_every``-th after it are
    reference cycles; all others are regular.
    """
    after = cycle - p.formation_cycles - 1
    ref = (after >= 0) & (after % max(p.reference_every, 1) == 0)
    step = np.where(ref, REFERENCE_START, REGULAR_START)
    return np.where(cycle <= p.formation_cycles, FORMATION_START, step).astype(np.int64)
