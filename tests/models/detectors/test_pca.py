"""PCA statistics, control limits and contributions against their textbook definitions."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

from models.detectors.dynamic_pca import DynamicPCA, lagged
from models.detectors.pca import ComponentsCappedWarning, PCADetector, spe_limit, t2_limit


def _process(n: int, seed: int, d: int = 8) -> np.ndarray:
    rng = np.random.default_rng(seed)
    loadings = np.random.default_rng(99).normal(size=(3, d))
    return rng.normal(size=(n, 3)) @ loadings + 0.3 * rng.normal(size=(n, d))


def test_statistics_match_definitions() -> None:
    X, Y = _process(500, 0), _process(50, 1)
    det = PCADetector(n_components=3).fit(X)
    Xs = (Y - X.mean(0)) / X.std(0, ddof=1)
    cov = np.cov((X - X.mean(0)) / X.std(0, ddof=1), rowvar=False)
    eig, vec = np.linalg.eigh(cov)
    P, lam = vec[:, ::-1][:, :3], eig[::-1][:3]
    t2, spe = det.statistics(Y)
    np.testing.assert_allclose(t2, np.sum((Xs @ P) ** 2 / lam, axis=1), rtol=1e-8)
    np.testing.assert_allclose(spe, np.sum((Xs - Xs @ P @ P.T) ** 2, axis=1), rtol=1e-8)


def test_contributions_sum_to_the_statistics_and_point_at_the_faulty_variable() -> None:
    X = _process(500, 0)
    det = PCADetector(n_components=3).fit(X)
    Y = _process(20, 2)
    Y[:, 5] += 4 * X[:, 5].std()
    t2c, spec = det.contributions(Y)
    t2, spe = det.statistics(Y)
    np.testing.assert_allclose(t2c.sum(axis=1), t2, rtol=1e-8)
    np.testing.assert_allclose(spec.sum(axis=1), spe, rtol=1e-8)
    assert np.bincount(np.argmax(spec, axis=1)).argmax() == 5


def test_t2_limit_formula() -> None:
    a, n, alpha = 3, 200, 0.01
    expected = a * (n - 1) * (n + 1) / (n * (n - a)) * stats.f.ppf(0.99, a, n - a)
    assert t2_limit(a, n, alpha) == pytest.approx(expected)


def test_limits_hold_their_false_alarm_rate_on_gaussian_data() -> None:
    det = PCADetector(n_components=3, alpha=0.01).fit(_process(5000, 3))
    t2, spe = det.statistics(_process(50000, 4))
    assert 0.005 < np.mean(t2 > det.t2_limit_) < 0.02
    assert 0.005 < np.mean(spe > det.spe_limit_) < 0.02


def test_spe_limit_of_equal_eigenvalues_is_the_scaled_chi_square() -> None:
    # equal residual eigenvalues: SPE/lam is chi-square with len(lam) degrees of freedom
    lam = np.full(10, 0.5)
    assert spe_limit(lam, 0.01) == pytest.approx(0.5 * stats.chi2.ppf(0.99, 10), rel=0.02)


def test_variance_fraction_picks_components() -> None:
    det = PCADetector(n_components=0.8).fit(_process(500, 5))
    assert det.components_.shape == (8, det.eigenvalues_.size)
    assert 1 <= det.eigenvalues_.size <= 3


def test_lagged_rows() -> None:
    A = np.arange(12.0).reshape(6, 2)
    L = lagged(A, 2)
    assert L.shape == (4, 6)
    np.testing.assert_array_equal(L[0], [4, 5, 2, 3, 0, 1])


def test_dynamic_pca_catches_a_change_in_dynamics_static_pca_misses() -> None:
    rng = np.random.default_rng(6)
    e = rng.normal(size=(4001, 1))
    x = np.hstack([e[1:], e[:-1] + 0.1 * rng.normal(size=(4000, 1))])  # x2 is x1 delayed by one step
    det = DynamicPCA(lags=1, n_components=3).fit(x[:2000])
    broken = np.hstack([x[2000:, :1], rng.normal(size=(2000, 1))])  # the delay relation is gone
    assert det.predict(broken).mean() > 0.5
    assert PCADetector(n_components=1).fit(x[:2000]).predict(broken).mean() < 0.2


def test_dynamic_pca_contributions_are_per_original_variable() -> None:
    X = _process(600, 7)
    det = DynamicPCA(lags=2, n_components=5).fit(X)
    Y = _process(30, 8)
    Y[:, 3] += 5 * X[:, 3].std()
    t2c, spec = det.contributions(Y)
    t2, spe = det.lagged_statistics(Y)
    assert t2c.shape == spec.shape == (28, 8)
    np.testing.assert_allclose(spec.sum(axis=1), spe, rtol=1e-8)
    np.testing.assert_allclose(t2c.sum(axis=1), t2, rtol=1e-8)
    assert np.bincount(np.argmax(spec, axis=1)).argmax() == 3


def test_long_dynamic_pca_streams_scored_in_blocks_equal_chunked_scoring() -> None:
    X = _process(20_000, 9)
    det = DynamicPCA(lags=3, n_components=6).fit(X[:1000])
    first, state = det.score_stream(X[:9001], det.init_state())
    second, _ = det.score_stream(X[9001:], state)
    whole, _ = det.score_stream(X, det.init_state())  # a stream from its start, not after training
    assert np.all(whole[:3] == 0.0) and np.all(whole[3:] > 0.0)
    np.testing.assert_allclose(np.r_[first, second], whole, rtol=1e-12)
    t2, spe = det.lagged_statistics(X)
    np.testing.assert_allclose(whole[3:], np.maximum(t2 / det.t2_limit_, spe / det.spe_limit_), rtol=1e-12)


def test_an_explicit_component_count_above_the_cap_warns_with_both_numbers() -> None:
    # 8 variables with 2 lags are 24 lagged columns: 29 components cannot be had, at most 23
    X = _process(400, 7)
    with pytest.warns(ComponentsCappedWarning, match=r"n_components=29 capped to 23"):
        det = DynamicPCA(lags=2, n_components=29).fit(X)
    assert det.components_.shape == (24, 23)


def test_a_count_within_the_cap_and_a_variance_fraction_do_not_warn() -> None:
    X = _process(400, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert PCADetector(n_components=7).fit(X).components_.shape == (8, 7)
        PCADetector(n_components=0.999).fit(X)
