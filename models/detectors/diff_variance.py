"""Changed short-term variability: EWMA variance of first differences against its training level."""

from __future__ import annotations

from typing import Self

import numpy as np
from numpy.typing import ArrayLike
from scipy.signal import lfilter

from models.detectors.base import FloatArray, State, StreamingDetector, as_2d, check_is_fitted
from models.detectors.calibration import fit_with_fold_limit

#: Smallest variance ratio kept before the log, so a frozen signal scores large but finite.
_FLOOR = 1e-3


class DiffVarianceChart(StreamingDetector):
    """Largest ``|log|`` over the variables of the EWMA variance ratio of first differences.

    First differences remove slow drifts of a process, so the chart reacts to changed high-frequency
    variability (a sticking valve, a noisier feed, a frozen sensor) in either direction, not to level
    changes. Per variable: ``r_t = EWMA_lam((Δx_t / s)²)`` started at 1, where ``s`` is the standard
    deviation of the training differences; the score is ``max_j |log max(r_tj, 1e-3)|``. The first row of a
    stream has no predecessor and counts as an unchanged value. ``threshold_`` is the ``quantile`` of
    out-of-fold scores on the training data (``folds`` contiguous folds).

    Parameters
    ----------
    lam : float
        EWMA weight in (0, 1]; small values average longer.
    quantile : float
        Quantile of the out-of-fold training scores used as ``threshold_``.
    folds : int
        Contiguous folds for the out-of-fold scores.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> det = DiffVarianceChart(lam=0.1).fit(rng.normal(size=(500, 3)))
    >>> noisier = rng.normal(size=(300, 3)) * np.array([1.0, 3.0, 1.0])
    >>> bool(det.predict(noisier)[100:].mean() > 0.9)
    True
    """

    name = "diff_variance"
    change_kind = "variability"

    def __init__(self, lam: float = 0.1, quantile: float = 0.99, folds: int = 5) -> None:
        self.lam = lam
        self.quantile = quantile
        self.folds = folds

    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> Self:
        """Learn the scale of the first differences and set ``threshold_`` from out-of-fold scores."""
        return fit_with_fold_limit(self, X, DiffVarianceChart._fit_scale)

    def _fit_scale(self, A: FloatArray) -> None:
        if not 0.0 < self.lam <= 1.0:
            raise ValueError(f"lam must be in (0, 1], got {self.lam}")
        if A.shape[0] < 3:
            raise ValueError(f"need at least 3 training samples, got {A.shape[0]}")
        sd = np.diff(A, axis=0).std(axis=0, ddof=1)
        self.n_features_in_ = A.shape[1]
        self.scale_ = np.where(sd > 1e-12 * np.maximum(1.0, np.abs(A).max(axis=0)), sd, 1.0)

    def init_state(self) -> State:
        """No previous row; every variance ratio at 1."""
        check_is_fitted(self)
        return {"last": [], "level": [1.0] * self.n_features_in_}

    def score_stream(self, X: ArrayLike, state: State) -> tuple[FloatArray, State]:
        """Scores of ``X`` continuing from the previous row and EWMA levels in ``state``."""
        check_is_fitted(self)
        A = as_2d(X)
        d = self.n_features_in_
        if A.shape[1] != d:
            raise ValueError(f"expected {d} features, got {A.shape[1]}")
        last = np.asarray(state["last"], dtype=np.float64).reshape(-1, d)
        level = np.asarray(state["level"], dtype=np.float64).reshape(-1)
        if level.shape != (d,):
            raise ValueError(f"state['level'] has {level.size} values, expected {d}")
        if A.shape[0] == 0:
            return np.empty(0), {"last": last.tolist(), "level": level.tolist()}
        previous = last[-1:] if last.shape[0] else A[:1]
        D2 = (np.diff(A, axis=0, prepend=previous) / self.scale_) ** 2
        lam = float(self.lam)
        ratio, _ = lfilter([lam], [1.0, lam - 1.0], D2, axis=0, zi=((1.0 - lam) * level)[None, :])
        scores = np.abs(np.log(np.maximum(ratio, _FLOOR))).max(axis=1)
        return scores, {"last": A[-1:].tolist(), "level": ratio[-1].tolist()}
