"""Control limits from out-of-fold scores on normal data, for statistics with no textbook limit.

A limit set on the scores of the very rows a model was fitted on is optimistic: the model has already seen
them. Here the training rows are cut into contiguous folds (contiguous, so slow autocorrelated changes are
held out too), each fold is scored by a model fitted on the others, and the limit is an upper quantile of
these out-of-fold scores.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import numpy as np
from numpy.typing import ArrayLike

from models.detectors.base import FloatArray, as_2d

#: ``fit_score(train, held_out)``: fit on ``train``, return the scores of ``held_out`` scored as one stream.
FitScore = Callable[[FloatArray, FloatArray], FloatArray]


def out_of_fold_scores(fit_score: FitScore, X: FloatArray, folds: int) -> FloatArray:
    """Scores of every row of ``X`` from a model fitted on the other contiguous folds, in row order.

    >>> X = np.arange(10.0)[:, None]
    >>> out_of_fold_scores(lambda train, held: held[:, 0] - train.mean(), X, folds=2).tolist()
    [-7.0, -6.0, -5.0, -4.0, -3.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    """
    if folds < 2:
        raise ValueError(f"folds must be >= 2, got {folds}")
    if X.shape[0] < 2 * folds:
        raise ValueError(f"need at least {2 * folds} training samples for {folds} folds, got {X.shape[0]}")
    parts = np.array_split(np.arange(X.shape[0]), folds)
    scores = []
    for j, held_out in enumerate(parts):
        train = X[np.concatenate([p for i, p in enumerate(parts) if i != j])]
        scores.append(np.asarray(fit_score(train, X[held_out]), dtype=np.float64))
    return np.concatenate(scores)


def cv_limit(fit_score: FitScore, X: FloatArray, folds: int, quantile: float) -> float:
    """The ``quantile`` of the out-of-fold scores of ``X`` (see :func:`out_of_fold_scores`)."""
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must be in (0, 1), got {quantile}")
    return float(np.quantile(out_of_fold_scores(fit_score, X, folds), quantile))


class _Limited(Protocol):
    """A detector whose ``threshold_`` comes from out-of-fold scores of its training rows."""

    quantile: float
    folds: int
    threshold_: float

    def get_params(self) -> dict[str, Any]: ...

    def decision_function(self, X: ArrayLike) -> FloatArray: ...


D = TypeVar("D", bound=_Limited)


def fit_with_fold_limit(detector: D, X: ArrayLike, prepare: Callable[[D, FloatArray], None]) -> D:
    """Fit ``detector`` with ``prepare(detector, X)``; set ``threshold_`` by :func:`cv_limit`.

    Each fold is scored by a copy built with the same parameters: ``prepare(copy, train)`` fits it on the
    other folds, and it scores with its flag gate open (``threshold_ = inf``), so statistics that act on
    their own flags score as if nothing was flagged.
    """
    A = as_2d(X)
    prepare(detector, A)
    params = detector.get_params()

    def fit_score(train: FloatArray, held_out: FloatArray) -> FloatArray:
        copy = type(detector)(**params)
        prepare(copy, train)
        copy.threshold_ = math.inf
        return copy.decision_function(held_out)

    detector.threshold_ = cv_limit(fit_score, A, int(detector.folds), float(detector.quantile))
    return detector
