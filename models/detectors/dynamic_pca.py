"""Dynamic (lagged) PCA: PCA monitoring of ``[x_t, x_{t-1}, ..., x_{t-lags}]`` to capture autocorrelation.

Like :class:`~models.detectors.pca.PCADetector` it keeps the training mean and covariance for ever; for
monitoring past a short training window use ``process_monitor``, which follows slow normal change.
"""

from __future__ import annotations

from typing import Self

import numpy as np
from numpy.typing import ArrayLike

from models.detectors.base import FloatArray, State, StreamingDetector, as_2d, check_is_fitted
from models.detectors.pca import PCADetector

#: Rows lagged and scored per block.
_BLOCK = 8192


def lagged(A: FloatArray, lags: int) -> FloatArray:
    """Rows ``[x_t, x_{t-1}, ..., x_{t-lags}]`` for ``t = lags .. n-1`` (shape ``(n - lags, d * (lags + 1))``)."""
    n = A.shape[0] - lags
    if n <= 0:
        return np.empty((0, A.shape[1] * (lags + 1)))
    return np.hstack([A[lags - k : lags - k + n] for k in range(lags + 1)])


class DynamicPCA(PCADetector, StreamingDetector):
    """PCA with T² and SPE on time-lagged copies of the variables (Ku, Storer and Georgakis, 1995).

    The fitted attributes are those of :class:`PCADetector` in the lagged space (``d * (lags + 1)``
    variables; contributions of a variable at different lags can be summed). Streaming keeps the last
    ``lags`` rows as state; the first ``lags`` rows of a stream score 0 (warm-up).

    Parameters
    ----------
    lags : int
        Number of past samples appended to each row.
    n_components, alpha, statistic
        As for :class:`PCADetector`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = np.cumsum(rng.normal(size=(600, 3)), axis=0) * 0.05 + rng.normal(size=(600, 3))
    >>> det = DynamicPCA(lags=2, n_components=0.9).fit(x)
    >>> det.decision_function(x[:5]).shape
    (5,)
    """

    name = "dynamic_pca"

    def __init__(
        self, lags: int = 2, n_components: int | float = 0.9, alpha: float = 0.01, statistic: str = "combined"
    ) -> None:
        self.lags = lags
        self.n_components = n_components
        self.alpha = alpha
        self.statistic = statistic

    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> Self:
        """Fit PCA on the lagged training matrix."""
        if int(self.lags) < 0:
            raise ValueError(f"lags must be >= 0, got {self.lags}")
        A = as_2d(X)
        self.n_features_in_ = A.shape[1]
        self._fit_matrix(lagged(A, int(self.lags)))
        return self

    def init_state(self) -> State:
        """No past rows."""
        check_is_fitted(self)
        return {"tail": []}

    def score_stream(self, X: ArrayLike, state: State) -> tuple[FloatArray, State]:
        """Scores of ``X`` using the last ``lags`` rows of the previous chunk from ``state``."""
        check_is_fitted(self)
        A = as_2d(X)
        d, lags = self.n_features_in_, int(self.lags)
        if A.shape[1] != d:
            raise ValueError(f"expected {d} features, got {A.shape[1]}")
        tail = np.asarray(state["tail"], dtype=np.float64).reshape(-1, d)
        W = np.concatenate([tail, A])
        scores = np.zeros(A.shape[0])
        offset = W.shape[0] - A.shape[0]  # row i of W is row i - offset of A
        # lag and score block by block so the (rows, d * (lags + 1)) matrix never exists whole
        for hi in range(W.shape[0], lags, -_BLOCK):
            lo = max(lags, hi - _BLOCK)
            scores[lo - offset : hi - offset] = super().decision_function(lagged(W[lo - lags : hi], lags))
        keep = W[-lags:] if lags else W[:0]
        return scores, {"tail": keep.tolist()}

    def decision_function(self, X: ArrayLike) -> FloatArray:
        """Scores of ``X`` as one stream (the first ``lags`` rows score 0)."""
        return StreamingDetector.decision_function(self, X)

    def contributions(self, X: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Per-variable ``T²`` and ``SPE`` contributions summed over the lags, for rows with a full lag window.

        Returns two ``(n - lags, d)`` arrays; row ``i`` belongs to row ``i + lags`` of ``X``.
        """
        check_is_fitted(self)
        A = as_2d(X)
        if A.shape[1] != self.n_features_in_:
            raise ValueError(f"expected {self.n_features_in_} features, got {A.shape[1]}")
        t2c, spec = super().contributions(lagged(A, int(self.lags)))
        shape = (t2c.shape[0], int(self.lags) + 1, A.shape[1])
        return t2c.reshape(shape).sum(axis=1), spec.reshape(shape).sum(axis=1)

    def lagged_statistics(self, X: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """T² and SPE of the rows of ``X`` that have a full lag window (``n - lags`` rows)."""
        return self.statistics(lagged(as_2d(X), int(self.lags)))
