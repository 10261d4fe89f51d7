"""Spikes: isolated jumps against a robust local baseline (median and MAD of the preceding samples)."""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np
from numpy.typing import ArrayLike

from models.detectors.base import FloatArray, State, StreamingDetector, as_1d, check_is_fitted
from models.dust.robust import from_json_list, median_mad_rows, to_json_list, trailing_rows


class SpikeDetector(StreamingDetector):
    """Score = robust z-score of each sample against the median/MAD of the ``window`` samples before it.

    The baseline excludes the sample itself and is robust, so one spike does not lift its neighbours'
    baselines: the spike scores high and the samples after it do not. The first sample of a lasting step
    scores like a spike too (a causal detector cannot tell them apart yet); lasting rises are the episode
    detector's job.

    Parameters
    ----------
    window : int
        Number of preceding samples forming the baseline.
    z : float
        Robust z-score above which a sample is a spike; becomes ``threshold_``.
    min_scale : float
        Floor of the robust scale (units of the series), so a very quiet baseline does not turn sensor
        resolution steps into spikes.
    min_periods : int
        Finite baseline samples needed; fewer gives a NaN score (no decision).

    ``X`` is one series (1-d, or one column); NaN samples are missing: they score NaN and are not part of
    later baselines.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.r_[np.full(20, 10.0), 200.0, np.full(5, 10.0)]
    >>> det = SpikeDetector(window=10, min_periods=5).fit()
    >>> det.predict(x)[19:22].tolist()
    [False, True, False]
    """

    name: ClassVar[str] = "dust_spike"

    def __init__(self, window: int = 30, z: float = 8.0, min_scale: float = 1.0, min_periods: int = 10) -> None:
        self.window = window
        self.z = z
        self.min_scale = min_scale
        self.min_periods = min_periods

    def fit(self, X: ArrayLike | None = None, y: ArrayLike | None = None) -> Self:
        """A rule: validates parameters and sets ``threshold_`` (``X`` is accepted and ignored)."""
        if self.window < 3 or not 1 <= self.min_periods <= self.window:
            raise ValueError("need window >= 3 and 1 <= min_periods <= window")
        if self.min_scale <= 0 or self.z <= 0:
            raise ValueError("min_scale and z must be positive")
        self.threshold_ = float(self.z)
        return self

    def init_state(self) -> State:
        return {"history": []}

    def score_stream(self, X: ArrayLike, state: State) -> tuple[FloatArray, State]:
        check_is_fitted(self)
        x = as_1d(X, allow_nan=True)
        if np.isinf(x).any():
            raise ValueError("input contains infinite values")
        history = from_json_list(state["history"])
        # NaN samples are dropped from the baseline stream so they do not use up window positions.
        valid = np.isfinite(x)
        rows, new_history = trailing_rows(history, x[valid], self.window)
        med, scale, count = median_mad_rows(rows)
        scale = np.maximum(scale, self.min_scale)
        z = np.abs(x[valid] - med) / scale
        scores = np.full(x.size, np.nan)
        scores[valid] = np.where(count >= self.min_periods, z, np.nan)
        kept = new_history[np.isfinite(new_history)]
        return scores, {"history": to_json_list(kept)}
