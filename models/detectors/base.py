"""The detector protocol every detector follows, like scikit-learn estimators and pyod detectors.

- hyper-parameters are set in ``__init__`` and nothing else happens there;
- ``fit(X)`` learns from normal data and returns ``self``; fitted attributes end in ``_``;
- ``decision_function(X)`` returns one score per row, **higher = more anomalous**;
- ``threshold_`` turns scores into flags (``predict``); deciding is separate from scoring;
- streaming detectors keep explicit, JSON-serialisable state so that scoring a stream in chunks gives the
  same scores as scoring it whole: ``scores, state = det.score_stream(X_chunk, state)``;
- new data continues the training stream: ``fit(train)`` keeps the stream state after the training rows
  (``stream_state_``) and ``decision_function``/``predict`` start from it (``start_state()``), so
  ``fit(train).predict(test)`` scores ``test`` as the rows that follow ``train`` — windows are full and
  charts sit where training left them. ``init_state()`` is the state before any sample at all.

Serialisation: every fitted detector round-trips through ``to_state() -> dict`` and the classmethod
``from_state(d)``. The dict holds only strict-JSON content (numpy arrays are tagged lists, see
:mod:`models.detectors.serialise`), so it can be stored in the model registry and loaded without pickle.
Detectors that wrap a scikit-learn model (the isolation forest) embed it as a skops blob inside the dict,
loaded with an explicit list of trusted types. ``models.detectors.registry.load_detector(d)`` rebuilds any
registered detector from such a dict.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, ClassVar, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray

from models.detectors.serialise import decode, encode

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]
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


def location_scale(X: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Column means and standard deviations (ddof=1 when possible); a constant column gets scale 1.

    Unit scale keeps a constant training column usable: any later change of it scores as a change in its
    own units instead of dividing by zero.
    """
    if X.shape[0] == 0:
        raise ValueError("cannot fit on an empty array")
    mean = X.mean(axis=0)
    std = X.std(axis=0, ddof=1) if X.shape[0] > 1 else np.zeros(X.shape[1])
    tiny = 1e-12 * np.maximum(1.0, np.abs(mean))
    return mean, np.where(std > tiny, std, 1.0)


class BaseDetector:
    """Common behaviour: ``predict`` from ``decision_function`` and ``threshold_``; parameters for registry."""

    #: Stable registry name ("ewma", "pca", ...); the class name is used when empty.
    name: ClassVar[str] = ""
    #: The change the detector is built to see: ``"level"`` (a shifted mean) or ``"variability"`` (a changed
    #: spread, which a level shift shows only as one large step).
    change_kind: ClassVar[str] = "level"

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

    def fitted_attributes(self) -> dict[str, Any]:
        """Attributes learned by ``fit`` (names ending in ``_``)."""
        return {k: v for k, v in vars(self).items() if k.endswith("_") and not k.startswith("_")}

    def to_state(self) -> State:
        """Strict-JSON dict with the registry name, the parameters and the fitted attributes."""
        return {
            "detector": self.name or type(self).__name__,
            "params": encode(self.get_params()),
            "fitted": {k: encode(v) for k, v in self.fitted_attributes().items()},
        }

    @classmethod
    def from_state(cls, state: State) -> Self:
        """Rebuild a detector saved with :meth:`to_state` (parameters, then fitted attributes)."""
        expected = cls.name or cls.__name__
        if state.get("detector") != expected:
            raise ValueError(f"state is for detector {state.get('detector')!r}, not {expected!r}")
        detector = cls(**decode(state["params"]))
        for key, value in state["fitted"].items():
            if not key.endswith("_") or key.startswith("_"):
                raise ValueError(f"fitted attribute names end in '_': {key!r}")
            setattr(detector, key, decode(value))
        return detector


FitMethod = Callable[..., Any]


def _keeping_stream_state(fit: FitMethod) -> FitMethod:
    """``fit`` followed by keeping the stream state after the training rows (``stream_state_``).

    Only the outermost ``fit`` of a class hierarchy does it (a subclass may finish fitting after calling
    ``super().fit``). Rules fitted without data (``fit()``) keep nothing and start from ``init_state()``.
    """

    @functools.wraps(fit)
    def wrapper(self: StreamingDetector, X: ArrayLike | None = None, *args: Any, **kwargs: Any) -> Any:
        fitted = fit(self, X, *args, **kwargs)
        if X is not None and getattr(type(self), "fit", None) is wrapper and hasattr(self, "threshold_"):
            self.stream_state_ = self.score_stream(X, self.init_state())[1]
        return fitted

    wrapper.keeps_stream_state = True  # type: ignore[attr-defined]
    return wrapper


class StreamingDetector(BaseDetector):
    """A detector that scores a stream chunk by chunk with explicit state.

    Every subclass's ``fit`` is wrapped so that, after fitting on ``X``, the state after scoring ``X`` as a
    stream is kept as ``stream_state_`` (strict JSON, saved with the detector); scoring then continues from
    it. Scoring the training rows once more is the price, paid once per fit.
    """

    #: The stream state after the training rows, kept by ``fit`` (absent for rules fitted without data).
    stream_state_: State

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fit = cls.__dict__.get("fit")
        if fit is not None and not getattr(fit, "keeps_stream_state", False):
            cls.fit = _keeping_stream_state(fit)  # type: ignore[method-assign]

    def init_state(self) -> State:  # pragma: no cover - interface
        """State before the first sample of a stream (JSON-serialisable)."""
        raise NotImplementedError

    def start_state(self) -> State:
        """State new data starts from: where the training rows left off, else ``init_state()``.

        A fresh copy each time, so scoring never changes the fitted detector.
        """
        check_is_fitted(self)
        kept = getattr(self, "stream_state_", None)
        if kept is None:
            return self.init_state()
        copied: State = json.loads(json.dumps(kept))
        return copied

    def score_stream(self, X: ArrayLike, state: State) -> tuple[FloatArray, State]:  # pragma: no cover
        """Scores of ``X`` continuing from ``state``, and the state after its last sample."""
        raise NotImplementedError

    def decision_function(self, X: ArrayLike) -> FloatArray:
        """Scores of ``X`` as the rows that follow the training data (from ``start_state()``)."""
        scores, _ = self.score_stream(X, self.start_state())
        return scores


class TimedStreamingDetector(BaseDetector):
    """A streaming detector whose windows are defined in time, not samples (irregular sampling, gaps).

    ``times`` are epoch seconds, non-decreasing within and across chunks. ``fit`` sees no times, so these
    detectors (rules defined by their parameters) start every stream from ``init_state()``.
    """

    def init_state(self) -> State:  # pragma: no cover - interface
        raise NotImplementedError

    def start_state(self) -> State:
        """State new data starts from: ``init_state()`` (see the class docstring)."""
        return self.init_state()

    def score_stream(self, X: ArrayLike, state: State, *, times: ArrayLike) -> tuple[FloatArray, State]:
        raise NotImplementedError  # pragma: no cover - interface

    def decision_function(self, X: ArrayLike, *, times: ArrayLike | None = None) -> FloatArray:
        """Scores of ``X`` as one whole stream; ``times`` is required."""
        if times is None:
            raise ValueError(f"{type(self).__name__} needs times= (epoch seconds) to score")
        scores, _ = self.score_stream(X, self.init_state(), times=times)
        return scores

    def predict(self, X: ArrayLike, *, times: ArrayLike | None = None) -> BoolArray:
        check_is_fitted(self)
        scores = self.decision_function(X, times=times)
        return np.asarray(np.nan_to_num(scores, nan=-np.inf) > self.threshold_, dtype=np.bool_)
