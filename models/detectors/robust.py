"""Rolling robust z-score (Hampel-style): distance from the trailing median in trailing-MAD units."""

from __future__ import annotations

from typing import Self

import numpy as np
from numpy.typing import ArrayLike
from scipy.ndimage import median_filter

from models.detectors.base import (
    FloatArray,
    State,
    StreamingDetector,
    as_2d,
    check_is_fitted,
)

#: MAD of a normal distribution times this is its standard deviation.
MAD_TO_SIGMA = 1.482602218505602


def resolution(x: FloatArray) -> float:
    """The smallest positive gap between distinct values of ``x`` (its quantisation step); 0 if constant.

    >>> resolution(np.array([1.0, 1.5, 1.5, 3.0]))
    0.5
    """
    u = np.unique(x[np.isfinite(x)])
    return float(np.diff(u).min()) if u.size > 1 else 0.0


def resolution_floor(x: FloatArray, rel_level: float = 1e-3) -> float:
    """A lower bound for the scale of a series: its resolution, or ``rel_level`` of its typical magnitude.

    Never a tiny absolute constant, so a flat stretch cannot make a blip of one quantum score in the
    millions: a flat series at 50.0 gets ``0.05``, a quantised one its step, an all-zero one 1.0 (its units
    are all that is known).

    >>> resolution_floor(np.full(10, 50.0)), resolution_floor(np.array([0.0, 0.5, 0.5]))
    (0.05, 0.5)
    """
    level = float(np.median(np.abs(x))) if x.size else 0.0
    floor = max(resolution(x), rel_level * level)
    return floor if floor > 0.0 else 1.0


def trailing_median(x: FloatArray, window: int) -> FloatArray:
    """``out[i] = `` rank-``window // 2`` order statistic of ``x[i : i + window]`` (length ``n - window + 1``).

    For odd ``window`` this is the median; for even ``window`` the upper of the two middle values.
    """
    n = x.shape[0] - window + 1
    if n <= 0:
        return np.empty(0)
    half = window // 2
    return np.asarray(median_filter(x, size=window, mode="nearest")[half : half + n], dtype=np.float64)


class RollingRobustZ(StreamingDetector):
    """Robust z-score of each value against the ``window`` values before it.

    ``m_t`` is the median of ``x_{t-w} .. x_{t-1}``, ``d_t = |x_t - m_t|``, and the scale is
    ``1.4826 * median(d_{t-w} .. d_{t-1})`` (the rolling MAD of past deviations, each from its own
    trailing median), floored at ``scale_floor`` times the training MAD and at the data's resolution
    (:func:`resolution_floor`: its quantisation step or 1e-3 of its level), so a flat stretch does not make
    the score explode. The score is ``max_j d_tj / scale_tj``; the first ``2 * window`` rows of a stream
    score 0 (after ``fit`` the windows are already full of training rows, so new data scores at once).

    Parameters
    ----------
    window : int
        Number of past samples in the median and MAD windows.
    k : float
        Threshold on the robust z-score (3.5 is the Iglewicz-Hoaglin choice).
    scale_floor : float
        Lower bound of the scale as a fraction of the training MAD (times 1.4826); the data's resolution
        is a lower bound too.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=300)
    >>> det = RollingRobustZ(window=31, k=5.0).fit(x)
    >>> x[200] += 10.0
    >>> np.flatnonzero(det.predict(x)).tolist()
    [200]
    """

    name = "robust_z"

    def __init__(self, window: int = 61, k: float = 3.5, scale_floor: float = 0.1) -> None:
        self.window = window
        self.k = k
        self.scale_floor = scale_floor

    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> Self:
        """Learn the per-column scale floor from the training MAD."""
        if int(self.window) < 2:
            raise ValueError(f"window must be at least 2, got {self.window}")
        A = as_2d(X)
        if A.shape[0] == 0:
            raise ValueError("cannot fit on an empty array")
        mad = MAD_TO_SIGMA * np.median(np.abs(A - np.median(A, axis=0)), axis=0)
        resolution_floors = np.array([resolution_floor(A[:, j]) for j in range(A.shape[1])])
        self.scale_min_ = np.maximum(self.scale_floor * mad, resolution_floors)
        self.threshold_ = float(self.k)
        return self

    def init_state(self) -> State:
        """Empty windows."""
        check_is_fitted(self)
        return {"x": [], "dev": []}

    def score_stream(self, X: ArrayLike, state: State) -> tuple[FloatArray, State]:
        """Robust z-scores of ``X`` continuing from the trailing values and deviations in ``state``."""
        check_is_fitted(self)
        A = as_2d(X)
        d = self.scale_min_.size
        if A.shape[1] != d:
            raise ValueError(f"expected {d} features, got {A.shape[1]}")
        w = int(self.window)
        tail_x = np.asarray(state["x"], dtype=np.float64).reshape(-1, d)
        tail_dev = np.asarray(state["dev"], dtype=np.float64).reshape(-1, d)
        n, p, q = A.shape[0], tail_x.shape[0], tail_dev.shape[0]
        W = np.concatenate([tail_x, A])
        # rows of W (from index `first`) that have a full trailing window of values
        first = max(p, w)
        n_dev = W.shape[0] - first
        scores = np.zeros(n)
        new_dev = np.empty((max(n_dev, 0), d))
        if n_dev > 0:
            for j in range(d):  # loop over features, vectorised over samples
                med = trailing_median(W[first - w : -1, j], w)
                new_dev[:, j] = np.abs(W[first:, j] - med)
            D = np.concatenate([tail_dev, new_dev])
            # deviation rows (from index `start`) that have a full trailing window of deviations
            start = max(q, w)
            if D.shape[0] > start:
                scale = np.empty((D.shape[0] - start, d))
                for j in range(d):
                    scale[:, j] = MAD_TO_SIGMA * trailing_median(D[start - w : -1, j], w)
                z = D[start:] / np.maximum(scale, self.scale_min_)
                scores[n - z.shape[0] :] = z.max(axis=1)
            tail_dev = D
        return scores, {"x": W[-w:].tolist(), "dev": tail_dev[-w:].tolist()}
