"""Stuck sensor: a flat line (no change beyond a tolerance for a while) or a run of zeros."""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np
from numpy.typing import ArrayLike

from models.detectors.base import FloatArray, State, TimedStreamingDetector, as_1d, check_is_fitted


def _run_starts(breaks: FloatArray | np.ndarray, tv: FloatArray, carried: float | None) -> FloatArray:
    """Start time of the run each sample belongs to; a run starts at every ``True`` of ``breaks``.

    Samples before the first break continue the run carried from the previous chunk (``carried``), or
    start a run at the first sample when there is none.
    """
    idx = np.maximum.accumulate(np.where(breaks, np.arange(tv.size), -1)) if tv.size else np.zeros(0, int)
    first = tv[0] if tv.size else np.nan
    head = first if carried is None else carried
    return np.where(idx >= 0, tv[np.maximum(idx, 0)], head)


class StuckSensor(TimedStreamingDetector):
    """Score = how long the sensor has been flat (or at zero), in units of the allowed duration.

    A flat run lasts while consecutive valid samples differ by no more than ``tolerance``; a zero run lasts
    while ``|x| <= zero_tolerance``. The score of a sample is
    ``max(flat_duration / window_s, zero_duration / zero_window_s)``, so ``threshold_ = 1`` flags a sample
    once its run is longer than the window: a stuck segment is flagged from ``window_s`` after its start to
    its end, and nothing outside it.

    Parameters
    ----------
    window_s : float
        A flat run longer than this (seconds) is a stuck sensor.
    tolerance : float
        Largest change between consecutive samples still counted as "no change" (sensor resolution).
    zero_window_s : float
        A run of zeros longer than this is flagged (zeros are suspicious sooner than other flat values).
    zero_tolerance : float
        ``|x|`` at or below this counts as zero.
    min_samples : int
        Samples a run must hold before it can be flagged. The run is measured in time, so a gap in the data
        counts towards it; without this two equal readings either side of a dropout would be a "flat line".

    ``X`` is one series, ``times`` epoch seconds. NaN samples are missing: they score NaN and neither
    break nor extend a run. A sample of a run with fewer than ``min_samples`` samples so far scores 0.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(0, 200, 10.0)
    >>> x = np.r_[np.arange(5.0), np.full(15, 7.0)]
    >>> det = StuckSensor(window_s=60, tolerance=0.01).fit()
    >>> int(det.predict(x, times=t).sum())  # run starts at t=50; flagged for t > 110
    8
    """

    name: ClassVar[str] = "dust_stuck"

    def __init__(
        self,
        window_s: float = 3600.0,
        tolerance: float = 0.0,
        zero_window_s: float = 1800.0,
        zero_tolerance: float = 0.0,
        min_samples: int = 1,
    ) -> None:
        self.window_s = window_s
        self.tolerance = tolerance
        self.zero_window_s = zero_window_s
        self.zero_tolerance = zero_tolerance
        self.min_samples = min_samples

    def fit(self, X: ArrayLike | None = None, y: ArrayLike | None = None) -> Self:
        """A rule: validates parameters and sets ``threshold_ = 1`` (``X`` is accepted and ignored)."""
        if self.window_s <= 0 or self.zero_window_s <= 0:
            raise ValueError("window_s and zero_window_s must be positive")
        if self.tolerance < 0 or self.zero_tolerance < 0:
            raise ValueError("tolerances must be non-negative")
        if int(self.min_samples) < 1:
            raise ValueError("min_samples must be at least 1")
        self.threshold_ = 1.0
        return self

    def init_state(self) -> State:
        return {"last": None, "run_start": None, "zero_start": None, "last_t": None, "run_n": 0, "zero_n": 0}

    def score_stream(self, X: ArrayLike, state: State, *, times: ArrayLike) -> tuple[FloatArray, State]:
        check_is_fitted(self)
        x = as_1d(X, allow_nan=True)
        t = as_1d(times)
        if t.shape != x.shape:
            raise ValueError("times and X must have the same length")
        if np.isinf(x).any():
            raise ValueError("input contains infinite values")
        last_t = state["last_t"]
        if (t.size > 1 and np.any(np.diff(t) < 0)) or (t.size and last_t is not None and t[0] < last_t):
            raise ValueError("times must be non-decreasing across the stream")
        valid = np.isfinite(x)
        v, tv = x[valid], t[valid]
        prev = np.concatenate([[np.nan if state["last"] is None else state["last"]], v[:-1]])
        # A comparison with NaN (no previous sample) is False, so ~(<=) marks the stream's first sample.
        moved = ~(np.abs(v - prev) <= self.tolerance)
        run_start = _run_starts(moved, tv, None if state["last"] is None else state["run_start"])
        zero = np.abs(v) <= self.zero_tolerance
        # A zero run begins at the first zero after the last non-zero sample.
        nz_idx = np.maximum.accumulate(np.where(~zero, np.arange(v.size), -1)) if v.size else np.zeros(0, int)
        head = state["zero_start"] if state["zero_start"] is not None else (tv[0] if v.size else np.nan)
        zero_start = np.where(nz_idx >= 0, tv[np.minimum(nz_idx + 1, max(v.size - 1, 0))], head)
        zero_dur = np.where(zero, tv - zero_start, 0.0)
        # Samples in each run so far: since the last break in this chunk, or continuing the carried count.
        pos = np.arange(v.size)
        run_idx = np.maximum.accumulate(np.where(moved, pos, -1)) if v.size else np.zeros(0, int)
        run_n = np.where(run_idx >= 0, pos - run_idx + 1, int(state.get("run_n", 0)) + pos + 1)
        carried_zero = int(state.get("zero_n", 0)) if state["zero_start"] is not None else 0
        zero_n = np.where(zero, np.where(nz_idx >= 0, pos - nz_idx, carried_zero + pos + 1), 0)
        enough = int(self.min_samples)
        score_v = np.maximum(
            np.where(run_n >= enough, (tv - run_start) / self.window_s, 0.0),
            np.where(zero_n >= enough, zero_dur / self.zero_window_s, 0.0),
        )
        scores = np.full(x.size, np.nan)
        scores[valid] = score_v
        new_state: State = dict(state)
        if v.size:
            new_state = {
                "last": float(v[-1]),
                "run_start": float(run_start[-1]),
                "zero_start": float(zero_start[-1]) if zero[-1] else None,
                "last_t": float(t[-1]),
                "run_n": int(run_n[-1]),
                "zero_n": int(zero_n[-1]),
            }
        elif t.size:
            new_state["last_t"] = float(t[-1])
        return scores, new_state
