"""Short-term dust episodes: a short rolling mean over a fixed level, or a robust jump over the own baseline."""

from __future__ import annotations

import math
from typing import ClassVar, Self

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike

from models.detectors.base import FloatArray, State, TimedStreamingDetector, as_1d, check_is_fitted
from models.dust.limit import RollingMeanExceedance
from models.dust.robust import median_mad_rows


class ShortTermMeanExceedance(RollingMeanExceedance):
    """Episode trigger on a short rolling mean (10 minutes by default) against a configurable level.

    The same computation as :class:`~models.dust.limit.RollingMeanExceedance`, with defaults for episode
    alerting instead of the legal daily limit. ``X`` is one PM series, ``times`` epoch seconds.

    Examples
    --------
    >>> import numpy as np
    >>> det = ShortTermMeanExceedance(limit=100.0).fit()
    >>> t = np.arange(0, 1200, 10.0)
    >>> x = np.r_[np.full(60, 20.0), np.full(60, 300.0)]
    >>> bool(det.predict(x, times=t)[-1]), bool(det.predict(x, times=t)[59])
    (True, False)
    """

    name: ClassVar[str] = "dust_short_mean"

    def __init__(
        self,
        window_s: float = 600.0,
        limit: float = 100.0,
        expected_interval_s: float = 10.0,
        min_capture: float = 0.5,
    ) -> None:
        super().__init__(
            window_s=window_s, limit=limit, expected_interval_s=expected_interval_s, min_capture=min_capture
        )


class EpisodeJump(TimedStreamingDetector):
    """Score = robust z-score of the short rolling mean against the sensor's own recent baseline.

    Time is cut into bins of ``window_s`` seconds (aligned to the epoch). The baseline of a sample is the
    median of the means of the bins of the last ``baseline_s`` seconds before its own bin, its scale the
    MAD of those means (floored at ``min_scale``). The short mean is the mean over the last ``window_s``
    seconds. A plume raising the level well above what the sensor normally sees scores high whatever the
    absolute level, which makes the detector useful at sites with different backgrounds.

    Parameters
    ----------
    window_s : float
        Span of the short mean and width of the baseline bins (seconds).
    baseline_s : float
        Span of the baseline before the current bin (seconds).
    z : float
        Robust z-score flagged as an episode; becomes ``threshold_``.
    min_scale : float
        Floor of the baseline scale (µg/m³), so a very steady baseline does not flag small rises.
    min_bins : int
        Baseline bins with data needed; fewer gives NaN (warm-up, no decision).

    ``X`` is one PM series, ``times`` epoch seconds (non-decreasing). NaN samples are missing.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(0, 6 * 3600, 60.0)
    >>> x = np.r_[np.full(300, 15.0), np.full(60, 120.0)]
    >>> det = EpisodeJump(window_s=600, baseline_s=3 * 3600, min_bins=6).fit()
    >>> bool(det.predict(x, times=t)[-1]), bool(det.predict(x, times=t)[299])
    (True, False)
    """

    name: ClassVar[str] = "dust_episode_jump"

    def __init__(
        self,
        window_s: float = 600.0,
        baseline_s: float = 86_400.0,
        z: float = 6.0,
        min_scale: float = 5.0,
        min_bins: int = 12,
    ) -> None:
        self.window_s = window_s
        self.baseline_s = baseline_s
        self.z = z
        self.min_scale = min_scale
        self.min_bins = min_bins

    def fit(self, X: ArrayLike | None = None, y: ArrayLike | None = None) -> Self:
        """A rule on the own baseline: validates parameters and sets ``threshold_`` (``X`` is ignored)."""
        if self.window_s <= 0 or self.baseline_s < self.window_s:
            raise ValueError("need window_s > 0 and baseline_s >= window_s")
        if self.min_scale <= 0 or self.z <= 0:
            raise ValueError("min_scale and z must be positive")
        self.n_bins_ = math.ceil(self.baseline_s / self.window_s)
        if not 1 <= self.min_bins <= self.n_bins_:
            raise ValueError("min_bins must be within [1, baseline_s / window_s]")
        self.threshold_ = float(self.z)
        return self

    def init_state(self) -> State:
        return {"t": [], "v": [], "bins": []}

    def _short_means(self, t: FloatArray, x: FloatArray, state: State) -> tuple[FloatArray, State]:
        """Mean of the valid samples in ``(t_i - window_s, t_i]`` for every new sample (cumulative sums)."""
        prev_t = np.asarray(state["t"], dtype=np.float64)
        all_t = np.concatenate([prev_t, t])
        all_v = np.concatenate([np.asarray(state["v"], dtype=np.float64), x])
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
        keep = valid & (all_t > all_t[-1] - self.window_s) if all_t.size else valid
        return means, {"t": all_t[keep].tolist(), "v": all_v[keep].tolist()}

    def score_stream(self, X: ArrayLike, state: State, *, times: ArrayLike) -> tuple[FloatArray, State]:
        check_is_fitted(self)
        x = as_1d(X, allow_nan=True)
        t = as_1d(times)
        if t.shape != x.shape:
            raise ValueError("times and X must have the same length")
        if np.isinf(x).any():
            raise ValueError("input contains infinite values")
        means, short_state = self._short_means(t, x, state)
        valid = np.isfinite(x)
        k = int(self.n_bins_)
        old = np.asarray(state["bins"], dtype=np.float64).reshape(-1, 3)
        new_ids = np.floor(t[valid] / self.window_s).astype(np.int64)
        ids = np.concatenate([old[:, 0].astype(np.int64), new_ids])
        scores = np.full(x.size, np.nan)
        if ids.size == 0:
            return scores, {**short_state, "bins": []}
        sums = np.concatenate([old[:, 1], x[valid]])
        counts = np.concatenate([old[:, 2], np.ones(new_ids.size)])
        lo = int(ids.min())
        span = int(ids.max()) - lo + 1
        dense_sum = np.bincount(ids - lo, weights=sums, minlength=span)
        dense_cnt = np.bincount(ids - lo, weights=counts, minlength=span)
        with np.errstate(invalid="ignore", divide="ignore"):
            bin_means = dense_sum / dense_cnt
        # Row b of the view holds the k bins before bin lo + b.
        windows = sliding_window_view(np.concatenate([np.full(k, np.nan), bin_means]), k)
        uniq, inverse = np.unique(new_ids, return_inverse=True)
        base, scale, n = median_mad_rows(windows[uniq - lo])
        scale = np.maximum(scale, self.min_scale)
        z = (means[valid] - base[inverse]) / scale[inverse]
        scores[valid] = np.where(n[inverse] >= self.min_bins, z, np.nan)
        last = lo + span - 1
        keep = (np.arange(lo, lo + span) >= last - k) & (dense_cnt > 0)
        bins = np.column_stack([np.arange(lo, lo + span)[keep], dense_sum[keep], dense_cnt[keep]])
        return scores, {**short_state, "bins": bins.tolist()}
