"""Simulated battery-cycler channels: equivalent-circuit cells with ageing, a test protocol and faults.

>>> from datetime import UTC, datetime
>>> from simulators.cycler import CyclerBank, CyclerConfig
>>> frame = CyclerBank(CyclerConfig(n_channels=2, seed=3)).generate(datetime(2024, 1, 1, tzinfo=UTC), 10)
>>> frame.cycle_index.shape
(10, 2)
"""

from simulators.cycler.bank import CyclerBank
from simulators.cycler.config import (
    FAULT_KINDS,
    OPEN_END,
    STEP_TYPE_NAMES,
    AgeingParams,
    CellParams,
    CyclerConfig,
    CyclerFault,
    ProtocolParams,
    StepType,
)
from simulators.cycler.frame import FLOAT_FIELDS, CyclerFrame

__all__ = [
    "FAULT_KINDS",
    "FLOAT_FIELDS",
    "OPEN_END",
    "STEP_TYPE_NAMES",
    "AgeingParams",
    "CellParams",
    "CyclerBank",
    "CyclerConfig",
    "CyclerFault",
    "CyclerFrame",
    "ProtocolParams",
    "StepType",
]
