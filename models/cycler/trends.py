"""Ageing trends over per-cycle series: capacity fade rate, knee onset, coulombic efficiency, resistance growth.

Each detector takes one value per cycle (``X`` 1-d, cycles in order, NaN = cycle without a value) and
streams with explicit state: the first values of the cell (its own reference) and the tail of the
trailing window. Being per cell, the reference is learned from the stream, not from ``fit``: ``fit``
validates parameters and sets ``threshold_``.
"""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np
from numpy.typing import ArrayLike

from models.cycler.rolling import from_json_list, row_mean, row_nanmedian, row_slope, to_json_list, windows_ending_at
from models.detectors.base import FloatArray, State, StreamingDetector, as_1d, check_is_fitted


class _CycleTrend(StreamingDetector):
    """Streams a per-cycle series: trailing windows ending at each cycle plus the cell's first values."""

    window: int
    min_periods: int

    def _reference_size(self) -> int:
        return 0

    def _score(self, rows: FloatArray, first: FloatArray) -> FloatArray:  # pragma: no cover - interface
        raise NotImplementedError

    def _validate(self) -> None:
        if self.window < 2 or not 1 <= self.min_periods <= self.window:
            raise ValueError("need window >= 2 and 1 <= min_periods <= window")

    def init_state(self) -> State:
        return {"first": [], "hist": []}

    def score_stream(self, X: ArrayLike, state: State) -> tuple[FloatArray, State]:
        check_is_fitted(self)
        x = as_1d(X, allow_nan=True)
        if np.isinf(x).any():
            raise ValueError("input contains infinite values")
        rows, hist = windows_ending_at(from_json_list(state["hist"]), x, self.window)
        size = self._reference_size()
        finite = np.isfinite(x)
        first = np.concatenate([np.asarray(state["first"], dtype=np.float64), x[finite]])[:size]
        seen = len(state["first"]) + np.cumsum(finite)
        ready = (seen >= size) & (np.isfinite(rows).sum(axis=1) >= self.min_periods)
        scores = self._score(rows, first) if first.size == size else np.full(x.size, np.nan)
        return np.where(ready, scores, np.nan), {"first": first.tolist(), "hist": to_json_list(hist)}


class CapacityFade(_CycleTrend):
    """Score = capacity fade rate over the last ``window`` cycles, as a fraction of the cell's initial capacity.

    Parameters
    ----------
    window : int
        Cycles in the trailing least-squares slope.
    reference_cycles : int
        First valid cycles whose median is the cell's initial capacity; no score before them.
    max_fade : float
        Fade per cycle (fraction of the initial capacity) that is alarming; becomes ``threshold_``.
    min_periods : int
        Valid cycles needed in the window.

    ``X``: discharge capacity per cycle (Ah).

    Examples
    --------
    >>> import numpy as np
    >>> q = np.r_[np.linspace(2.0, 1.98, 100), np.linspace(1.98, 1.5, 50)]
    >>> det = CapacityFade(window=10, max_fade=0.002).fit()
    >>> bool(det.predict(q)[90]), bool(det.predict(q)[-1])
    (False, True)
    """

    name: ClassVar[str] = "cycler_capacity_fade"

    def __init__(self, window: int = 20, reference_cycles: int = 5, max_fade: float = 0.002, min_periods: int = 5):
        self.window = window
        self.reference_cycles = reference_cycles
        self.max_fade = max_fade
        self.min_periods = min_periods

    def fit(self, X: ArrayLike | None = None, y: ArrayLike | None = None) -> Self:
        """Validates parameters and sets ``threshold_ = max_fade`` (``X`` is ignored)."""
        self._validate()
        if self.reference_cycles < 1 or self.max_fade <= 0:
            raise ValueError("need reference_cycles >= 1 and max_fade > 0")
        self.threshold_ = float(self.max_fade)
        return self

    def _reference_size(self) -> int:
        return self.reference_cycles

    def _score(self, rows: FloatArray, first: FloatArray) -> FloatArray:
        return -row_slope(rows) / float(np.median(first))


class KneeOnset(_CycleTrend):
    """Score = recent fade rate / the cell's early fade rate; a knee is fade accelerating ``factor``-fold.

    The early rate is the slope over the first ``reference_cycles`` valid cycles (floored at ``min_rate``,
    since early capacity can be flat or even rise); the recent rate the slope over the last ``window``.
    Use :func:`models.cycler.knee.find_knee` to place the knee on a finished curve.

    Parameters
    ----------
    window : int
        Cycles in the recent slope.
    reference_cycles : int
        First valid cycles defining the early fade rate; no score before them.
    factor : float
        Acceleration flagged as a knee; becomes ``threshold_``.
    min_rate : float
        Floor of the early fade rate, as a fraction of the initial capacity per cycle.
    min_periods : int
        Valid cycles needed in the window.

    ``X``: discharge capacity per cycle (Ah).

    Examples
    --------
    >>> import numpy as np
    >>> n = np.arange(400.0)
    >>> q = 2.0 - 2e-4 * n - 4e-3 * np.maximum(n - 300, 0)
    >>> flags = KneeOnset(window=10, reference_cycles=100).fit().predict(q)
    >>> int(np.argmax(flags))
    302
    """

    name: ClassVar[str] = "cycler_knee_onset"

    def __init__(
        self,
        window: int = 20,
        reference_cycles: int = 100,
        factor: float = 3.0,
        min_rate: float = 1e-4,
        min_periods: int = 5,
    ):
        self.window = window
        self.reference_cycles = reference_cycles
        self.factor = factor
        self.min_rate = min_rate
        self.min_periods = min_periods

    def fit(self, X: ArrayLike | None = None, y: ArrayLike | None = None) -> Self:
        """Validates parameters and sets ``threshold_ = factor`` (``X`` is ignored)."""
        self._validate()
        if self.reference_cycles < 2 or self.factor <= 1 or self.min_rate <= 0:
            raise ValueError("need reference_cycles >= 2, factor > 1 and min_rate > 0")
        self.threshold_ = float(self.factor)
        return self

    def _reference_size(self) -> int:
        return self.reference_cycles

    def _score(self, rows: FloatArray, first: FloatArray) -> FloatArray:
        q0 = float(np.median(first))
        early = max(-float(row_slope(first[None, :])[0]) / q0, self.min_rate)
        return np.asarray(-row_slope(rows) / q0 / early, dtype=np.float64)


class CoulombicEfficiencyDrop(_CycleTrend):
    """Score = 1 - mean coulombic efficiency of the last ``window`` cycles (charge not given back).

    A healthy cell returns all but a few parts per thousand of its charge; a leaking cell (soft internal
    short, lithium plating) loses percents.

    Parameters
    ----------
    window : int
        Cycles averaged.
    max_loss : float
        Lost fraction flagged (0.01: CE below 0.99); becomes ``threshold_``.
    min_periods : int
        Valid cycles needed in the window.

    ``X``: coulombic efficiency per cycle (discharge / charge capacity).

    Examples
    --------
    >>> import numpy as np
    >>> det = CoulombicEfficiencyDrop(window=3, min_periods=1).fit()
    >>> det.predict(np.array([0.999, 0.998, 0.97, 0.97, 0.97])).tolist()
    [False, False, True, True, True]
    """

    name: ClassVar[str] = "cycler_ce_drop"

    def __init__(self, window: int = 5, max_loss: float = 0.01, min_periods: int = 3):
        self.window = window
        self.max_loss = max_loss
        self.min_periods = min_periods

    def fit(self, X: ArrayLike | None = None, y: ArrayLike | None = None) -> Self:
        """Validates parameters and sets ``threshold_ = max_loss`` (``X`` is ignored)."""
        self._validate()
        if not 0 < self.max_loss < 1:
            raise ValueError("max_loss must be within (0, 1)")
        self.threshold_ = float(self.max_loss)
        return self

    def _score(self, rows: FloatArray, first: FloatArray) -> FloatArray:
        return 1.0 - row_mean(rows)


class ResistanceGrowth(_CycleTrend):
    """Score = median resistance of the last ``window`` cycles relative to the cell's initial one, minus 1.

    Parameters
    ----------
    window : int
        Cycles in the trailing median (robust to a bad pulse).
    reference_cycles : int
        First valid cycles whose median is the initial resistance; no score before them.
    max_growth : float
        Relative growth flagged (0.3 = +30 %); becomes ``threshold_``.
    min_periods : int
        Valid cycles needed in the window.

    ``X``: internal or pulse resistance per cycle (ohm).

    Examples
    --------
    >>> import numpy as np
    >>> r = np.r_[np.full(20, 0.020), np.full(10, 0.030)]
    >>> det = ResistanceGrowth(window=5, reference_cycles=5).fit()
    >>> int(np.argmax(det.predict(r)))
    22
    """

    name: ClassVar[str] = "cycler_ir_growth"

    def __init__(self, window: int = 5, reference_cycles: int = 10, max_growth: float = 0.3, min_periods: int = 3):
        self.window = window
        self.reference_cycles = reference_cycles
        self.max_growth = max_growth
        self.min_periods = min_periods

    def fit(self, X: ArrayLike | None = None, y: ArrayLike | None = None) -> Self:
        """Validates parameters and sets ``threshold_ = max_growth`` (``X`` is ignored)."""
        self._validate()
        if self.reference_cycles < 1 or self.max_growth <= 0:
            raise ValueError("need reference_cycles >= 1 and max_growth > 0")
        self.threshold_ = float(self.max_growth)
        return self

    def _reference_size(self) -> int:
        return self.reference_cycles

    def _score(self, rows: FloatArray, first: FloatArray) -> FloatArray:
        ref = float(np.median(first))
        if ref <= 0:
            raise ValueError("the initial resistance must be positive")
        return row_nanmedian(rows) / ref - 1.0
