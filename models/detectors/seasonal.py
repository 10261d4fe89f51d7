"""Seasonal (e.g. diurnal) baseline: robust residuals against a per-phase median profile."""

from __future__ import annotations

from typing import Self

import numpy as np
from numpy.typing import ArrayLike

from models.detectors.base import (
    FloatArray,
    IntArray,
    State,
    StreamingDetector,
    as_2d,
    check_is_fitted,
)
from models.detectors.robust import MAD_TO_SIGMA


class SeasonalBaseline(StreamingDetector):
    """Residuals from a per-phase median baseline in per-phase MAD units, for regularly sampled data.

    The cycle of ``period`` samples (1440 for minute data over a day) is cut into ``n_bins`` phase bins.
    ``fit`` learns the median and MAD of each column in each bin from data that starts at phase 0; the
    score of a row is ``max_j |x_j - median_bj| / (1.4826 * MAD_bj)`` where ``b`` is the row's bin. The
    stream state is just the phase counter, so data at another phase starts with
    ``init_state(offset=...)``; :meth:`residuals` takes explicit phases (e.g. from timestamps).

    Parameters
    ----------
    period : int
        Samples per seasonal cycle.
    n_bins : int
        Phase bins per cycle (every bin needs training samples).
    k : float
        Threshold on the absolute robust residual.
    scale_floor : float
        Lower bound of each bin's scale as a fraction of the column's overall robust scale.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(24 * 20)
    >>> x = 10 + 5 * np.sin(2 * np.pi * t / 24) + np.random.default_rng(0).normal(0, 0.3, t.size)
    >>> det = SeasonalBaseline(period=24, n_bins=24, k=5.0).fit(x)
    >>> test = x[:48].copy(); test[30] += 5.0
    >>> np.flatnonzero(det.predict(test)).tolist()
    [30]
    """

    name = "seasonal"

    def __init__(self, period: int = 1440, n_bins: int = 24, k: float = 4.0, scale_floor: float = 0.05) -> None:
        self.period = period
        self.n_bins = n_bins
        self.k = k
        self.scale_floor = scale_floor

    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> Self:
        """Learn the per-bin median and MAD profile; ``X`` starts at phase 0."""
        if int(self.n_bins) < 1 or int(self.period) < int(self.n_bins):
            raise ValueError("need 1 <= n_bins <= period")
        A = as_2d(X)
        bins = self._bins(np.arange(A.shape[0]))
        counts = np.bincount(bins, minlength=int(self.n_bins))
        if (counts == 0).any():
            raise ValueError(f"training data leaves {int((counts == 0).sum())} phase bins empty; give a full period")
        order = np.argsort(bins, kind="stable")
        groups = np.split(A[order], np.cumsum(counts)[:-1])
        medians = np.stack([np.median(g, axis=0) for g in groups])  # loop over bins, not samples
        mads = np.stack([np.median(np.abs(g - m), axis=0) for g, m in zip(groups, medians, strict=True)])
        overall = MAD_TO_SIGMA * np.median(np.abs(A - np.median(A, axis=0)), axis=0)
        self.baseline_ = medians
        self.scale_ = np.maximum(MAD_TO_SIGMA * mads, np.maximum(self.scale_floor * overall, 1e-12))
        self.threshold_ = float(self.k)
        return self

    def _bins(self, positions: IntArray) -> IntArray:
        phase = positions % int(self.period)
        return np.asarray(phase * int(self.n_bins) // int(self.period), dtype=np.int64)

    def residuals(self, X: ArrayLike, positions: ArrayLike) -> FloatArray:
        """Signed robust residuals ``(n, d)`` of rows at the given sample positions within the cycle."""
        check_is_fitted(self)
        A = as_2d(X)
        if A.shape[1] != self.baseline_.shape[1]:
            raise ValueError(f"expected {self.baseline_.shape[1]} features, got {A.shape[1]}")
        b = self._bins(np.asarray(positions, dtype=np.int64))
        return np.asarray((A - self.baseline_[b]) / self.scale_[b], dtype=np.float64)

    def init_state(self, offset: int = 0) -> State:
        """Phase counter at ``offset`` samples into the cycle."""
        check_is_fitted(self)
        return {"t": int(offset) % int(self.period)}

    def score_stream(self, X: ArrayLike, state: State) -> tuple[FloatArray, State]:
        """Scores of ``X`` whose first row is at phase ``state['t']``."""
        A = as_2d(X)
        t0 = int(state["t"])
        res = self.residuals(A, np.arange(t0, t0 + A.shape[0]))
        scores = np.abs(res).max(axis=1) if A.shape[0] else np.empty(0)
        return scores, {"t": (t0 + A.shape[0]) % int(self.period)}
