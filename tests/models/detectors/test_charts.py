"""EWMA and CUSUM against straightforward per-sample reference loops."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from models.detectors.charts import CUSUMChart, EWMAChart, reset_cumsum


def _reference_ewma(z: np.ndarray, lam: float) -> np.ndarray:
    out, level = np.empty_like(z), 0.0
    for t, value in enumerate(z):
        level = lam * value + (1 - lam) * level
        sigma = np.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * (t + 1))))
        out[t] = abs(level) / sigma
    return out


def _reference_cusum(z: np.ndarray, k: float, h: float = np.inf) -> np.ndarray:
    out, pos, neg = np.empty_like(z), 0.0, 0.0
    for t, value in enumerate(z):
        pos = max(0.0, pos + value - k)
        neg = max(0.0, neg - value - k)
        out[t] = max(pos, neg)
        if out[t] > h:  # signal: restart
            pos = neg = 0.0
    return out


def test_ewma_matches_the_recursion() -> None:
    rng = np.random.default_rng(3)
    train, test = rng.normal(5, 2, 300), rng.normal(5.5, 2, 200)
    det = EWMAChart(lam=0.15, L=2.8).fit(train)
    z = (test - train.mean()) / train.std(ddof=1)
    np.testing.assert_allclose(det.score_stream(test, det.init_state())[0], _reference_ewma(z, 0.15), rtol=1e-12)
    assert det.threshold_ == 2.8


def test_cusum_matches_the_recursion() -> None:
    rng = np.random.default_rng(4)
    train, test = rng.normal(size=300), np.r_[rng.normal(size=100), rng.normal(0.8, 1, 100)]
    det = CUSUMChart(k=0.4, h=4.0).fit(train)
    z = (test - train.mean()) / train.std(ddof=1)
    scores, _ = det.score_stream(test, det.init_state())
    np.testing.assert_allclose(scores, _reference_cusum(z, 0.4, h=4.0), atol=1e-10)
    unreset = CUSUMChart(k=0.4, h=4.0, reset=False).fit(train)
    np.testing.assert_allclose(unreset.score_stream(test, det.init_state())[0], _reference_cusum(z, 0.4), atol=1e-10)


def test_cusum_restarts_after_each_signal() -> None:
    rng = np.random.default_rng(8)
    det = CUSUMChart().fit(rng.normal(size=1000))
    flags = det.predict(np.r_[rng.normal(size=200), rng.normal(1.5, 1.0, 800)])
    assert not flags[:200].any()
    # a lasting shift signals once per run length (about h / (shift - k) = 5 rows here), not on every row
    assert 0.05 < flags[200:].mean() < 0.5
    run_lengths = np.diff(np.flatnonzero(flags))
    assert run_lengths.min() >= 2
    # without the restart (the old behaviour) the same shift is flagged on nearly every row
    unreset = CUSUMChart(reset=False).fit(rng.normal(size=1000))
    assert unreset.predict(rng.normal(1.5, 1.0, 800))[50:].mean() > 0.95


def test_cusum_finds_a_one_sigma_shift_after_it_starts() -> None:
    rng = np.random.default_rng(5)
    det = CUSUMChart().fit(rng.normal(size=1000))
    flags = det.predict(np.r_[rng.normal(size=300), rng.normal(1.0, 1.0, 300)])
    assert not flags[:300].any()
    assert 300 <= int(np.argmax(flags)) < 330


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, st.tuples(st.integers(1, 40), st.integers(1, 3)), elements=st.floats(-5, 5)),
    st.floats(0, 10),
)
def test_reset_cumsum_equals_the_loop(increments: np.ndarray, start: float) -> None:
    expected = np.empty_like(increments)
    level = np.full(increments.shape[1], start)
    for t, row in enumerate(increments):
        level = np.maximum(0.0, level + row)
        expected[t] = level
    got = reset_cumsum(increments, np.full(increments.shape[1], start))
    np.testing.assert_allclose(got, expected, atol=1e-9)


def test_long_cusum_streams_match_the_recursion_across_blocks() -> None:
    rng = np.random.default_rng(6)
    train = rng.normal(size=500)
    test = rng.normal(size=40_000) + 0.3 * np.sin(np.arange(40_000) / 300.0)
    det = CUSUMChart(k=0.25).fit(train)
    z = (test - train.mean()) / train.std(ddof=1)
    expected = _reference_cusum(z, 0.25, h=5.0)
    np.testing.assert_allclose(det.score_stream(test, det.init_state())[0], expected, atol=1e-9)
