"""The detector protocol every detector follows, like scikit-learn estimators and pyod detectors.

- hyper-parameters are set in ``__init__`` and nothing else happens there;
- ``fit(X)`` learns from normal data and returns ``self``; fitted attributes end in ``_``;
- ``decision_function(X)`` returns one score per row, **higher = more anomalous**;
- ``threshold_`` turns scores into flags (``predict``); deciding is separate from scoring;
- streaming detectors keep explicit, JSON-serialisable state so that scoring a stream in chunks gives the
  same scores as scoring it whole: ``scores, state = det.score_stream(X_chunk, state)``.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
State = dict[str, Any]


class NotFittedError(RuntimeError):
    """A detector was asked to score before ``fit``."""


def check_is_fitted(detector: object, attribute: str = "threshold_") -> None:
    """Raise ``NotFittedError`` unless ``fit`` has set ``attribute``."""
    if not hasattr(detector, attribute):
        raise NotFittedError(f"{type(detector).__name__} is not fitted; call fit() first")


def as_2d(X: ArrayLike, *, allow_nan: bool = False) -> FloatArray:
    """Validate input as a float64 (n_samples, n_features) array; a 1-d array is one feature."""
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"expected a 1-d or 2-d array, got {arr.ndim} dimensions")
    if not allow_nan and not np.isfinite(arr).all():
        raise ValueError("input contains NaN or infinite values")
    return arr


def as_1d(x: ArrayLike, *, allow_nan: bool = False) -> FloatArray:
    """Validate input as a float64 1-d series."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"expected a 1-d series, got shape {arr.shape}")
    if not allow_nan and not np.isfinite(arr).all():
        raise ValueError("input contains NaN or infinite values")
    return arr


class BaseDetector:
    """Common behaviour: ``predict`` from ``decision_function`` and ``threshold_``; parameters for registry."""

    threshold_: float

    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> Self:  # pragma: no cover - interface
        raise NotImplementedError

    def decision_function(self, X: ArrayLike) -> FloatArray:  # pragma: no cover - interface
        raise NotImplementedError

    def predict(self, X: ArrayLike) -> BoolArray:
        """Flags: ``decision_function(X) > threshold_``."""
        check_is_fitted(self)
        return np.asarray(self.decision_function(X) > self.threshold_, dtype=np.bool_)

    def get_params(self) -> dict[str, Any]:
        """Hyper-parameters as given to ``__init__`` (attributes not ending in ``_``)."""
        return {k: v for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_")}


class StreamingDetector(BaseDetector):
    """A detector that scores a stream chunk by chunk with explicit state."""

    def init_state(self) -> State:  # pragma: no cover - interface
        """State before the first sample of a stream (JSON-serialisable)."""
        raise NotImplementedError

    def score_stream(self, X: ArrayLike, state: State) -> tuple[FloatArray, State]:  # pragma: no cover
        """Scores of ``X`` continuing from ``state``, and the state after its last sample."""
        raise NotImplementedError

    def decision_function(self, X: ArrayLike) -> FloatArray:
        """Scores of ``X`` as one whole stream starting from ``init_state()``."""
        scores, _ = self.score_stream(X, self.init_state())
        return scores
