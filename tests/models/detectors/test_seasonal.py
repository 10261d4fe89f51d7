"""Seasonal baseline learns the daily profile and flags deviations from it, not the profile itself."""

from __future__ import annotations

import numpy as np

from models.detectors.seasonal import SeasonalBaseline
from models.streaming import Source, Tracker


def _daily(days: int, seed: int) -> np.ndarray:
    t = np.arange(days * 96)
    return 20 + 8 * np.sin(2 * np.pi * t / 96) + np.random.default_rng(seed).normal(0, 0.5, t.size)


def test_profile_is_learned_and_residuals_are_small() -> None:
    det = SeasonalBaseline(period=96, n_bins=48).fit(_daily(14, 0))
    phase = (np.arange(48) * 2 + 1) / 96
    np.testing.assert_allclose(det.baseline_[:, 0], 20 + 8 * np.sin(2 * np.pi * phase), atol=0.6)
    assert det.predict(_daily(3, 1)).mean() < 0.01


def test_phase_offset_and_explicit_positions_agree() -> None:
    det = SeasonalBaseline(period=96, n_bins=24).fit(_daily(10, 2))
    x = _daily(2, 3)[30:80]
    scores, _ = det.score_stream(x, det.init_state(offset=30))
    np.testing.assert_allclose(scores, np.abs(det.residuals(x, np.arange(30, 80))).max(axis=1))


def test_training_shorter_than_a_period_falls_back_to_the_overall_level() -> None:
    x = _daily(1, 4)[:50]  # half a day of 96 samples
    det = SeasonalBaseline(period=96, n_bins=24).fit(x)
    assert det.fallback_bins_ == 12
    later = _daily(1, 5)[50:96]  # the unseen half of the day: scored against the overall level and scale
    scores, _ = det.score_stream(later, det.init_state(offset=50))
    assert np.isfinite(scores).all()
    assert det.baseline_[20, 0] == np.median(x)
    step = later.copy()
    step[10] += 100.0
    assert int(np.argmax(det.score_stream(step, det.init_state(offset=50))[0])) == 10


def test_period_is_a_time_span_so_gaps_keep_the_phase() -> None:
    rng = np.random.default_rng(6)
    times = np.sort(rng.choice(np.arange(0, 14 * 86_400, 300), size=3000, replace=False)).astype(float)
    x = 20 + 8 * np.sin(2 * np.pi * times / 86_400) + rng.normal(0, 0.5, times.size)
    det = SeasonalBaseline(n_bins=48, period_s=86_400.0).fit(x, times=times)
    # a later day sampled irregularly, with a six-hour gap: still on the profile
    later = np.r_[np.arange(20 * 86_400, 20 * 86_400 + 30_000, 420), np.arange(20 * 86_400 + 52_000, 21 * 86_400, 240)]
    y = 20 + 8 * np.sin(2 * np.pi * later / 86_400) + rng.normal(0, 0.5, later.size)
    assert det.predict(y, times=later.astype(float)).mean() < 0.02
    # counting samples instead of time would lose the phase after the gap
    shifted = 20 + 8 * np.sin(2 * np.pi * (later + 43_200) / 86_400) + rng.normal(0, 0.5, later.size)
    assert det.predict(shifted, times=later.astype(float)).mean() > 0.5


def test_the_streaming_tracker_passes_timestamps() -> None:
    rng = np.random.default_rng(7)
    times = np.arange(0, 5 * 86_400, 600, dtype=float)
    x = 20 + 8 * np.sin(2 * np.pi * times / 86_400) + rng.normal(0, 0.5, times.size)
    det = SeasonalBaseline(n_bins=24).fit(x[:432], times=times[:432])
    source = Source(key="s", alert_type="model:s", kind="dust", columns=("pm10",), build=lambda d: det)
    later = times[432:] + 3 * 3600  # irregular start: the tracker's phases come from the timestamps
    fed = Tracker(source, det).feed(x[432:, None], later)
    np.testing.assert_allclose(fed.scores, det.decision_function(x[432:], times=later))
