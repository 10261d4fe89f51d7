"""Recentred PCA charts against PCA, a per-sample reference of the gated recentring, and their limits."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.detectors.calibration import out_of_fold_scores
from models.detectors.dynamic_pca import DynamicPCA
from models.detectors.pca import PCADetector
from models.detectors.recentred import RecentredPCAChart

from .conformance import check_chunked_equals_whole


def _process(n: int, seed: int, d: int = 6) -> np.ndarray:
    rng = np.random.default_rng(seed)
    loadings = np.random.default_rng(42).normal(size=(3, d))
    return rng.normal(size=(n, 3)) @ loadings + 0.3 * rng.normal(size=(n, d))


def _reference(det: RecentredPCAChart, X: np.ndarray) -> np.ndarray:
    """Row by row: score against the offset, keep unflagged rows, move the offset at every block end."""
    d, block = X.shape[1], int(det.block)
    gain = -math.expm1(-block / det.memory) if det.memory > 0 else 0.0
    offset, acc, kept = np.zeros(d), np.zeros(d), 0
    level = np.zeros(det.components_.shape[0])
    out = np.empty(X.shape[0])
    for t, x in enumerate(X):
        z = (x - offset - det.pca_mean_) / det.pca_scale_
        e = z - det.components_ @ (det.components_.T @ z)
        value = e / det.resid_scale_ if det.statistic == "resid" else z
        level = det.lam * value + (1 - det.lam) * level
        out[t] = np.abs(level).max()
        if out[t] <= det.threshold_:
            acc += x - det.mean_
            kept += 1
        if (t + 1) % block == 0:
            offset = offset + gain * (acc - kept * offset) / block
            acc, kept = np.zeros(d), 0
    return out


@pytest.mark.parametrize("statistic", ["resid", "raw"])
def test_gated_recentring_matches_the_per_sample_reference(statistic: str) -> None:
    X = _process(500, 0)
    det = RecentredPCAChart(n_components=3, statistic=statistic, lam=0.2, memory=60.0, block=9).fit(X)
    Y = _process(700, 1) + np.linspace(0.0, 2.0, 700)[:, None] * X.std(axis=0)
    Y[500:, 2] += 3.0 * X[:, 2].std()
    np.testing.assert_allclose(det.score_stream(Y, det.init_state())[0], _reference(det, Y), rtol=1e-9, atol=1e-12)


def test_fixed_mean_without_smoothing_is_pca_over_its_limits() -> None:
    X, Y = _process(500, 0), _process(200, 1)
    pca = PCADetector(n_components=3).fit(X)
    t2, spe = pca.statistics(Y)
    for statistic, expected in (("t2", t2 / pca.t2_limit_), ("spe", spe / pca.spe_limit_)):
        det = RecentredPCAChart(n_components=3, statistic=statistic, memory=0.0).fit(X)
        np.testing.assert_allclose(det.score_stream(Y, det.init_state())[0], expected, rtol=1e-10)
    dpca = DynamicPCA(lags=2, n_components=5).fit(X)
    _, dspe = dpca.lagged_statistics(Y)
    det = RecentredPCAChart(n_components=5, statistic="spe", lags=2, memory=0.0).fit(X)
    scores, _ = det.score_stream(Y, det.init_state())
    assert (scores[:2] == 0.0).all()
    np.testing.assert_allclose(scores[2:], dspe / dpca.spe_limit_, rtol=1e-10)


def test_threshold_is_the_quantile_of_out_of_fold_scores_without_the_gate() -> None:
    X = _process(400, 2)
    det = RecentredPCAChart(n_components=3, statistic="spe", lam=0.1, memory=50.0, block=10, folds=4).fit(X)

    def fit_score(train: np.ndarray, held_out: np.ndarray) -> np.ndarray:
        chart = RecentredPCAChart(n_components=3, statistic="spe", lam=0.1, memory=50.0, block=10, folds=4)
        chart._fit_model(train)
        chart.threshold_ = math.inf
        return chart.decision_function(held_out)

    expected = np.quantile(out_of_fold_scores(fit_score, X, 4), 0.99)
    assert det.threshold_ == pytest.approx(expected, rel=1e-12)


def test_a_flagged_fault_does_not_move_the_mean_but_slow_drift_does() -> None:
    X = _process(500, 3)
    det = RecentredPCAChart(n_components=3, statistic="raw", lam=0.1, memory=100.0).fit(X)
    sd = X.std(axis=0)
    drift = _process(400, 4) + 0.5 * sd * np.linspace(0.0, 1.0, 400)[:, None]
    normal, state = det.score_stream(drift, det.init_state())
    before = np.asarray(state["offset"]) / sd
    assert (before > 0.2).all(), "slow drift is followed"
    fixed = RecentredPCAChart(n_components=3, statistic="raw", lam=0.1, memory=0.0).fit(X)
    assert (normal > det.threshold_).mean() < 0.5 * fixed.predict(drift).mean()
    # a 3 sigma step: only the few rows before the EWMA crosses the limit may teach the mean anything
    scores, after = det.score_stream(_process(600, 5) + 3.5 * sd, state)
    assert (scores > det.threshold_).mean() > 0.99
    assert (np.abs(np.asarray(after["offset"]) / sd - before) < 0.15).all()


def test_invalid_parameters_are_refused() -> None:
    X = _process(200, 6)
    for params in ({"statistic": "q"}, {"lam": 0.0}, {"memory": -1.0}, {"block": 0}, {"folds": 1}):
        with pytest.raises(ValueError, match=r"statistic|lam|memory|folds"):
            RecentredPCAChart(n_components=2, **params).fit(X)


@pytest.mark.parametrize("statistic", ["t2", "spe", "resid"])
def test_lagged_charts_score_in_chunks_as_whole(statistic: str) -> None:
    def make() -> RecentredPCAChart:
        return RecentredPCAChart(n_components=4, statistic=statistic, lags=2, lam=0.3, memory=30.0, block=7)

    check_chunked_equals_whole(make)
