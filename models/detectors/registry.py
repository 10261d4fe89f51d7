"""Stable detector names -> classes, to rebuild a detector from its name and parameters or its saved state.

>>> det = build_detector("ewma", {"lam": 0.1})
>>> type(det).__name__, det.get_params()
('EWMAChart', {'lam': 0.1, 'L': 3.0})
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from models.detectors.base import BaseDetector, State
from models.detectors.charts import CUSUMChart, EWMAChart
from models.detectors.diff_variance import DiffVarianceChart
from models.detectors.dynamic_pca import DynamicPCA
from models.detectors.iforest import IsolationForestDetector
from models.detectors.pca import PCADetector
from models.detectors.process_monitor import ProcessMonitor
from models.detectors.recentred import RecentredPCAChart
from models.detectors.robust import RollingRobustZ
from models.detectors.seasonal import SeasonalBaseline
from models.detectors.shewhart import ShewhartChart
from models.detectors.stream_monitor import StreamMonitor

#: Registry name -> detector class. Names are stable: saved models refer to them.
DETECTORS: Mapping[str, type[BaseDetector]] = MappingProxyType(
    {
        cls.name: cls
        for cls in (
            EWMAChart,
            CUSUMChart,
            ShewhartChart,
            RollingRobustZ,
            SeasonalBaseline,
            PCADetector,
            DynamicPCA,
            IsolationForestDetector,
            RecentredPCAChart,
            DiffVarianceChart,
            StreamMonitor,
            ProcessMonitor,
        )
    }
)


def detector_class(name: str) -> type[BaseDetector]:
    """The class registered under ``name``."""
    try:
        return DETECTORS[name]
    except KeyError:
        raise KeyError(f"unknown detector {name!r}; known: {sorted(DETECTORS)}") from None


def build_detector(name: str, params: Mapping[str, Any] | None = None) -> BaseDetector:
    """A new, unfitted detector ``name`` with hyper-parameters ``params``."""
    return detector_class(name)(**dict(params or {}))


def load_detector(state: State) -> BaseDetector:
    """A fitted detector from the dict its ``to_state()`` returned."""
    return detector_class(str(state["detector"])).from_state(state)
