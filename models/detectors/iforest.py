"""Isolation forest (scikit-learn) behind the detector protocol, saved as a skops blob."""

from __future__ import annotations

import base64
from typing import Any, Self

import numpy as np
import skops.io as sio  # type: ignore[import-untyped]
from numpy.typing import ArrayLike
from sklearn.ensemble import IsolationForest

from models.detectors.base import BaseDetector, FloatArray, State, as_2d, check_is_fitted
from models.detectors.serialise import decode, encode

#: Types a saved forest may contain beyond skops' defaults; anything else is refused on load.
TRUSTED_TYPES = ("sklearn.tree._tree.Tree",)


class IsolationForestDetector(BaseDetector):
    """Isolation forest scores (``-score_samples``, higher = more anomalous) with a training-quantile threshold.

    Parameters
    ----------
    n_estimators : int
        Number of trees.
    max_samples : int or "auto"
        Samples drawn to grow each tree.
    contamination : float
        Fraction of training rows above ``threshold_`` (the threshold is that quantile of the training
        scores).
    random_state : int
        Seed; the same seed and data give the same forest.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(500, 3))
    >>> det = IsolationForestDetector(n_estimators=50).fit(X)
    >>> bool(det.predict(np.array([[8.0, 8.0, 8.0]]))[0])
    True
    """

    name = "iforest"

    def __init__(
        self,
        n_estimators: int = 100,
        max_samples: int | str = "auto",
        contamination: float = 0.01,
        random_state: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.contamination = contamination
        self.random_state = random_state

    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> Self:
        """Grow the forest and set the threshold at the ``1 - contamination`` training quantile."""
        A = as_2d(X)
        if not 0.0 <= self.contamination < 0.5:
            raise ValueError(f"contamination must be in [0, 0.5), got {self.contamination}")
        self.forest_ = IsolationForest(
            n_estimators=self.n_estimators, max_samples=self.max_samples, random_state=self.random_state
        ).fit(A)
        train_scores = -np.asarray(self.forest_.score_samples(A), dtype=np.float64)
        self.threshold_ = float(np.quantile(train_scores, 1.0 - self.contamination))
        return self

    def decision_function(self, X: ArrayLike) -> FloatArray:
        """Anomaly score of every row (about 0.5 is typical, near 1 isolated quickly)."""
        check_is_fitted(self, "forest_")
        return -np.asarray(self.forest_.score_samples(as_2d(X)), dtype=np.float64)

    def to_state(self) -> State:
        """Parameters, threshold and the forest as a base64 skops blob."""
        check_is_fitted(self, "forest_")
        blob = base64.b64encode(sio.dumps(self.forest_)).decode("ascii")
        fitted: dict[str, Any] = {"threshold_": encode(self.threshold_), "forest_": {"skops": blob}}
        return {"detector": self.name, "params": encode(self.get_params()), "fitted": fitted}

    @classmethod
    def from_state(cls, state: State) -> Self:
        """Load a forest saved by :meth:`to_state`, trusting only skops defaults and ``TRUSTED_TYPES``."""
        if state.get("detector") != cls.name:
            raise ValueError(f"state is for detector {state.get('detector')!r}, not {cls.name!r}")
        detector = cls(**decode(state["params"]))
        data = base64.b64decode(state["fitted"]["forest_"]["skops"])
        untrusted = set(sio.get_untrusted_types(data=data)) - set(TRUSTED_TYPES)
        if untrusted:
            raise ValueError(f"saved forest contains untrusted types: {sorted(untrusted)}")
        forest = sio.loads(data, trusted=list(TRUSTED_TYPES))
        if not isinstance(forest, IsolationForest):
            raise ValueError("saved object is not an IsolationForest")
        detector.forest_ = forest
        detector.threshold_ = float(decode(state["fitted"]["threshold_"]))
        return detector
