"""Shewhart individuals chart with the four Western Electric rules, as one continuous score."""

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


def _second_smallest(columns: list[FloatArray]) -> FloatArray:
    """Element-wise second smallest of several equally shaped arrays: ``max_i min_{j != i} a_j``."""
    n = len(columns)
    prefix = [columns[0]]
    for col in columns[1:-1]:
        prefix.append(np.minimum(prefix[-1], col))
    suffix = [columns[-1]]
    for col in columns[-2:0:-1]:
        suffix.append(np.minimum(suffix[-1], col))
    suffix.reverse()  # suffix[i] = min(columns[i+1:])
    best = suffix[0]
    for i in range(1, n - 1):
        best = np.maximum(best, np.minimum(prefix[i - 1], suffix[i]))
    return np.maximum(best, prefix[-1])


def _side_score(A: FloatArray, n: int) -> FloatArray:
    """Rule score of one side (values already signed so that 'beyond' means large) for the last ``n`` rows."""
    lag = [A[_HISTORY - k : _HISTORY - k + n] for k in range(_HISTORY + 1)]
    rule1 = lag[0] / 3.0  # one point beyond 3 sigma
    rule2 = _second_smallest(lag[:3]) / 2.0  # 2 of 3 beyond 2 sigma  <=> 2nd largest of 3 > 2
    rule3 = _second_smallest(lag[:5])  # 4 of 5 beyond 1 sigma  <=> 4th largest of 5 > 1
    run = lag[0]
    for col in lag[1:]:
        run = np.minimum(run, col)
    rule4 = 1.0 + run  # 8 in a row on this side  <=> min of 8 > 0
    return np.maximum(np.maximum(rule1, rule2), np.maximum(rule3, rule4))


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
        A = np.concatenate([np.full((_HISTORY - tail.shape[0], d), np.nan), tail, Z])
        known = np.isfinite(A)
        above = np.where(known, A, -np.inf)
        below = np.where(known, -A, -np.inf)
        scores = np.maximum(_side_score(above, n), _side_score(below, n)).max(axis=1)
        new_tail = A[known.all(axis=1)][-_HISTORY:]
        return scores, {"tail": new_tail.tolist()}
