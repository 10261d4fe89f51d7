"""Rules and models as streaming alert sources: one detector per (source, device), fed chunk by chunk.

A :class:`Source` says which device kind and columns a detector reads, how to build it for a device and how
its scores become alert occurrences:

- ``"level"``: a condition that holds while the score is above the threshold. An occurrence is raised when it
  starts; while it holds the open alert's last value is kept current. Where the score is undecidable (NaN)
  the previous condition is kept.
- ``"spike"``: a short run of high scores that ends within ``max_run_s``. The occurrence is raised at the
  first decided sample after the run (the run is known to be short only then); a longer run is a lasting
  change, which level sources (episodes, limits) report instead.

:class:`Tracker` carries everything between chunks as JSON (detector stream state and the decision state),
so processing a stream in chunks gives the same occurrences as processing it whole. The scorer persists it
with the watermark; the fault benchmark runs the same code without a database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from models.detectors.base import BaseDetector, State, StreamingDetector, TimedStreamingDetector

FloatArray = NDArray[np.float64]
Mode = Literal["level", "spike"]


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What a detector may need to know about a device."""

    device_id: str
    expected_interval_s: float = 10.0


@dataclass(frozen=True, slots=True)
class Source:
    """One alert source: a rule or an active registry model.

    ``key`` names the source in the scorer's saved state; ``alert_type`` is the alert's ``type``.
    ``warmup_s`` set: after a restart the detector state is rebuilt from that much history before the
    watermark (large windows); ``None``: the detector's JSON stream state is saved with the watermark.
    ``allow_nan`` False: rows with a missing value are not scored (score NaN, the condition is held).
    """

    key: str
    alert_type: str
    kind: str
    columns: tuple[str, ...]
    build: Callable[[DeviceInfo], BaseDetector]
    mode: Mode = "level"
    severity: str = "warning"
    max_run_s: float = 60.0
    warmup_s: float | None = None
    allow_nan: bool = True
    devices: frozenset[str] | None = None
    start_after: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def applies_to(self, device_id: str) -> bool:
        return self.devices is None or device_id in self.devices


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One alert occurrence: decided at ``at`` (epoch s) about samples from ``first`` to ``last``."""

    at: float
    first: float
    last: float
    value: float
    index: int  # row of the chunk whose sample carried the decision (evidence is taken there)


@dataclass(frozen=True, slots=True, eq=False)
class ChunkResult:
    scores: FloatArray
    flags: NDArray[np.bool_]
    occurrences: list[Occurrence]
    holding: bool
    last_decided: int | None


def score_chunk(detector: BaseDetector, X: FloatArray, times: FloatArray, state: State) -> tuple[FloatArray, State]:
    """Scores of one chunk continuing ``state``, whatever kind of detector it is."""
    if isinstance(detector, TimedStreamingDetector):
        X1 = X[:, 0] if X.shape[1] == 1 else X
        return detector.score_stream(X1, state, times=times)
    if isinstance(detector, StreamingDetector):
        if getattr(detector, "uses_times", False):  # phases from timestamps (seasonal baseline)
            return detector.score_stream(X, state, times=times)  # type: ignore[call-arg]
        return detector.score_stream(X, state)
    return detector.decision_function(X), {}


def initial_state(detector: BaseDetector) -> State:
    if isinstance(detector, StreamingDetector | TimedStreamingDetector):
        return detector.start_state()
    return {}


class Tracker:
    """The stream of one source on one device: detector state plus the alert decision state."""

    def __init__(self, source: Source, detector: BaseDetector, saved: State | None = None) -> None:
        self.source = source
        self.detector = detector
        saved = saved or {}
        self.det_state: State = saved["det"] if saved.get("det") is not None else initial_state(detector)
        self.above: bool = bool(saved.get("above", False))
        # an open run of high scores (spike mode): [first time, last time, max score]
        self.run: list[float] | None = saved.get("run")

    def to_json(self, *, with_detector: bool) -> State:
        return {"above": self.above, "run": self.run, "det": self.det_state if with_detector else None}

    def feed(self, X: FloatArray, times: FloatArray) -> ChunkResult:
        """Score a chunk (rows in time order) and decide its occurrences."""
        scores = np.full(times.size, np.nan)
        rows = np.ones(times.size, bool) if self.source.allow_nan else np.isfinite(X).all(axis=1)
        if rows.any():
            s, self.det_state = score_chunk(self.detector, X[rows], times[rows], self.det_state)
            scores[rows] = s
        decided = np.isfinite(scores)
        high = np.where(decided, scores, -np.inf) > self.detector.threshold_
        last = int(np.flatnonzero(decided)[-1]) if decided.any() else None
        if self.source.mode == "spike":
            flags, occ = self._spikes(scores, high, decided, times)
        else:
            flags, occ = self._levels(scores, high, decided, times)
        return ChunkResult(scores, flags, occ, self.above, last)

    def _levels(
        self, scores: FloatArray, high: NDArray[np.bool_], decided: NDArray[np.bool_], times: FloatArray
    ) -> tuple[NDArray[np.bool_], list[Occurrence]]:
        idx = np.maximum.accumulate(np.where(decided, np.arange(scores.size), -1)) if scores.size else np.zeros(0, int)
        held = np.where(idx >= 0, high[np.maximum(idx, 0)], self.above)
        previous = np.r_[self.above, held[:-1]]
        occ = [
            Occurrence(float(times[i]), float(times[i]), float(times[i]), float(scores[i]), int(i))
            for i in np.flatnonzero(held & ~previous)
        ]
        if held.size:
            self.above = bool(held[-1])
        return held, occ

    def _spikes(
        self, scores: FloatArray, high: NDArray[np.bool_], decided: NDArray[np.bool_], times: FloatArray
    ) -> tuple[NDArray[np.bool_], list[Occurrence]]:
        # Runs are tracked over decided samples only; the loop is over runs (rare), not samples.
        flags = np.zeros(scores.size, bool)
        occ: list[Occurrence] = []
        d_idx = np.flatnonzero(decided)
        h = high[d_idx]
        edges = np.flatnonzero(np.diff(np.r_[False, h, False].astype(np.int8)))
        starts, ends = edges[::2], edges[1::2]  # [start, end) positions in d_idx
        run = self.run
        if run is not None and (starts.size == 0 or starts[0] != 0):
            # the carried run ended before this chunk's first decided sample (or nothing decided yet)
            if d_idx.size:
                occ += self._close(run, int(d_idx[0]), times)
                run = None
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            first = float(times[d_idx[a]])
            peak = float(np.max(scores[d_idx[a:b]]))
            if a == 0 and run is not None:  # continues the run carried from the previous chunk
                first, peak = run[0], max(peak, run[2])
            current = [first, float(times[d_idx[b - 1]]), peak]
            flags[d_idx[a:b]] = True
            if b < d_idx.size:
                occ += self._close(current, int(d_idx[b]), times)
                run = None
            else:
                run = current
        self.run = run
        self.above = run is not None
        return flags, occ

    def _close(self, run: list[float], at: int, times: FloatArray) -> list[Occurrence]:
        first, last, peak = run
        if last - first > self.source.max_run_s:
            return []
        return [Occurrence(float(times[at]), first, last, peak, int(at))]
