"""Shewhart individuals chart with the four Western Electric rules, as one continuous score.

The centre line is the training mean, fixed: for series that drift, have seasons or settle at new levels,
use ``stream_monitor`` (:mod:`models.detectors.stream_monitor`), whose baselines forget.
"""

from __future__ import annotations

from typing import Self

import numpy as np
from numpy.typing import ArrayLike

from models.detectors.base import (
    FloatArray,
    State,
    StreamingDetector,
    as_2d,
    check_is_fitted,
    location_scale,
)

#: Rows of history the longest rule (8 in a row) needs besides the current one.
_HISTORY = 7
#: Rows scored per vectorised block (keeps the temporaries in cache).
_BLOCK = 1 << 14


def _side_score(A: FloatArray, n: int) -> FloatArray:
    """Rule score of one side for the last ``n`` rows of ``A`` (signed so that 'beyond' means large).

    ``A`` holds ``_HISTORY`` earlier rows first (``-inf`` where unknown, which never counts as beyond).
    Sliding order statistics are built from pairwise minima/maxima, a few array operations in all.
    """

    def at(x: FloatArray, shift: int) -> FloatArray:  # x aligned at the end of A, value ``shift`` rows back
        return x[x.shape[0] - n - shift : x.shape[0] - shift]

    mn2 = np.minimum(A[1:], A[:-1])  # min of rows (t-1, t)
    mx2 = np.maximum(A[1:], A[:-1])
    min3 = np.minimum(mn2[1:], A[:-2])
    med3 = np.maximum(mn2[1:], np.minimum(mx2[1:], A[:-2]))  # 2nd largest of 3
    # 2nd smallest of {t-4..t} = min(max(min of first 3, min of last 2), 2nd of first 3, max of last 2)
    sec5 = np.minimum(np.maximum(at(min3, 0), at(mn2, 3)), np.minimum(at(med3, 0), at(mx2, 3)))
    mn4 = np.minimum(mn2[2:], mn2[:-2])
    mn8 = np.minimum(at(mn4, 0), at(mn4, 4))
    score = at(A, 0) / 3.0  # rule 1: one point beyond 3 sigma
    np.maximum(score, at(med3, 0) / 2.0, out=score)  # rule 2: 2 of 3 beyond 2 sigma
    np.maximum(score, sec5, out=score)  # rule 3: 4 of 5 beyond 1 sigma
    np.maximum(score, mn8 + 1.0, out=score)  # rule 4: 8 in a row on this side
    return score


class ShewhartChart(StreamingDetector):
    """Individuals chart with Western Electric rules 1-4 folded into one score that signals above 1.

    For standardised values ``z`` (training mean and standard deviation) and each side of the centre line:
    rule 1 gives ``|z_t| / 3``, rule 2 the second largest of the last 3 divided by 2, rule 3 the fourth
    largest of the last 5, rule 4 ``1 + min`` of the last 8. Each term exceeds 1 exactly when its rule
    fires, so ``score > 1`` means "some rule fired" and the size says by how much. The first rows of a
    stream only see the rules their history allows.

    Examples
    --------
    >>> import numpy as np
    >>> det = ShewhartChart().fit(np.random.default_rng(0).normal(size=500))
    >>> det.predict(np.r_[np.full(5, -1.0), np.full(8, 0.5)]).tolist()[-2:]  # 8 in a row above the mean
    [False, True]
    """

    name = "shewhart"

    def __init__(self) -> None:
        pass

    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> Self:
        """Learn the centre line and sigma of each column."""
        self.mean_, self.scale_ = location_scale(as_2d(X))
        self.threshold_ = 1.0
        return self

    def init_state(self) -> State:
        """No history."""
        check_is_fitted(self)
        return {"tail": []}

    def score_stream(self, X: ArrayLike, state: State) -> tuple[FloatArray, State]:
        """Rule scores of ``X`` continuing from the last standardised rows kept in ``state``."""
        check_is_fitted(self)
        Z = as_2d(X)
        d = self.mean_.size
        if Z.shape[1] != d:
            raise ValueError(f"expected {d} features, got {Z.shape[1]}")
        tail = np.asarray(state["tail"], dtype=np.float64).reshape(-1, d)[-_HISTORY:]
        Z = (Z - self.mean_) / self.scale_
        n = Z.shape[0]
        n_pad = _HISTORY - tail.shape[0]
        A = np.concatenate([np.full((n_pad, d), -np.inf), tail, Z])
        scores = np.empty(n)
        # blocks that fit in cache; each block sees the _HISTORY rows before it, so blocking changes nothing
        for lo in range(0, n, _BLOCK):
            hi = min(n, lo + _BLOCK)
            above = A[lo : hi + _HISTORY]
            below = -above
            below[: max(0, n_pad - lo)] = -np.inf
            both = np.maximum(_side_score(above, hi - lo), _side_score(below, hi - lo))
            scores[lo:hi] = both[:, 0] if d == 1 else both.max(axis=1)
        return scores, {"tail": A[n_pad:][-_HISTORY:].tolist()}
