"""Seasonal baseline learns the daily profile and flags deviations from it, not the profile itself."""

from __future__ import annotations

import numpy as np
import pytest

from models.detectors.seasonal import SeasonalBaseline


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


def test_too_short_training_is_refused() -> None:
    with pytest.raises(ValueError, match="bins empty"):
        SeasonalBaseline(period=96, n_bins=24).fit(np.zeros(50))
