"""The researcher loop's first half: fit a library detector on stored normal history and register it.

>>> spec = TrainSpec(name="line1-pca", detector="pca", kind="process", devices=("line-1",),
...                  start=datetime(2024, 1, 1, tzinfo=UTC), end=datetime(2024, 1, 8, tzinfo=UTC))
>>> spec.detector
'pca'

Training rows are the stored rows of the devices in ``[start, end)``; rows inside any ground-truth event of
those devices are left out (``exclude_truth``), and so are rows with a missing value (detectors fit on
complete rows). Devices are pooled: the model describes the normal behaviour of the group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import psycopg

from models.artifacts import detector_state, fingerprint, library_versions
from models.detectors.base import BaseDetector, StreamingDetector
from models.detectors.registry import build_detector
from store import ground_truth
from store import history as store_history
from store import models as store_models

Conn = psycopg.Connection[Any]

#: Columns used when none are given (process devices: every tag seen in the window).
DEFAULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "dust": ("pm10",),
    "met": ("wind_speed",),
    "cycler": ("voltage", "current", "temperature"),
}

#: The recommended detector per device kind, used when a request names none: the multivariate process monitor for
#: process lines, the streaming univariate monitor for the channels of every other kind.
DEFAULT_DETECTORS: dict[str, str] = {
    "process": "process_monitor",
    "dust": "stream_monitor",
    "met": "stream_monitor",
    "cycler": "stream_monitor",
}


def default_detector(kind: str, columns: tuple[str, ...] = ()) -> str | None:
    """The recommended detector for a request that names none: one named column is a single series
    (``stream_monitor`` whatever the kind); otherwise the kind's own recommendation (None when it has none)."""
    if len(columns) == 1:
        return "stream_monitor"
    return DEFAULT_DETECTORS.get(kind)


class TrainingError(ValueError):
    """The request cannot produce a model (no data, bad columns, detector refuses the data)."""


@dataclass(frozen=True, slots=True)
class TrainSpec:
    """What to train: a registry detector with parameters, on devices' columns over a window."""

    name: str
    detector: str
    kind: str
    devices: tuple[str, ...]
    start: datetime
    end: datetime
    columns: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    exclude_truth: bool = True
    severity: str = "warning"


def resolve_columns(conn: Conn, spec: TrainSpec) -> tuple[str, ...]:
    if spec.columns:
        return store_history.check_columns(spec.kind, spec.columns)
    if spec.kind == "process":
        tags = store_history.tags(conn, device_ids=spec.devices, start=spec.start, end=spec.end)
        if not tags:
            raise TrainingError("no process tags stored for these devices in the window")
        return tuple(tags)
    return DEFAULT_COLUMNS[spec.kind]


def normal_rows(conn: Conn, spec: TrainSpec, columns: Sequence[str]) -> store_history.History:
    """The stored rows of the window, without truth events (when asked) and incomplete rows."""
    hist = store_history.read(
        conn, kind=spec.kind, columns=columns, device_ids=spec.devices, start=spec.start, end=spec.end
    )
    keep = np.isfinite(hist.values).all(axis=1)
    if spec.exclude_truth:
        for device in spec.devices:
            rows = hist.devices == device
            for ev in ground_truth.between(conn, start=spec.start, end=spec.end, device_id=device):
                inside = (hist.times >= ev.start.timestamp()) & (hist.times < ev.end.timestamp())
                keep &= ~(rows & inside)
    return store_history.History(hist.columns, hist.devices[keep], hist.times[keep], hist.values[keep])


def fit(detector: BaseDetector, hist: store_history.History) -> BaseDetector:
    """Fit on the rows; a streaming detector is fitted on the rows of each device in time order (pooled)."""
    if len(hist) == 0:
        raise TrainingError("no complete normal rows in the training window")
    try:
        return detector.fit(hist.values)
    except ValueError as exc:
        raise TrainingError(f"{type(detector).__name__} cannot be fitted: {exc}") from exc


def train(conn: Conn, spec: TrainSpec, *, created_by: str = "cli") -> store_models.ModelRecord:
    """Fit ``spec`` on stored history and save it to the registry (inactive); the caller commits."""
    if not spec.devices:
        raise TrainingError("at least one device is required")
    if spec.end <= spec.start:
        raise TrainingError("the training window is empty (end <= start)")
    try:
        detector = build_detector(spec.detector, spec.params)
        columns = resolve_columns(conn, spec)
    except (KeyError, TypeError, ValueError) as exc:
        raise TrainingError(str(exc).strip("'\"")) from exc
    hist = normal_rows(conn, spec, columns)
    fitted = fit(detector, hist)
    return store_models.register(
        conn,
        name=spec.name,
        detector=spec.detector,
        kind=spec.kind,
        params=fitted.to_state()["params"],
        columns=columns,
        devices=spec.devices,
        train_start=spec.start.astimezone(UTC),
        train_end=spec.end.astimezone(UTC),
        n_samples=len(hist),
        fingerprint=fingerprint(hist.columns, hist.devices, hist.times, hist.values),
        versions={**library_versions(), "streaming": isinstance(fitted, StreamingDetector)},
        state=detector_state(fitted),
        severity=spec.severity,
        created_by=created_by,
    )
