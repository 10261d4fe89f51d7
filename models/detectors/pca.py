"""PCA monitoring: Hotelling T² and SPE (Q) with their control limits and per-variable contributions.

These charts compare every new row with the training mean and covariance for ever: they assume the training
window stays representative. A process that drifts slowly, settles at a new set point or changes season
turns into a run of alarms on them. For monitoring over longer periods use
:class:`~models.detectors.process_monitor.ProcessMonitor` (registry name ``process_monitor``), which follows
slow normal change with an alarm-gated moving mean.
"""

from __future__ import annotations

import warnings
from typing import Self

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from models.detectors.base import BaseDetector, FloatArray, as_2d, check_is_fitted, location_scale

STATISTICS = ("combined", "t2", "spe")


class ComponentsCappedWarning(UserWarning):
    """More principal components were asked for than the data can give with a residual space left."""


def choose_components(requested: int | float, eig: FloatArray, n: int, d: int) -> int:
    """Number of components: ``requested`` itself, or the fewest reaching a variance fraction (float in (0, 1)).

    At most ``d - 1`` (so SPE keeps at least one residual dimension) and ``n - 2`` (so the T² limit exists).
    A fraction is satisfied within that cap; an explicit count above it is capped with a
    :class:`ComponentsCappedWarning` naming both numbers, because the model is then not the one asked for
    (and SPE is left with few residual dimensions).
    """
    cap = max(1, min(d - 1 if d > 1 else 1, n - 2))
    if isinstance(requested, float) and 0.0 < requested < 1.0:
        ratio = np.cumsum(eig) / eig.sum()
        return max(1, min(int(np.searchsorted(ratio, requested) + 1), cap))
    a = int(requested)
    if a < 1:
        raise ValueError(f"n_components must be a count >= 1 or a fraction in (0, 1), got {requested!r}")
    if a > cap:
        warnings.warn(
            f"n_components={a} capped to {cap}: the data have {d} columns and {n} rows, and PCA monitoring keeps "
            f"at most min(columns - 1, rows - 2) components; ask for at most {cap} or a variance fraction",
            ComponentsCappedWarning,
            stacklevel=4,
        )
    return min(a, cap)


#: Rows per vectorised block when scoring.
_BLOCK = 4096


def t2_limit(n_components: int, n_samples: int, alpha: float) -> float:
    """Hotelling T² upper control limit for new observations (F distribution).

    ``a (n-1)(n+1) / (n (n-a)) * F_{1-alpha}(a, n-a)``.
    """
    a, n = n_components, n_samples
    if n - a < 1:
        raise ValueError(f"need more training samples ({n}) than components ({a})")
    return float(a * (n - 1) * (n + 1) / (n * (n - a)) * stats.f.ppf(1.0 - alpha, a, n - a))


def spe_limit(residual_eigenvalues: FloatArray, alpha: float) -> float:
    """SPE/Q upper control limit (Jackson-Mudholkar), from the eigenvalues left out of the model.

    Falls back to Box's scaled chi-square ``g * chi2_{1-alpha}(h)`` when the Jackson-Mudholkar exponent
    ``h0`` is not positive; returns a tiny positive limit when no residual variance is left.
    """
    lam = np.asarray(residual_eigenvalues, dtype=np.float64)
    theta1, theta2, theta3 = (float(np.sum(lam**i)) for i in (1, 2, 3))
    if theta1 <= 1e-12:
        return 1e-12
    h0 = 1.0 - 2.0 * theta1 * theta3 / (3.0 * theta2**2)
    if h0 > 1e-6:
        c = float(stats.norm.ppf(1.0 - alpha))
        inner = c * np.sqrt(2.0 * theta2 * h0**2) / theta1 + 1.0 + theta2 * h0 * (h0 - 1.0) / theta1**2
        if inner > 0:
            return float(theta1 * inner ** (1.0 / h0))
    g, h = theta2 / theta1, theta1**2 / theta2
    return float(g * stats.chi2.ppf(1.0 - alpha, h))


class PCADetector(BaseDetector):
    """Principal component monitoring with Hotelling T² and SPE (Q) statistics.

    Columns are standardised with the training mean and standard deviation; the model keeps the leading
    ``n_components`` principal directions. ``T²`` measures distance inside the model plane (limit from the
    F distribution), ``SPE`` the squared distance off it (Jackson-Mudholkar limit). The score is the
    statistic divided by its ``1 - alpha`` limit (``"combined"``: the larger of both ratios), so the
    detector signals above 1. :meth:`contributions` splits both statistics over the variables for
    diagnosis.

    Parameters
    ----------
    n_components : int or float
        Number of components, or the fraction of variance to keep when a float in (0, 1).
    alpha : float
        False-alarm probability of each limit.
    statistic : {"combined", "t2", "spe"}
        Which statistic the score uses.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> latent = rng.normal(size=(500, 2))
    >>> X = latent @ rng.normal(size=(2, 6)) + 0.1 * rng.normal(size=(500, 6))
    >>> det = PCADetector(n_components=2).fit(X)
    >>> bad = X[:3].copy(); bad[:, 0] += 3.0  # breaks the correlation structure
    >>> det.predict(bad).tolist()
    [True, True, True]
    """

    name = "pca"

    def __init__(self, n_components: int | float = 0.9, alpha: float = 0.01, statistic: str = "combined") -> None:
        self.n_components = n_components
        self.alpha = alpha
        self.statistic = statistic

    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> Self:
        """Fit the principal directions, eigenvalues and both control limits."""
        self._fit_matrix(as_2d(X))
        return self

    def _fit_matrix(self, A: FloatArray) -> None:
        if self.statistic not in STATISTICS:
            raise ValueError(f"statistic must be one of {STATISTICS}, got {self.statistic!r}")
        n, d = A.shape
        if n < 3:
            raise ValueError(f"need at least 3 training samples, got {n}")
        mean, scale = location_scale(A)
        Xs = (A - mean) / scale
        _, s, vt = np.linalg.svd(Xs, full_matrices=False)
        eig = s**2 / (n - 1)
        if eig.sum() <= 1e-12:
            raise ValueError("training data has no variance; PCA cannot model it")
        a = choose_components(self.n_components, eig, n, d)
        # fix the sign of each direction (largest loading positive) so refits give identical models
        signs = np.sign(vt[:a][np.arange(a), np.argmax(np.abs(vt[:a]), axis=1)])
        self.mean_ = mean
        self.scale_ = scale
        self.components_ = np.ascontiguousarray((vt[:a] * signs[:, None]).T)
        self.eigenvalues_ = eig[:a]
        residual = np.concatenate([eig[a:], np.zeros(max(d - eig.size, 0))])
        self.t2_limit_ = t2_limit(a, n, self.alpha)
        self.spe_limit_ = spe_limit(residual, self.alpha)
        self.threshold_ = 1.0

    def _validated(self, X: ArrayLike) -> FloatArray:
        check_is_fitted(self)
        A = as_2d(X)
        if A.shape[1] != self.mean_.size:
            raise ValueError(f"expected {self.mean_.size} features, got {A.shape[1]}")
        return A

    def _standardise(self, X: ArrayLike) -> FloatArray:
        return (self._validated(X) - self.mean_) / self.scale_

    def statistics(self, X: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Hotelling ``T²`` and ``SPE`` of every row (compare with ``t2_limit_`` and ``spe_limit_``)."""
        A = self._validated(X)
        t2, spe = np.empty(A.shape[0]), np.empty(A.shape[0])
        inv_eig = 1.0 / self.eigenvalues_
        # row blocks keep the (block, d) temporaries in cache; each row is computed the same way regardless
        for lo in range(0, A.shape[0], _BLOCK):
            Xs = A[lo : lo + _BLOCK] - self.mean_
            Xs /= self.scale_
            T = Xs @ self.components_
            Xs -= T @ self.components_.T
            t2[lo : lo + _BLOCK] = (T * T) @ inv_eig
            spe[lo : lo + _BLOCK] = np.einsum("ij,ij->i", Xs, Xs)
        return t2, spe

    def decision_function(self, X: ArrayLike) -> FloatArray:
        """Statistic over its limit for every row (above 1 = out of control)."""
        t2, spe = self.statistics(X)
        if self.statistic == "t2":
            return t2 / self.t2_limit_
        if self.statistic == "spe":
            return spe / self.spe_limit_
        return np.maximum(t2 / self.t2_limit_, spe / self.spe_limit_)

    def contributions(self, X: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Per-variable contributions ``(n, d)`` to ``T²`` and to ``SPE``; each sums over variables to its statistic.

        ``T²`` contribution of variable ``j``: ``x_j * (P Λ⁻¹ Pᵀ x)_j`` (may be negative);
        ``SPE`` contribution: the squared residual ``e_j²``. Large values point at the variables to inspect.
        """
        Xs = self._standardise(X)
        T = Xs @ self.components_
        t2c = Xs * ((T / self.eigenvalues_) @ self.components_.T)
        E = Xs - T @ self.components_.T
        return t2c, E * E
