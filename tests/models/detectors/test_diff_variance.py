"""The variance-of-differences chart against its per-sample recursion; it ignores level, sees spread."""

from __future__ import annotations

import numpy as np
import pytest

from models.detectors.diff_variance import DiffVarianceChart


def _reference(det: DiffVarianceChart, X: np.ndarray) -> np.ndarray:
    level, previous = np.ones(X.shape[1]), X[0]
    out = np.empty(X.shape[0])
    for t, x in enumerate(X):
        level = det.lam * ((x - previous) / det.scale_) ** 2 + (1 - det.lam) * level
        out[t] = np.abs(np.log(np.maximum(level, 1e-3))).max()
        previous = x
    return out


def test_matches_the_recursion() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4))
    det = DiffVarianceChart(lam=0.15).fit(X)
    np.testing.assert_allclose(det.scale_, np.diff(X, axis=0).std(axis=0, ddof=1))
    Y = rng.normal(size=(300, 4)) * np.r_[1.0, 1.0, 2.5, 1.0]
    np.testing.assert_allclose(det.score_stream(Y, det.init_state())[0], _reference(det, Y), rtol=1e-10)


def test_slow_drift_is_ignored_and_a_changed_spread_is_seen() -> None:
    rng = np.random.default_rng(1)
    det = DiffVarianceChart(lam=0.1).fit(rng.normal(size=(500, 3)))
    drift = rng.normal(size=(600, 3)) + np.linspace(0.0, 20.0, 600)[:, None]
    assert det.predict(drift).mean() < 0.05
    frozen = rng.normal(size=(300, 3))
    frozen[:, 1] = 0.7  # a stuck sensor: its differences vanish
    assert det.predict(frozen)[60:].all()


def test_invalid_parameters_are_refused() -> None:
    X = np.random.default_rng(2).normal(size=(100, 2))
    with pytest.raises(ValueError, match="lam"):
        DiffVarianceChart(lam=1.5).fit(X)
    with pytest.raises(ValueError, match="quantile"):
        DiffVarianceChart(quantile=1.0).fit(X)
    with pytest.raises(ValueError, match="training samples"):
        DiffVarianceChart().fit(X[:6])
