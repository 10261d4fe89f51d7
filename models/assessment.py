"""The researcher loop's second half: score a registered model over stored history and evaluate it.

Each device's rows in the window are scored as one stream from the detector's initial state (the streaming
scorer gives the same scores chunk by chunk). Rows with a missing value get no score and no flag.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import psycopg
from numpy.typing import NDArray

from models.artifacts import load_model
from models.detectors.base import BaseDetector
from models.evaluation import Metrics, Scored, Span, with_baselines
from models.streaming import initial_state, score_chunk
from store import ground_truth
from store import history as store_history
from store.models import ModelRecord

Conn = psycopg.Connection[Any]


@dataclass(frozen=True, slots=True, eq=False)
class DeviceScores:
    device_id: str
    times: NDArray[np.float64]
    scores: NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class Assessment:
    """Scores per device, the truth spans used and the metrics beside the baselines."""

    model: ModelRecord
    threshold: float
    scores: list[DeviceScores]
    truth: list[Span]
    metrics: dict[str, Metrics]

    def summary(self) -> dict[str, Any]:
        """Strict-JSON summary for the registry, the CLI and the API."""
        return {
            "model_id": self.model.model_id,
            "threshold": self.threshold,
            "devices": [s.device_id for s in self.scores],
            "events": len(self.truth),
            **{name: m.to_dict() for name, m in self.metrics.items()},
        }


def score_history(detector: BaseDetector, values: NDArray[np.float64], times: NDArray[np.float64]) -> NDArray[Any]:
    """Scores of one device's rows as one stream; NaN for incomplete rows."""
    scores = np.full(times.size, np.nan)
    ok = np.isfinite(values).all(axis=1)
    if ok.any():
        s, _ = score_chunk(detector, values[ok], times[ok], initial_state(detector))
        scores[ok] = s
    return scores


def assess(
    conn: Conn,
    model: ModelRecord,
    *,
    start: datetime,
    end: datetime,
    devices: Collection[str] | None = None,
    kinds: Collection[str] | None = None,
    tolerance_s: float = 0.0,
) -> Assessment:
    """Score ``model`` over ``[start, end)`` on its devices (or ``devices``) against the stored truth."""
    if end <= start:
        raise ValueError("the evaluation window is empty (end <= start)")
    detector = load_model(model)
    ids = list(devices or model.devices)
    if not ids:
        raise ValueError("no devices to evaluate on")
    hist = store_history.read(conn, kind=model.kind, columns=model.columns, device_ids=ids, start=start, end=end)
    per_device = [
        DeviceScores(str(h.devices[0]), h.times, score_history(detector, h.values, h.times)) for h in hist.split()
    ]
    truth = [Span.from_truth(e) for d in ids for e in ground_truth.between(conn, start=start, end=end, device_id=d)]
    threshold = float(detector.threshold_)
    scored = [Scored(s.device_id, s.times, np.nan_to_num(s.scores, nan=-np.inf) > threshold) for s in per_device]
    metrics = with_baselines(scored, truth, kinds=kinds, tolerance_s=tolerance_s)
    return Assessment(model, threshold, per_device, truth, metrics)
