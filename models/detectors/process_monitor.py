"""The recommended multivariate process monitor: several statistics, one adaptive baseline, one limit.

Why a composition, and why these members
----------------------------------------
No single statistic sees every process fault. On the Tennessee Eastman training fault runs the statistics
that together gave the best detection at a 5 % false-alarm rate (``bench/tep.py``) were the SPE of a dynamic
PCA model, the per-variable EWMA of its residuals and the EWMA variance of first differences. A shift along
the correlation structure (which SPE does not see) is covered by a Mahalanobis distance with a shrunk
covariance, once as it is (held for a few rows) and once EWMA-smoothed. With the training covariance, the
smoothed distance (like a MEWMA chart) flagged the slow in-plane movement of the second normal test day of
Tennessee Eastman; with the covariance following accepted rows (below) it does not, and it catches the
moderate process steps of the simulated line that the unsmoothed distance misses (choices made on the
Tennessee Eastman test FAR and the drift check, and listed as such in ``bench/tep.py``). The members:

- ``spe``: squared residual of the row (with ``lags`` past rows) off the PCA model, EWMA-smoothed;
- ``resid``: the largest ``|EWMA|`` of the variables' standardised PCA residuals (which variable moved);
- ``mahal``: ``x' S⁻¹ x`` of the standardised row with ``S`` the Ledoit-Wolf shrunk covariance (a few
  hundred training rows do not estimate a full covariance well), the smallest of its last ``persist``
  values, so a lone outlying row does not alarm;
- ``diff``: the largest ``|log|`` of the EWMA variance ratio of first differences (changed noise, a frozen
  or sticking signal; blind to slow level changes by construction);
- ``shift``: the EWMA (``shift_lam``) of the Mahalanobis distance: a sustained moderate shift.

Few training rows
-----------------
Variables are standardised robustly (median and interquartile range, floored at the column's resolution,
i.e. its smallest step, so quantised or nearly flat channels do not divide by almost nothing). The
statistics have no trustworthy textbook limits after smoothing and on autocorrelated data, so every limit is
taken from **out-of-fold** scores: the training rows are cut into ``folds`` contiguous folds, each fold is
scored by a monitor fitted on the others, each member is divided by the ``quantile`` of its out-of-fold
scores, the monitor's score is the largest of these ratios, and ``threshold_`` is the ``quantile`` of the
out-of-fold combined score (never below 1). Out-of-fold scores are what a fitted model sees on new normal
data, so the limit is not the optimistic in-sample one.

Slow normal drift
-----------------
A fixed training mean turns slow normal movement (set points, ageing, seasons) into runs of false alarms;
simply tracking the mean would also absorb faults. The monitor keeps one offset (in the variables' units)
that is subtracted from every row before scoring. It moves once per ``block`` rows towards the rows of that
block that the monitor did **not** flag, with an exponential memory of ``memory`` rows (adaptive MSPC in the
manner of Choi, Martin, Morris and Lee, 2006): a fault, once flagged, stays measured against the baseline
from before it, while normal change slower than the memory is followed. So that a lasting change (a new
set point) is not flagged for ever, flagged rows still move the baseline, with the much longer memory
``relearn``. The covariance of the Mahalanobis member follows the same way (``cov_memory``): a few hundred
training rows rarely show the full normal spread of slow process factors, and a covariance that widens with
accepted normal operation removed most of the false alarms of a short training window on the drifting
simulated line (``bench/drift.py``) at no cost on the Tennessee Eastman training runs. Within a block
everything is vectorised (``lfilter`` for the EWMAs); the Python loop runs once per block.

Streaming
---------
The stream state (offset, partial block, last ``lags`` rows, EWMA levels) is JSON. ``init_state()``
continues from the end of the training data: its last rows fill the lag window and the previous row of the
difference statistic, so scoring data that follows the training window needs no warm-up, and
``fit(train).predict(test)`` continues from training. Scoring a stream in chunks equals scoring it whole.
"""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Any, Self

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike
from scipy import stats
from scipy.linalg import solve_triangular
from scipy.signal import lfilter
from sklearn.covariance import ledoit_wolf

from models.detectors.base import FloatArray, State, StreamingDetector, as_2d, check_is_fitted
from models.detectors.dynamic_pca import lagged
from models.detectors.pca import choose_components, spe_limit

#: Names of the members, in the order of ``member_scales_``.
MEMBERS = ("spe", "resid", "mahal", "diff", "shift")
#: Smallest variance ratio kept before the log (the difference statistic), so a frozen signal scores finite.
_DIFF_FLOOR = 1e-3


def robust_location_scale(A: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Column medians and robust scales (IQR / 1.349), floored at the column's resolution.

    The resolution is the smallest non-zero step between sorted training values, so a quantised channel is
    never scaled below one quantum. A column with no spread at all (constant in training) gets scale
    ``max(resolution, 1e-3 * |median|)`` or 1: any later change of it scores in units of that scale.
    """
    med = np.median(A, axis=0)
    q75, q25 = np.percentile(A, [75, 25], axis=0)
    iqr = (q75 - q25) / 1.349
    std = A.std(axis=0, ddof=1) if A.shape[0] > 1 else np.zeros(A.shape[1])
    steps = np.diff(np.sort(A, axis=0), axis=0)
    steps = np.where(steps > 1e-12 * np.maximum(1.0, np.abs(med)), steps, np.inf)
    resolution = np.where(np.isfinite(steps.min(axis=0, initial=np.inf)), steps.min(axis=0, initial=np.inf), 0.0)
    # a spike-free heavy core (IQR 0 but some spread) falls back to the standard deviation
    scale = np.where(iqr > 0, iqr, std)
    scale = np.maximum(scale, resolution)
    flat = scale <= 1e-12 * np.maximum(1.0, np.abs(med))
    scale = np.where(flat, np.where(np.abs(med) > 0, 1e-3 * np.abs(med), 1.0), scale)
    return med, scale


def tail_limit(scores: FloatArray, quantile: float) -> float:
    """The ``quantile`` of ``scores``, or of a scaled chi-square with their mean and variance when higher.

    A smoothed statistic on a few hundred rows has only a few independent values, so its empirical upper
    quantile is little more than its largest value and often too low. The moment-matched ``g * chi2(h)``
    (``g = var / (2 mean)``, ``h = 2 mean² / var``; Box, 1954) uses every score to reach into the tail; the
    larger of both is the limit, so neither a poor fit nor a short sample makes it optimistic.
    """
    empirical = float(np.quantile(scores, quantile))
    shifted = scores - min(0.0, float(scores.min()))
    m, v = float(shifted.mean()), float(shifted.var(ddof=1)) if scores.size > 1 else 0.0
    if m <= 1e-12 or v <= 1e-24:
        return empirical
    g, h = v / (2.0 * m), 2.0 * m * m / v
    return max(empirical, float(g * stats.chi2.ppf(quantile, h)) + min(0.0, float(scores.min())))


def _ewma(values: FloatArray, lam: float, start: FloatArray) -> FloatArray:
    """EWMA along rows of ``values`` (n, k) from the level ``start`` (k,)."""
    if lam >= 1.0:
        return values
    out, _ = lfilter([lam], [1.0, lam - 1.0], values, axis=0, zi=((1.0 - lam) * start)[None, :])
    return np.asarray(out)


class ProcessMonitor(StreamingDetector):
    """Multivariate process monitoring for long use after a short training window.

    SPE of a dynamic PCA model, EWMA of its residuals, a shrunk-covariance Mahalanobis distance held for
    ``persist`` rows and its EWMA, and the variance of first differences, on rows recentred by an
    alarm-gated moving mean; the score is the largest member over its out-of-fold limit, and ``threshold_``
    is set from out-of-fold scores too. See the module text for the reasons. The defaults are one set for
    every process: they were chosen on the Tennessee Eastman runs (``bench/tep.py``) and the drifting
    simulated line, and checked on Tennessee Eastman from 300 rows and on a real plant's records
    (``bench/drift.py``). Columns constant in the training rows are left out (``ignored_``).

    Parameters
    ----------
    lags : int
        Past rows appended to each row for the PCA model (captures autocorrelation).
    n_components : int or float
        Principal components of the lagged model, or the variance fraction to keep when a float in (0, 1).
    lam : float
        EWMA weight of the SPE and residual members, in (0, 1]; about ``2 / lam`` rows are averaged.
    diff_lam : float
        EWMA weight of the difference-variance member.
    persist : int
        Rows the Mahalanobis distance must stay high (the smallest of the last ``persist`` values counts).
    shift_lam : float
        EWMA weight of the smoothed distance (the ``shift`` member), in (0, 1].
    memory : float
        Time constant of the recentring from rows not flagged, in rows; 0 keeps the training mean for ever.
    relearn : float
        Time constant (rows) with which the baseline still follows flagged rows, so a lasting shift becomes
        the new normal in the end; 0 = never.
    cov_memory : float
        Time constant (rows) with which the covariance of the Mahalanobis member follows the rows it accepts
        (flagged rows with ``relearn``); 0 keeps the training covariance.
    block : int
        Rows per recentring step.
    quantile : float
        Quantile of out-of-fold training scores used for the member limits and ``threshold_``.
    folds : int
        Contiguous folds for the out-of-fold scores.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> mixing = rng.normal(size=(3, 6))
    >>> train = rng.normal(size=(400, 3)) @ mixing + 0.3 * rng.normal(size=(400, 6))
    >>> test = rng.normal(size=(2000, 3)) @ mixing + 0.3 * rng.normal(size=(2000, 6))
    >>> test += np.linspace(0.0, 2.0, 2000)[:, None] * mixing[0]  # slow drift of the process
    >>> test[1500:1600, 2] += 3.0 * train[:, 2].std()  # then a fault on one sensor
    >>> fixed = ProcessMonitor(memory=0).fit(train).predict(test)
    >>> flags = ProcessMonitor().fit(train).predict(test)
    >>> round(float(fixed[:1500].mean()), 2), round(float(flags[:1500].mean()), 2)  # false alarms
    (0.54, 0.01)
    >>> round(float(flags[1500:1600].mean()), 2)  # the fault
    0.99
    """

    name = "process_monitor"
    member_scales_: FloatArray

    def __init__(
        self,
        lags: int = 2,
        n_components: int | float = 0.9,
        lam: float = 0.05,
        diff_lam: float = 0.2,
        persist: int = 3,
        shift_lam: float = 0.1,
        memory: float = 125.0,
        relearn: float = 2000.0,
        cov_memory: float = 1000.0,
        block: int = 20,
        quantile: float = 0.99,
        folds: int = 5,
    ) -> None:
        self.lags = lags
        self.n_components = n_components
        self.lam = lam
        self.diff_lam = diff_lam
        self.persist = persist
        self.shift_lam = shift_lam
        self.memory = memory
        self.relearn = relearn
        self.cov_memory = cov_memory
        self.block = block
        self.quantile = quantile
        self.folds = folds

    # -- fitting -------------------------------------------------------------------------------------------
    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> Self:
        """Fit the model on normal rows ``X`` (time order) and set the limits from out-of-fold scores."""
        A = as_2d(X)
        self._check_params(A)
        folds = int(self.folds)
        parts = np.array_split(np.arange(A.shape[0]), folds)
        warm = min(math.ceil(1.0 / float(self.lam)), A.shape[0] // (2 * folds))
        oof = []
        for j, held in enumerate(parts):
            train = A[np.concatenate([p for i, p in enumerate(parts) if i != j])]
            copy = type(self)(**self.get_params())
            copy._fit_model(train)
            copy.member_scales_ = np.ones(len(MEMBERS))
            copy.threshold_ = math.inf  # gate open: calibration scores as if nothing was flagged
            state = copy._neutral_state(A[: held[0]])
            # the first rows of a fold are the EWMAs' warm-up from their in-control level: less spread than
            # a running chart has, so they are left out of the calibration
            oof.append(copy._members_stream(A[held], state)[0][warm:])
        members = np.concatenate(oof)
        self._fit_model(A)
        q = float(self.quantile)
        scales = np.array([tail_limit(members[:, j], q) for j in range(members.shape[1])])
        self.member_scales_ = np.where(scales > 1e-12, scales, 1e-12)
        combined = (members / self.member_scales_).max(axis=1)
        self.threshold_ = max(1.0, tail_limit(combined, q))
        self.tail_ = A[A.shape[0] - max(int(self.lags), 1) :].copy()
        return self

    def _check_params(self, A: FloatArray) -> None:
        if not all(0.0 < lam <= 1.0 for lam in (self.lam, self.diff_lam, self.shift_lam)):
            raise ValueError(
                f"lam, diff_lam and shift_lam must be in (0, 1], got {self.lam}, {self.diff_lam}, {self.shift_lam}"
            )
        if min(self.memory, self.relearn, self.cov_memory) < 0:
            raise ValueError("memory, relearn and cov_memory must be >= 0")
        if int(self.block) < 1 or int(self.lags) < 0 or int(self.persist) < 1:
            raise ValueError("block must be >= 1, lags >= 0 and persist >= 1")
        if not 0.0 < self.quantile < 1.0 or int(self.folds) < 2:
            raise ValueError(f"quantile must be in (0, 1) and folds >= 2, got {self.quantile} and {self.folds}")
        need = int(self.folds) * (4 * (int(self.lags) + 1) + 2)
        if A.shape[0] < need:
            raise ValueError(f"need at least {need} training rows for {self.folds} folds, got {A.shape[0]}")

    def _fit_model(self, A: FloatArray) -> None:
        """Standardisation, lagged PCA, residual scales, shrunk covariance and difference scales of ``A``."""
        d = A.shape[1]
        lags = int(self.lags)
        center, scale = robust_location_scale(A)
        # a column that never moved in training has no normal variability to compare with: it is left out
        # (scale infinite, so it standardises to 0) and named in ``ignored_``
        flat = np.ptp(A, axis=0) <= 1e-9 * np.maximum(1.0, np.abs(center))
        if flat.all():
            raise ValueError("every column is constant in the training data; the process monitor cannot model it")
        scale = np.where(flat, np.inf, scale)
        Z = (A - center) / scale
        L = lagged(Z, lags)
        pca_mean = L.mean(axis=0)
        _, s, vt = np.linalg.svd(L - pca_mean, full_matrices=False)
        eig = s**2 / max(L.shape[0] - 1, 1)
        if eig.sum() <= 1e-12:
            raise ValueError("training data has no variance; the process monitor cannot model it")
        a = choose_components(self.n_components, eig, L.shape[0], L.shape[1])
        signs = np.sign(vt[:a][np.arange(a), np.argmax(np.abs(vt[:a]), axis=1)])
        self.n_features_in_ = d
        self.ignored_ = flat
        self.mean_ = A.mean(axis=0)
        self.center_ = center
        self.scale_ = scale
        self.pca_mean_ = pca_mean
        self.components_ = np.ascontiguousarray((vt[:a] * signs[:, None]).T)
        self.eigenvalues_ = eig[:a]
        residual_eig = np.concatenate([eig[a:], np.zeros(max(L.shape[1] - eig.size, 0))])
        self.spe_limit_ = spe_limit(residual_eig, 0.01)
        E = self._residuals(L)
        spe = np.einsum("ij,ij->i", E, E) / self.spe_limit_
        self.spe_mean_ = float(spe.mean())
        resid_sd = E[:, :d].std(axis=0, ddof=1)
        self.resid_scale_ = np.where(resid_sd > 1e-9, resid_sd, 1.0)
        Zc = Z - Z.mean(axis=0)
        shrunk, shrinkage = ledoit_wolf(Zc, assume_centered=True)
        self.precision_ = np.linalg.pinv(shrunk, hermitian=True)
        self.cov_ = Zc.T @ Zc / Zc.shape[0]
        self.dist_mean_ = float(np.einsum("ij,jk,ik->i", Zc, self.precision_, Zc).mean())
        self.shrinkage_ = float(shrinkage)
        self.z_mean_ = Z.mean(axis=0)
        dsd = np.diff(Z, axis=0).std(axis=0, ddof=1)
        self.diff_scale_ = np.where(dsd > 1e-9, dsd, 1.0)

    def _residuals(self, L: FloatArray) -> FloatArray:
        C = L - self.pca_mean_
        return np.asarray(C - (C @ self.components_) @ self.components_.T)

    # -- streaming -----------------------------------------------------------------------------------------
    def _neutral_state(self, before: FloatArray) -> State:
        """State with EWMAs at their in-control levels and the lag window taken from the rows ``before``."""
        d = self.n_features_in_
        keep = max(int(self.lags), 1)
        tail = before[max(0, before.shape[0] - keep) :]
        return {
            "offset": [0.0] * d,
            "acc": [0.0] * d,
            "acc_alarm": [0.0] * d,
            "pos": 0,
            "kept": 0,
            "tail": tail.tolist(),
            "spe": self.spe_mean_,
            "resid": [0.0] * d,
            "d2": [],
            "cov": self.cov_.ravel().tolist() if self._cov_adaptive() else [],
            "pending": [],
            "pending_ok": [],
            "diff": [1.0] * d,
            "shift": self.dist_mean_,
        }

    def init_state(self) -> State:
        """Continue from the end of the training data (its last rows, the training mean, in-control EWMAs)."""
        check_is_fitted(self)
        return self._neutral_state(self.tail_)

    def score_stream(self, X: ArrayLike, state: State) -> tuple[FloatArray, State]:
        """Scores of ``X`` continuing from ``state``."""
        check_is_fitted(self)
        A = as_2d(X)
        if A.shape[1] != self.n_features_in_:
            raise ValueError(f"expected {self.n_features_in_} features, got {A.shape[1]}")
        members, new_state = self._members_stream(A, state)
        return (members / self.member_scales_).max(axis=1) if A.shape[0] else np.empty(0), new_state

    def member_scores(self, X: ArrayLike, state: State | None = None) -> FloatArray:
        """Each member's score over its limit, ``(n, 4)`` in the order of :data:`MEMBERS` (for diagnosis)."""
        check_is_fitted(self)
        A = as_2d(X)
        members, _ = self._members_stream(A, self.init_state() if state is None else state)
        return members / self.member_scales_

    def _members_stream(self, A: FloatArray, state: State) -> tuple[FloatArray, State]:
        """Raw member scores ``(n, 4)`` of ``A`` from ``state``, recentring block by block."""
        d, lags, block = self.n_features_in_, int(self.lags), int(self.block)
        st = _State.load(state, d)
        adaptive = self.memory > 0
        gain = -math.expm1(-block / self.memory) if adaptive else 0.0
        slow = -math.expm1(-block / self.relearn) if adaptive and self.relearn > 0 else 0.0
        n = A.shape[0]
        if adaptive:  # cut at the block boundaries, counted from the start of the stream
            cuts = np.r_[0, np.arange(block - st.pos, n, block), n]
        else:
            cuts = np.r_[np.arange(0, n, 8192), n]
        out = np.zeros((n, len(MEMBERS)))
        for lo, hi in pairwise(cuts.tolist()):
            if hi <= lo:
                continue
            rows = A[lo:hi]
            out[lo:hi] = self._score_rows(rows, st)
            if adaptive:
                ok = (out[lo:hi] / self.member_scales_).max(axis=1) <= self.threshold_
                st.acc += (rows[ok] - self.mean_).sum(axis=0)
                st.acc_alarm += (rows[~ok] - self.mean_).sum(axis=0)
                st.kept += int(ok.sum())
                st.pos += hi - lo
                if st.cov is not None:
                    st.pending = np.concatenate([st.pending, st.last_c])
                    st.pending_ok = np.concatenate([st.pending_ok, ok])
                if st.pos == block:
                    flagged = block - st.kept
                    if st.cov is not None:
                        st.cov = self._updated_cov(st, block)
                    st.offset = (
                        st.offset
                        + gain * (st.acc - st.kept * st.offset) / block
                        + slow * (st.acc_alarm - flagged * st.offset) / block
                    )
                    st.acc, st.acc_alarm, st.pos, st.kept = np.zeros(d), np.zeros(d), 0, 0
            st.tail = np.concatenate([st.tail, rows])[-max(lags, 1) :]
        return out, st.dump()

    def _score_rows(self, rows: FloatArray, st: _State) -> FloatArray:
        """Raw member scores of ``rows`` (recentred with ``st.offset``); updates the EWMA levels in ``st``."""
        lags, k = int(self.lags), rows.shape[0]
        W = (np.concatenate([st.tail, rows]) - st.offset - self.center_) / self.scale_
        Z = W[W.shape[0] - k :]
        out = np.zeros((k, len(MEMBERS)))
        # SPE and residuals need a full lag window; rows without one (only at a stream's very start) score 0
        L = lagged(W, lags)
        m = min(L.shape[0], k)
        if m:
            E = self._residuals(L[L.shape[0] - m :])
            spe = _ewma((np.einsum("ij,ij->i", E, E) / self.spe_limit_)[:, None], self.lam, np.array([st.spe]))
            st.spe = float(spe[-1, 0])
            resid = _ewma(E[:, : self.n_features_in_] / self.resid_scale_, self.lam, st.resid)
            st.resid = resid[-1].copy()
            out[k - m :, 0] = spe[:, 0]
            out[k - m :, 1] = np.abs(resid).max(axis=1)
        C = Z - self.z_mean_
        st.last_c = C
        if st.cov is None:
            dist = np.einsum("ij,jk,ik->i", C, self.precision_, C)
        else:
            dist = self._distance(st.cov, C)
        d2 = np.concatenate([st.d2, dist])
        hold = int(self.persist)
        # the smallest of the last `persist` values (fewer at a stream's start): a lone outlier does not count
        padded = np.concatenate([np.full(max(hold - 1 - st.d2.size, 0), np.inf), d2])
        out[:, 2] = sliding_window_view(padded, hold).min(axis=1)[-k:] if k else 0.0
        st.d2 = d2[d2.size - hold + 1 :] if hold > 1 else d2[:0]
        # differences of the raw rows: the recentring offset must not show up as a step
        raw = np.concatenate([st.tail[-1:], rows]) if st.tail.shape[0] else np.concatenate([rows[:1], rows])
        D2 = (np.diff(raw, axis=0) / (self.scale_ * self.diff_scale_)) ** 2
        D2[:, self.ignored_] = 1.0  # ignored columns keep an unchanged variance ratio
        ratio = _ewma(D2, self.diff_lam, st.diff)
        st.diff = ratio[-1].copy()
        out[:, 3] = np.abs(np.log(np.maximum(ratio, _DIFF_FLOOR))).max(axis=1)
        shift = _ewma(dist[:, None], float(self.shift_lam), np.array([st.shift]))
        st.shift = float(shift[-1, 0]) if k else st.shift
        out[:, 4] = shift[:, 0]
        return out

    def _cov_adaptive(self) -> bool:
        return self.memory > 0 and self.cov_memory > 0

    def _distance(self, cov: FloatArray, C: FloatArray) -> FloatArray:
        """``c' S⁻¹ c`` of every row of ``C``, with ``S`` = ``cov`` shrunk towards a scaled identity with the
        training rows' Ledoit-Wolf intensity (a Cholesky solve: far cheaper than an inverse per block)."""
        d = cov.shape[0]
        shrunk = (1.0 - self.shrinkage_) * cov + self.shrinkage_ * (np.trace(cov) / d) * np.eye(d)
        try:
            lower = np.linalg.cholesky(shrunk)
        except np.linalg.LinAlgError:  # not positive definite (no shrinkage, a dead direction): pseudo-inverse
            return np.asarray(np.einsum("ij,jk,ik->i", C, np.linalg.pinv(shrunk, hermitian=True), C))
        Y = solve_triangular(lower, C.T, lower=True, check_finite=False)
        return np.asarray(np.einsum("ij,ij->j", Y, Y))

    def _updated_cov(self, st: _State, block: int) -> FloatArray:
        """The covariance moved towards the block's rows: accepted rows with ``cov_memory``, flagged ones
        with ``relearn``."""
        fast = -math.expm1(-block / self.cov_memory)
        slow = -math.expm1(-block / self.relearn) if self.relearn > 0 else 0.0
        ok = st.pending_ok.astype(bool)
        cov = st.cov
        assert cov is not None  # noqa: S101 - only called for an adaptive covariance
        for rows, g in ((st.pending[ok], fast), (st.pending[~ok], slow)):
            if rows.shape[0] and g > 0:
                cov = cov + g * (rows.T @ rows - rows.shape[0] * cov) / block
        st.pending, st.pending_ok = st.pending[:0], st.pending_ok[:0]
        return cov

    # -- diagnosis -----------------------------------------------------------------------------------------
    def contributions(self, X: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Per-variable ``T²`` and ``SPE`` contributions of the lagged PCA model, summed over the lags.

        For rows with a full lag window (``n - lags`` rows; row ``i`` belongs to row ``i + lags`` of ``X``),
        measured against the training baseline (the stream's recentring offset is not applied).
        """
        check_is_fitted(self)
        A = as_2d(X)
        if A.shape[1] != self.n_features_in_:
            raise ValueError(f"expected {self.n_features_in_} features, got {A.shape[1]}")
        L = lagged((A - self.center_) / self.scale_, int(self.lags))
        C = L - self.pca_mean_
        T = C @ self.components_
        t2c = C * ((T / self.eigenvalues_) @ self.components_.T)
        E = C - T @ self.components_.T
        shape = (L.shape[0], int(self.lags) + 1, A.shape[1])
        return t2c.reshape(shape).sum(axis=1), (E * E).reshape(shape).sum(axis=1)


class _State:
    """The stream state as arrays while a chunk is scored (JSON lists outside)."""

    def __init__(self, raw: State, d: int) -> None:
        self.offset = self._vec(raw, "offset", d)
        self.acc = self._vec(raw, "acc", d)
        self.acc_alarm = self._vec(raw, "acc_alarm", d)
        self.pos = int(raw["pos"])
        self.kept = int(raw["kept"])
        self.tail = np.asarray(raw["tail"], dtype=np.float64).reshape(-1, d)
        self.spe = float(raw["spe"])
        self.resid = self._vec(raw, "resid", d)
        self.d2 = np.asarray(raw["d2"], dtype=np.float64).reshape(-1)
        cov = np.asarray(raw["cov"], dtype=np.float64)
        self.cov: FloatArray | None = cov.reshape(d, d) if cov.size else None
        self.pending = np.asarray(raw["pending"], dtype=np.float64).reshape(-1, d)
        self.pending_ok = np.asarray(raw["pending_ok"], dtype=np.bool_).reshape(-1)
        self.last_c = np.zeros((0, d))
        self.diff = self._vec(raw, "diff", d)
        self.shift = float(raw["shift"])

    @classmethod
    def load(cls, raw: State, d: int) -> _State:
        return cls(raw, d)

    @staticmethod
    def _vec(raw: State, key: str, d: int) -> FloatArray:
        arr = np.asarray(raw[key], dtype=np.float64).reshape(-1)
        if arr.shape != (d,):
            raise ValueError(f"state[{key!r}] has {arr.size} values, expected {d}")
        return arr

    def dump(self) -> dict[str, Any]:
        return {
            "offset": self.offset.tolist(),
            "acc": self.acc.tolist(),
            "acc_alarm": self.acc_alarm.tolist(),
            "pos": self.pos,
            "kept": self.kept,
            "tail": self.tail.tolist(),
            "spe": self.spe,
            "resid": self.resid.tolist(),
            "d2": self.d2.tolist(),
            "cov": [] if self.cov is None else self.cov.ravel().tolist(),
            "pending": self.pending.tolist(),
            "pending_ok": self.pending_ok.tolist(),
            "diff": self.diff.tolist(),
            "shift": self.shift,
        }
