"""Limit-value exceedance on time-based rolling means, with the EU data-capture rule.

The EU ambient air directive (2008/50/EC) sets a PM10 daily limit of 50 µg/m³ (24-h mean); the revised directive
(EU) 2024/2881 lowers it to 45 µg/m³ from 2030 and adds a PM2.5 daily limit of 25 µg/m³. A mean only counts
when enough of its window was actually measured (data capture, 75 % by default), so a sensor that sent three
samples in a day cannot raise a daily exceedance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

import numpy as np
from numpy.typing import ArrayLike

from models.detectors.base import FloatArray, State, TimedStreamingDetector, as_1d, check_is_fitted


@dataclass(frozen=True, slots=True)
class LimitValue:
    """A limit on the mean of one metric over a window."""

    metric: str
    window_s: float
    limit: float


#: Limit sets by name; ``current`` is 2008/50/EC, ``2030`` is (EU) 2024/2881 from 1 January 2030.
LIMIT_SETS: dict[str, tuple[LimitValue, ...]] = {
    "current": (LimitValue("pm10", 86_400.0, 50.0),),
    "2030": (LimitValue("pm10", 86_400.0, 45.0), LimitValue("pm25", 86_400.0, 25.0)),
}


class RollingMeanExceedance(TimedStreamingDetector):
    """Score = rolling mean over the last ``window_s`` seconds; flags when it exceeds ``limit``.

    Parameters
    ----------
    window_s : float
        Length of the trailing window in seconds (86 400 for a daily mean).
    limit : float
        Limit value of the mean; becomes ``threshold_``.
    expected_interval_s : float
        The device's nominal sampling interval, used for data capture.
    min_capture : float
        Fraction of the window's expected samples required; below it the score is NaN (no decision).

    Examples
    --------
    >>> import numpy as np
    >>> det = RollingMeanExceedance(window_s=60, limit=50, expected_interval_s=10).fit()
    >>> t = np.arange(0, 120, 10.0)
    >>> x = np.r_[np.full(6, 20.0), np.full(6, 90.0)]
    >>> bool(det.predict(x, times=t)[-1])
    True
    """

    def __init__(
        self,
        window_s: float = 86_400.0,
        limit: float = 50.0,
        expected_interval_s: float = 10.0,
        min_capture: float = 0.75,
    ) -> None:
        self.window_s = window_s
        self.limit = limit
        self.expected_interval_s = expected_interval_s
        self.min_capture = min_capture

    def fit(self, X: ArrayLike | None = None, y: ArrayLike | None = None) -> Self:
        """A limit needs no training data; ``fit`` validates parameters and sets ``threshold_``."""
        if self.window_s <= 0 or self.expected_interval_s <= 0:
            raise ValueError("window_s and expected_interval_s must be positive")
        if not 0.0 <= self.min_capture <= 1.0:
            raise ValueError("min_capture must be within [0, 1]")
        self.threshold_ = float(self.limit)
        self.expected_count_ = self.window_s / self.expected_interval_s
        return self

    def init_state(self) -> State:
        return {"t": [], "v": []}

    def score_stream(self, X: ArrayLike, state: State, *, times: ArrayLike) -> tuple[FloatArray, State]:
        """Rolling means of the new samples (NaN where capture is short), continuing from ``state``.

        NaN values are missing samples: they count neither to the mean nor to data capture.
        """
        check_is_fitted(self)
        x = as_1d(X, allow_nan=True)
        t = as_1d(times)
        if t.shape != x.shape:
            raise ValueError("times and X must have the same length")
        prev_t = np.asarray(state["t"], dtype=np.float64)
        prev_v = np.asarray(state["v"], dtype=np.float64)
        all_t = np.concatenate([prev_t, t])
        all_v = np.concatenate([prev_v, x])
        if all_t.size > 1 and np.any(np.diff(all_t) < 0):
            raise ValueError("times must be non-decreasing across the stream")
        valid = np.isfinite(all_v)
        csum = np.concatenate([[0.0], np.cumsum(np.where(valid, all_v, 0.0))])
        ccnt = np.concatenate([[0], np.cumsum(valid)])
        ends = np.arange(prev_t.size, all_t.size) + 1
        starts = np.searchsorted(all_t, all_t[ends - 1] - self.window_s, side="right")
        count = ccnt[ends] - ccnt[starts]
        with np.errstate(invalid="ignore", divide="ignore"):
            means = (csum[ends] - csum[starts]) / count
        enough = count >= self.min_capture * self.expected_count_
        scores = np.where(enough & (count > 0), means, np.nan)
        # Missing samples carry no information for later means, and NaN is not valid JSON: drop them.
        keep = valid & (all_t > all_t[-1] - self.window_s) if all_t.size else valid
        new_state: State = {"t": all_t[keep].tolist(), "v": all_v[keep].tolist()}
        return scores.astype(np.float64), new_state
