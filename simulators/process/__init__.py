"""Simulated process line of a battery-chemicals plant (NMC precursor co-precipitation) and its frames.

>>> from datetime import UTC, datetime
>>> from simulators.process import ProcessConfig, ProcessLine
>>> frame = ProcessLine(ProcessConfig(seed=2)).generate(datetime(2024, 1, 1, tzinfo=UTC), 6)
>>> len(frame.to_values()) == 6 * len(frame.tags)
True
"""

from simulators.process.config import FAULT_KINDS, NormalChanges, ProcessConfig, ProcessFault
from simulators.process.frame import ProcessFrame
from simulators.process.line import ProcessLine, loading_matrix
from simulators.process.tags import FACTORS, TAGS

__all__ = [
    "FACTORS",
    "FAULT_KINDS",
    "TAGS",
    "NormalChanges",
    "ProcessConfig",
    "ProcessFault",
    "ProcessFrame",
    "ProcessLine",
    "loading_matrix",
]
