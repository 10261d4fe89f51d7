"""Seasonal (e.g. diurnal) baseline: robust residuals against a per-phase median profile."""

from __future__ import annotations

from typing import Self

import numpy as np
from numpy.typing import ArrayLike

from models.detectors.base import (
    BoolArray,
    FloatArray,
    IntArray,
    State,
    StreamingDetector,
    as_2d,
    check_is_fitted,
)
from models.detectors.robust import MAD_TO_SIGMA, resolution_floor


class SeasonalBaseline(StreamingDetector):
    """Residuals from a per-phase median baseline in per-phase MAD units.

    The cycle is cut into ``n_bins`` phase bins. The phase of a row comes from its timestamp when
    ``times`` (epoch seconds) are given: ``(t mod period_s) / period_s``, so an irregular series or one
    with gaps keeps its phase (a day starts at 00:00 UTC). Without times, rows are taken as regularly
    sampled, ``period`` samples per cycle, counted from the first training row (the stream state is the
    counter; ``init_state(offset=...)`` starts elsewhere, :meth:`residuals` takes explicit positions).

    ``fit`` learns the median and MAD of each column in each bin; the score of a row is
    ``max_j |x_j - median_bj| / (1.4826 * MAD_bj)``. A bin with fewer than ``min_bin_samples`` training
    rows (training shorter than a cycle, or gaps) falls back to the column's overall median and scale:
    the detector then acts as a robust level check there until it is refitted on a full cycle.

    Parameters
    ----------
    period : int
        Samples per seasonal cycle, for data without timestamps.
    n_bins : int
        Phase bins per cycle.
    k : float
        Threshold on the absolute robust residual.
    scale_floor : float
        Lower bound of each bin's scale as a fraction of the column's overall robust scale (the data's
        resolution is a lower bound too).
    period_s : float
        Length of the cycle in seconds, for data with timestamps (a day by default).
    min_bin_samples : int
        Training rows a bin needs for its own median and scale.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(24 * 20)
    >>> x = 10 + 5 * np.sin(2 * np.pi * t / 24) + np.random.default_rng(0).normal(0, 0.3, t.size)
    >>> det = SeasonalBaseline(period=24, n_bins=24, k=5.0).fit(x)
    >>> test = x[:48].copy(); test[30] += 5.0
    >>> np.flatnonzero(det.score_stream(test, det.init_state())[0] > det.threshold_).tolist()
    [30]
    """

    name = "seasonal"
    #: ``score_stream`` takes ``times=`` (the streaming scorer passes them).
    uses_times = True

    def __init__(
        self,
        period: int = 1440,
        n_bins: int = 24,
        k: float = 4.0,
        scale_floor: float = 0.05,
        period_s: float = 86_400.0,
        min_bin_samples: int = 3,
    ) -> None:
        self.period = period
        self.n_bins = n_bins
        self.k = k
        self.scale_floor = scale_floor
        self.period_s = period_s
        self.min_bin_samples = min_bin_samples

    def fit(self, X: ArrayLike, y: ArrayLike | None = None, *, times: ArrayLike | None = None) -> Self:
        """Learn the per-bin median and MAD profile (phases from ``times``, else from row 0 = phase 0)."""
        if int(self.n_bins) < 1 or int(self.period) < int(self.n_bins):
            raise ValueError("need 1 <= n_bins <= period")
        if not self.period_s > 0:
            raise ValueError(f"period_s must be positive, got {self.period_s}")
        A = as_2d(X)
        if A.shape[0] == 0:
            raise ValueError("cannot fit on an empty array")
        bins = self._bins(self._phases(A.shape[0], 0, times))
        n_bins = int(self.n_bins)
        counts = np.bincount(bins, minlength=n_bins)
        overall_median = np.median(A, axis=0)
        overall = MAD_TO_SIGMA * np.median(np.abs(A - overall_median), axis=0)
        floors = np.array([resolution_floor(A[:, j]) for j in range(A.shape[1])])
        overall_scale = np.maximum(overall, floors)
        medians = np.tile(overall_median, (n_bins, 1))
        scales = np.tile(overall_scale, (n_bins, 1))
        order = np.argsort(bins, kind="stable")
        groups = np.split(A[order], np.cumsum(counts)[:-1])
        for b, g in enumerate(groups):  # loop over bins, not samples
            if g.shape[0] >= int(self.min_bin_samples):
                medians[b] = np.median(g, axis=0)
                scales[b] = MAD_TO_SIGMA * np.median(np.abs(g - medians[b]), axis=0)
        self.baseline_ = medians
        self.scale_ = np.maximum(scales, np.maximum(self.scale_floor * overall, floors))
        self.fallback_bins_ = int((counts < int(self.min_bin_samples)).sum())
        self.threshold_ = float(self.k)
        return self

    def _phases(self, n: int, t0: int, times: ArrayLike | None) -> FloatArray:
        """Phase in [0, 1) of ``n`` rows: from ``times`` when given, else from the sample counter ``t0``."""
        if times is not None:
            t = np.asarray(times, dtype=np.float64).reshape(-1)
            if t.size != n:
                raise ValueError(f"got {t.size} times for {n} rows")
            return np.asarray(np.mod(t, float(self.period_s)) / float(self.period_s), dtype=np.float64)
        return np.asarray((np.arange(t0, t0 + n) % int(self.period)) / int(self.period), dtype=np.float64)

    def _bins(self, phase: FloatArray) -> IntArray:
        return np.asarray(np.minimum((phase * int(self.n_bins)).astype(np.int64), int(self.n_bins) - 1))

    def residuals(self, X: ArrayLike, positions: ArrayLike) -> FloatArray:
        """Signed robust residuals ``(n, d)`` of rows at the given sample positions within the cycle."""
        check_is_fitted(self)
        A = as_2d(X)
        pos = np.asarray(positions, dtype=np.int64)
        return self._residuals(A, (pos % int(self.period)) / int(self.period))

    def _residuals(self, A: FloatArray, phase: FloatArray) -> FloatArray:
        if A.shape[1] != self.baseline_.shape[1]:
            raise ValueError(f"expected {self.baseline_.shape[1]} features, got {A.shape[1]}")
        b = self._bins(phase)
        return np.asarray((A - self.baseline_[b]) / self.scale_[b], dtype=np.float64)

    def init_state(self, offset: int = 0) -> State:
        """Phase counter at ``offset`` samples into the cycle (used only for rows without times)."""
        check_is_fitted(self)
        return {"t": int(offset) % int(self.period)}

    def score_stream(self, X: ArrayLike, state: State, *, times: ArrayLike | None = None) -> tuple[FloatArray, State]:
        """Scores of ``X``: phases from ``times`` when given, else from the counter ``state['t']``."""
        check_is_fitted(self)
        A = as_2d(X)
        t0 = int(state["t"])
        res = self._residuals(A, self._phases(A.shape[0], t0, times))
        scores = np.abs(res).max(axis=1) if A.shape[0] else np.empty(0)
        return scores, {"t": (t0 + A.shape[0]) % int(self.period)}

    def decision_function(self, X: ArrayLike, *, times: ArrayLike | None = None) -> FloatArray:
        """Scores of ``X`` following the training rows (phases from ``times`` when given)."""
        scores, _ = self.score_stream(X, self.start_state(), times=times)
        return scores

    def predict(self, X: ArrayLike, *, times: ArrayLike | None = None) -> BoolArray:
        """Flags: ``decision_function(X, times=times) > threshold_``."""
        check_is_fitted(self)
        return np.asarray(self.decision_function(X, times=times) > self.threshold_, dtype=np.bool_)
