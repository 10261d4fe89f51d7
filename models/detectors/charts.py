"""Recursive control charts: EWMA (``scipy.signal.lfilter``) and two-sided tabular CUSUM (cumsum identity).

Both standardise every column with the mean and standard deviation of the training data and score a row
with the largest chart statistic over its columns, in units of the chart's decision limit.

They are textbook Phase II charts: the in-control mean is fixed at training. A series that drifts, has
seasons or settles at a new level after a change keeps them signalling; for such data use
``stream_monitor`` (:mod:`models.detectors.stream_monitor`), whose baseline forgets and which raises one
alarm per change.
"""

from __future__ import annotations

from typing import Self

import numpy as np
from numpy.typing import ArrayLike
from scipy.signal import lfilter

from models.detectors.base import (
    FloatArray,
    State,
    StreamingDetector,
    as_2d,
    check_is_fitted,
    location_scale,
)

#: Rows per block of the vectorised CUSUM identity.
_BLOCK = 1 << 14
#: Rows scored first after a CUSUM signal (the stretch doubles up to ``_BLOCK`` while no signal comes).
_FIRST_STEP = 16


def _row_vector(values: object, n_features: int, name: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.shape != (n_features,):
        raise ValueError(f"state[{name!r}] has {arr.size} values, expected {n_features}")
    return arr


class EWMAChart(StreamingDetector):
    """Exponentially weighted moving average chart with exact (time-varying) control limits.

    ``z_t = lam * x_t + (1 - lam) * z_{t-1}`` on standardised data, started at the training mean; the
    score is ``max_j |z_tj| / sigma_t`` with ``sigma_t² = lam / (2 - lam) * (1 - (1 - lam)^(2t))``, so the
    chart signals when the score exceeds ``L``.

    Parameters
    ----------
    lam : float
        Smoothing weight in (0, 1]; small values catch small persistent shifts.
    L : float
        Control-limit width in standard deviations of the EWMA statistic (``threshold_ = L``).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> det = EWMAChart(lam=0.2, L=3.0).fit(rng.normal(size=500))
    >>> bool(det.predict(rng.normal(size=200) + 2.0).any())
    True
    """

    name = "ewma"

    def __init__(self, lam: float = 0.2, L: float = 3.0) -> None:
        self.lam = lam
        self.L = L

    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> Self:
        """Learn the in-control mean and standard deviation of each column."""
        if not 0.0 < self.lam <= 1.0:
            raise ValueError(f"lam must be in (0, 1], got {self.lam}")
        self.mean_, self.scale_ = location_scale(as_2d(X))
        self.threshold_ = float(self.L)
        return self

    def init_state(self) -> State:
        """Chart at the in-control mean, no samples seen."""
        check_is_fitted(self)
        return {"z": [0.0] * self.mean_.size, "t": 0}

    def score_stream(self, X: ArrayLike, state: State) -> tuple[FloatArray, State]:
        """EWMA scores of ``X`` continuing from ``state``."""
        check_is_fitted(self)
        Z = self._standardise(X)
        z_prev = _row_vector(state["z"], Z.shape[1], "z")
        t0 = int(state["t"])
        if Z.shape[0] == 0:
            return np.empty(0), {"z": z_prev.tolist(), "t": t0}
        lam = float(self.lam)
        zi = ((1.0 - lam) * z_prev)[None, :]
        ewma, _ = lfilter([lam], [1.0, lam - 1.0], Z, axis=0, zi=zi)
        scores = np.abs(ewma[:, 0]) if ewma.shape[1] == 1 else np.abs(ewma).max(axis=1)
        scores /= np.sqrt(lam / (2.0 - lam))
        if lam < 1.0:
            # exact limits widen from sqrt(lam) to the asymptote; past `warm` rows the factor is 1 in float64
            warm = int(np.ceil(-40.0 / np.log1p(-lam)))
            m = max(0, min(Z.shape[0], warm - t0))
            t = np.arange(t0 + 1, t0 + m + 1, dtype=np.float64)
            scores[:m] /= np.sqrt(-np.expm1(2.0 * t * np.log1p(-lam)))
        return scores, {"z": ewma[-1].tolist(), "t": t0 + Z.shape[0]}

    def _standardise(self, X: ArrayLike) -> FloatArray:
        Z = as_2d(X)
        if Z.shape[1] != self.mean_.size:
            raise ValueError(f"expected {self.mean_.size} features, got {Z.shape[1]}")
        return (Z - self.mean_) / self.scale_


class CUSUMChart(StreamingDetector):
    """Two-sided tabular CUSUM on standardised data, vectorised without a per-sample loop.

    ``S+_t = max(0, S+_{t-1} + z_t - k)`` and ``S-_t = max(0, S-_{t-1} - z_t - k)``. With
    ``C_t = S_0 + sum_{s<=t}(z_s - k)`` the reset-at-zero recursion equals
    ``S_t = C_t - min(0, min_{s<=t} C_s)``, computed with ``cumsum`` and ``minimum.accumulate``.
    The score is the larger of both sides over all columns; it signals above ``h``. With ``reset`` (the
    default) every sum restarts at zero after a signalling row, as a chart is restarted once its signal is
    handled: a lasting shift signals again every few rows (its run length), not on every row.

    Parameters
    ----------
    k : float
        Allowance (reference value) in standard deviations, usually half the shift to detect.
    h : float
        Decision interval in standard deviations (``threshold_ = h``).
    reset : bool
        Restart both sums at zero after each signal (``False``: the sums keep growing through a shift).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> det = CUSUMChart(k=0.5, h=5.0).fit(rng.normal(size=500))
    >>> int(np.argmax(det.predict(np.r_[rng.normal(size=100), rng.normal(size=100) + 1.0]))) > 100
    True
    """

    name = "cusum"

    def __init__(self, k: float = 0.5, h: float = 5.0, reset: bool = True) -> None:
        self.k = k
        self.h = h
        self.reset = reset

    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> Self:
        """Learn the in-control mean and standard deviation of each column."""
        self.mean_, self.scale_ = location_scale(as_2d(X))
        self.threshold_ = float(self.h)
        return self

    def init_state(self) -> State:
        """Both sums at zero."""
        check_is_fitted(self)
        zeros = [0.0] * self.mean_.size
        return {"pos": zeros, "neg": list(zeros)}

    def score_stream(self, X: ArrayLike, state: State) -> tuple[FloatArray, State]:
        """CUSUM scores of ``X`` continuing from ``state``."""
        check_is_fitted(self)
        Z = as_2d(X)
        d = self.mean_.size
        if Z.shape[1] != d:
            raise ValueError(f"expected {d} features, got {Z.shape[1]}")
        pos0 = _row_vector(state["pos"], d, "pos")
        neg0 = _row_vector(state["neg"], d, "neg")
        if Z.shape[0] == 0:
            return np.empty(0), {"pos": pos0.tolist(), "neg": neg0.tolist()}
        Z = (Z - self.mean_) / self.scale_
        if not self.reset:
            pos = reset_cumsum(Z - self.k, pos0)
            neg = reset_cumsum(-Z - self.k, neg0)
            scores = np.maximum(pos, neg).max(axis=1)
            return scores, {"pos": pos[-1].tolist(), "neg": neg[-1].tolist()}
        scores = np.empty(Z.shape[0])
        lo, step = 0, _FIRST_STEP
        # Vectorised between signals: score a stretch; at its first signal keep the rows up to it, restart
        # the sums after it and go on. The stretch doubles while no signal comes (amortised linear time)
        # and starts small again after one, so a run of signals costs about its own length.
        while lo < Z.shape[0]:
            hi = min(Z.shape[0], lo + step)
            pos = reset_cumsum(Z[lo:hi] - self.k, pos0)
            neg = reset_cumsum(-Z[lo:hi] - self.k, neg0)
            block = np.maximum(pos, neg).max(axis=1)
            signals = np.flatnonzero(block > self.h)
            if signals.size == 0:
                scores[lo:hi] = block
                pos0, neg0 = pos[-1], neg[-1]
                lo, step = hi, min(2 * step, _BLOCK)
                continue
            j = int(signals[0])
            scores[lo : lo + j + 1] = block[: j + 1]
            pos0, neg0 = np.zeros_like(pos0), np.zeros_like(neg0)
            lo, step = lo + j + 1, _FIRST_STEP
        return scores, {"pos": pos0.tolist(), "neg": neg0.tolist()}


def reset_cumsum(increments: FloatArray, start: FloatArray) -> FloatArray:
    """``S_t = max(0, S_{t-1} + increments_t)`` from ``S_0 = start >= 0``, column-wise, without a loop.

    >>> reset_cumsum(np.array([[1.0], [-3.0], [2.0]]), np.zeros(1)).ravel().tolist()
    [1.0, 0.0, 2.0]
    """
    out = np.empty_like(increments)
    level = np.asarray(start, dtype=np.float64)
    # restart the identity every block: keeps |C| (and so the rounding error of C - min C) bounded on long
    # streams, and the block stays in cache
    for lo in range(0, increments.shape[0], _BLOCK):
        C = np.cumsum(increments[lo : lo + _BLOCK], axis=0)
        C += level
        running_min = np.minimum.accumulate(C, axis=0)
        np.minimum(running_min, 0.0, out=running_min)
        C -= running_min
        out[lo : lo + _BLOCK] = C
        level = C[-1]
    return out
