"""Cycler detectors by stable name, for the scorer and the training code.

>>> from models.cycler.registry import CYCLER_DETECTORS
>>> CYCLER_DETECTORS["cycler_ce_drop"](max_loss=0.02).fit().threshold_
0.02
"""

from __future__ import annotations

from models.cycler.counters import CapacityReset, CounterMonotonicity
from models.cycler.thermal import ThermalExcursion
from models.cycler.trends import CapacityFade, CoulombicEfficiencyDrop, KneeOnset, ResistanceGrowth
from models.detectors.base import BaseDetector

_CLASSES: tuple[type[BaseDetector], ...] = (
    CapacityFade,
    KneeOnset,
    CoulombicEfficiencyDrop,
    ResistanceGrowth,
    ThermalExcursion,
    CounterMonotonicity,
    CapacityReset,
)

#: Stable name -> detector class; the name is the one ``to_state()`` writes. Never rename one.
CYCLER_DETECTORS: dict[str, type[BaseDetector]] = {cls.name or cls.__name__: cls for cls in _CLASSES}


def build(name: str, **params: object) -> BaseDetector:
    """An unfitted cycler detector by registry name."""
    try:
        cls = CYCLER_DETECTORS[name]
    except KeyError:
        raise KeyError(f"unknown cycler detector {name!r}; known: {sorted(CYCLER_DETECTORS)}") from None
    return cls(**params)
