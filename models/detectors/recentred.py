"""PCA charts whose in-control mean follows slow normal change but freezes while the chart is in alarm.

A plant monitored for longer than its normal training window moves: set points settle, catalysts age,
seasons change. A fixed-mean chart turns that slow movement into runs of false alarms; a chart that simply
tracks the mean also absorbs faults. The compromise of adaptive MSPC (Choi, Martin, Morris and Lee, 2006)
is to update the mean with a forgetting factor only from data the chart accepts as in control.

Here the recentring works in blocks: the rows of one block (``block`` samples) are scored against the
offset fixed at the block's start; when the block is complete, the offset moves towards the rows of the
block that were *not* flagged: ``offset += g * sum_ok(x - offset) / block`` with ``g = 1 - exp(-block /
memory)`` (an exponential memory of ``memory`` samples). Flagged rows teach nothing, so a fault, once
flagged, keeps being measured against the mean from before it, while the odd false alarm during slow normal
drift only slows the tracking down. Within a block everything is vectorised; the loop runs once per block.
"""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Self

import numpy as np
from numpy.typing import ArrayLike
from scipy.signal import lfilter

from models.detectors.base import FloatArray, State, StreamingDetector, as_2d, check_is_fitted
from models.detectors.calibration import fit_with_fold_limit
from models.detectors.dynamic_pca import lagged
from models.detectors.pca import PCADetector

STATISTICS = ("t2", "spe", "resid", "raw")
#: Rows per vectorised segment when the offset is fixed (``memory = 0``).
_SEGMENT = 8192


def _vector(values: object, size: int, name: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.shape != (size,):
        raise ValueError(f"state[{name!r}] has {arr.size} values, expected {size}")
    return arr


class RecentredPCAChart(StreamingDetector):
    """EWMA-smoothed PCA statistics on data recentred by an alarm-gated moving mean.

    The PCA model (static, or dynamic with ``lags`` past rows appended) is fitted on normal data as in
    :class:`~models.detectors.pca.PCADetector`. Each row is first shifted by the current offset (the
    recentring, see the module text), then scored with one of:

    - ``"t2"`` / ``"spe"``: Hotelling T² or SPE over its textbook ``alpha = 0.01`` limit, EWMA-smoothed with
      ``lam`` (started at the statistic's mean on the training data);
    - ``"resid"``: the largest ``|EWMA|`` of the standardised PCA residuals of the variables;
    - ``"raw"``: the largest ``|EWMA|`` of the standardised variables.

    ``threshold_`` is the ``quantile`` of out-of-fold scores on the training data (``folds`` contiguous
    folds, each streamed through a chart fitted on the others; those calibration charts recentre without
    the gate). The gate uses ``threshold_``: a row scoring above it does not move the offset. The
    first ``lags`` rows of a stream score 0 (no full lag window).

    Parameters
    ----------
    n_components : int or float
        Number of principal components, or the fraction of variance to keep when a float in (0, 1).
    statistic : {"t2", "spe", "resid", "raw"}
        What the score measures.
    lags : int
        Past rows appended to each row (0 = static PCA).
    lam : float
        EWMA weight in (0, 1]; 1 = no smoothing.
    memory : float
        Time constant of the recentring in samples; 0 keeps the training mean for ever.
    block : int
        Samples per recentring step.
    quantile : float
        Quantile of the out-of-fold training scores used as ``threshold_``.
    folds : int
        Contiguous folds for the out-of-fold scores.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> mixing = rng.normal(size=(4, 6))
    >>> X, Y = rng.normal(size=(600, 4)) @ mixing, rng.normal(size=(1200, 4)) @ mixing
    >>> fixed = RecentredPCAChart(n_components=4, statistic="raw", lam=0.1, memory=0).fit(X)
    >>> moving = RecentredPCAChart(n_components=4, statistic="raw", lam=0.1, memory=100).fit(X)
    >>> drift = Y + np.linspace(0.0, 2.0, 1200)[:, None] * X.std(axis=0)  # 2 sigma in 1200 samples
    >>> step = Y + np.where(np.arange(1200) >= 600, 2.0, 0.0)[:, None] * X.std(axis=0)  # 2 sigma at once
    >>> round(float(fixed.predict(drift).mean()), 2), round(float(moving.predict(drift).mean()), 2)
    (0.71, 0.08)
    >>> round(float(moving.predict(step)[600:].mean()), 2)
    1.0
    """

    name = "recentred_pca"

    def __init__(
        self,
        n_components: int | float = 0.9,
        statistic: str = "spe",
        lags: int = 0,
        lam: float = 1.0,
        memory: float = 500.0,
        block: int = 20,
        quantile: float = 0.99,
        folds: int = 5,
    ) -> None:
        self.n_components = n_components
        self.statistic = statistic
        self.lags = lags
        self.lam = lam
        self.memory = memory
        self.block = block
        self.quantile = quantile
        self.folds = folds

    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> Self:
        """Fit the PCA model on ``X`` and set ``threshold_`` from out-of-fold scores of ``X``."""
        return fit_with_fold_limit(self, X, RecentredPCAChart._fit_model)

    def _fit_model(self, A: FloatArray) -> None:
        if self.statistic not in STATISTICS:
            raise ValueError(f"statistic must be one of {STATISTICS}, got {self.statistic!r}")
        if not 0.0 < self.lam <= 1.0:
            raise ValueError(f"lam must be in (0, 1], got {self.lam}")
        if self.memory < 0 or int(self.block) < 1 or int(self.lags) < 0:
            raise ValueError("memory must be >= 0, block >= 1 and lags >= 0")
        pca = PCADetector(n_components=self.n_components)
        pca._fit_matrix(lagged(A, int(self.lags)))
        self.n_features_in_ = A.shape[1]
        self.mean_ = A.mean(axis=0)
        self.pca_mean_ = pca.mean_
        self.pca_scale_ = pca.scale_
        self.components_ = pca.components_
        self.eigenvalues_ = pca.eigenvalues_
        self.t2_limit_ = pca.t2_limit_
        self.spe_limit_ = pca.spe_limit_
        Zs, E = self._parts(lagged(A, int(self.lags)))
        resid_sd = E.std(axis=0, ddof=1)
        self.resid_scale_ = np.where(resid_sd > 1e-12, resid_sd, 1.0)
        t2, spe = self._ratios(Zs, E)
        self.stat_mean_ = float((t2 if self.statistic == "t2" else spe).mean())

    def _parts(self, L: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Standardised lagged rows and their PCA residuals."""
        Zs = (L - self.pca_mean_) / self.pca_scale_
        return Zs, Zs - (Zs @ self.components_) @ self.components_.T

    def _ratios(self, Zs: FloatArray, E: FloatArray) -> tuple[FloatArray, FloatArray]:
        """T² and SPE over their limits."""
        T = Zs @ self.components_
        t2 = (T * T) @ (1.0 / self.eigenvalues_) / self.t2_limit_
        return t2, np.einsum("ij,ij->i", E, E) / self.spe_limit_

    def init_state(self) -> State:
        """Offset zero (the training mean), an empty block, no past rows, EWMA at its start."""
        check_is_fitted(self)
        d = self.n_features_in_
        width = 1 if self.statistic in ("t2", "spe") else self.components_.shape[0]
        start = self.stat_mean_ if self.statistic in ("t2", "spe") else 0.0
        return {
            "offset": [0.0] * d,
            "acc": [0.0] * d,
            "pos": 0,
            "kept": 0,
            "tail": [],
            "level": [start] * width,
        }

    def score_stream(self, X: ArrayLike, state: State) -> tuple[FloatArray, State]:
        """Scores of ``X`` continuing from ``state`` (recentring offset, partial block, lag rows, EWMA)."""
        check_is_fitted(self)
        A = as_2d(X)
        d, lags, block = self.n_features_in_, int(self.lags), int(self.block)
        if A.shape[1] != d:
            raise ValueError(f"expected {d} features, got {A.shape[1]}")
        offset = _vector(state["offset"], d, "offset")
        acc = _vector(state["acc"], d, "acc")
        pos, kept = int(state["pos"]), int(state["kept"])
        tail = np.asarray(state["tail"], dtype=np.float64).reshape(-1, d)
        level = np.asarray(state["level"], dtype=np.float64).reshape(-1)
        adaptive = self.memory > 0
        gain = -math.expm1(-block / self.memory) if adaptive else 0.0
        n = A.shape[0]
        if adaptive:  # cut at the block boundaries, counted from the start of the stream
            cuts = np.r_[0, np.arange(block - pos, n, block), n]
        else:
            cuts = np.r_[np.arange(0, n, _SEGMENT), n]
        scores = np.zeros(n)
        for lo, hi in pairwise(cuts.tolist()):
            if hi <= lo:
                continue
            W = np.concatenate([tail, A[lo:hi]])
            scores[lo:hi], level = self._score_rows(W - offset, hi - lo, level)
            tail = W[max(0, W.shape[0] - lags) :]
            if adaptive:
                ok = scores[lo:hi] <= self.threshold_
                acc += (A[lo:hi][ok] - self.mean_).sum(axis=0)
                kept += int(ok.sum())
                pos += int(hi - lo)
                if pos == block:
                    offset = offset + gain * (acc - kept * offset) / block
                    acc, pos, kept = np.zeros(d), 0, 0
        new_state: State = {
            "offset": offset.tolist(),
            "acc": acc.tolist(),
            "pos": pos,
            "kept": kept,
            "tail": tail.tolist(),
            "level": level.tolist(),
        }
        return scores, new_state

    def _score_rows(self, W: FloatArray, k: int, level: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Scores of the last ``k`` rows of ``W`` (recentred; earlier rows are lag history) and the EWMA level."""
        scores = np.zeros(k)
        L = lagged(W, int(self.lags))
        if L.shape[0] == 0:
            return scores, level
        Zs, E = self._parts(L)
        if self.statistic in ("t2", "spe"):
            t2, spe = self._ratios(Zs, E)
            values = (t2 if self.statistic == "t2" else spe)[:, None]
        else:
            values = E / self.resid_scale_ if self.statistic == "resid" else Zs
        lam = float(self.lam)
        if lam < 1.0:
            values, _ = lfilter([lam], [1.0, lam - 1.0], values, axis=0, zi=((1.0 - lam) * level)[None, :])
        level = values[-1].copy()
        scores[k - L.shape[0] :] = values[:, 0] if self.statistic in ("t2", "spe") else np.abs(values).max(axis=1)
        return scores, level
