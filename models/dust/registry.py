"""Dust-network detectors by stable name, for the scorer and the training code.

>>> from models.dust.registry import DUST_DETECTORS
>>> DUST_DETECTORS["dust_spike"](window=20).fit().threshold_
8.0
"""

from __future__ import annotations

from models.detectors.base import BaseDetector
from models.dust.drift import NeighbourDrift
from models.dust.episode import EpisodeJump, ShortTermMeanExceedance
from models.dust.limit import RollingMeanExceedance
from models.dust.rh import RHArtefact
from models.dust.spike import SpikeDetector
from models.dust.stuck import StuckSensor

_CLASSES: tuple[type[BaseDetector], ...] = (
    RollingMeanExceedance,
    ShortTermMeanExceedance,
    EpisodeJump,
    StuckSensor,
    SpikeDetector,
    NeighbourDrift,
    RHArtefact,
)

#: Stable name -> detector class; the name is the one ``to_state()`` writes (``name``, else the class name).
#: Names are stored with saved models and alerts: never rename one.
DUST_DETECTORS: dict[str, type[BaseDetector]] = {cls.name or cls.__name__: cls for cls in _CLASSES}


def build(name: str, **params: object) -> BaseDetector:
    """An unfitted dust detector by registry name."""
    try:
        cls = DUST_DETECTORS[name]
    except KeyError:
        raise KeyError(f"unknown dust detector {name!r}; known: {sorted(DUST_DETECTORS)}") from None
    return cls(**params)
