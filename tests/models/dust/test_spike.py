from __future__ import annotations

import numpy as np
import pytest

from models.detectors.base import NotFittedError
from models.dust.spike import SpikeDetector
from tests.models.detector_checks import assert_chunked_equals_whole, assert_protocol


def _noisy(n: int, seed: int = 0) -> np.ndarray:
    return 20.0 + np.random.default_rng(seed).normal(0.0, 2.0, n)


def test_spike_flagged_and_neighbours_not() -> None:
    x = _noisy(400)
    spikes = np.array([100, 250, 251 + 40])
    x[spikes] += 60.0
    flags = SpikeDetector(window=30, z=8.0, min_scale=1.0).fit().predict(x)
    assert flags[spikes].all()
    assert np.flatnonzero(flags).tolist() == spikes.tolist()


def test_lasting_step_flags_only_its_start() -> None:
    x = np.r_[_noisy(200, 1), _noisy(200, 2) + 80.0]
    flags = SpikeDetector(window=30).fit().predict(x)
    assert flags[200]
    # Once more than half the window sits on the new level the median has followed it.
    assert not flags[216:].any()
    assert not flags[:200].any()


def test_warm_up_gives_nan_and_no_flag() -> None:
    det = SpikeDetector(window=30, min_periods=10).fit()
    scores = det.decision_function(_noisy(50))
    assert np.isnan(scores[:10]).all() and np.isfinite(scores[10:]).all()


def test_nan_samples_score_nan_and_are_skipped_by_baseline() -> None:
    x = _noisy(300)
    x[[50, 51, 52, 120]] = np.nan
    x[150] += 60.0
    det = SpikeDetector(window=20).fit()
    scores = det.decision_function(x)
    assert np.isnan(scores[[50, 51, 52, 120]]).all()
    assert np.flatnonzero(det.predict(x)).tolist() == [150]
    with pytest.raises(ValueError, match="infinite"):
        det.decision_function(np.r_[x[:10], np.inf])


def test_chunked_equals_whole_and_deterministic() -> None:
    x = _noisy(500, 3)
    x[[40, 41, 300]] = np.nan
    x[200] += 90
    det = SpikeDetector(window=25, min_periods=5).fit()
    assert_chunked_equals_whole(det, x)
    np.testing.assert_array_equal(
        det.decision_function(x), SpikeDetector(window=25, min_periods=5).fit().decision_function(x)
    )


def test_parameters_validated_and_fit_required() -> None:
    with pytest.raises(NotFittedError):
        SpikeDetector().decision_function(_noisy(10))
    with pytest.raises(ValueError):
        SpikeDetector(window=2).fit()
    with pytest.raises(ValueError):
        SpikeDetector(min_scale=0).fit()


def test_protocol() -> None:
    assert_protocol(SpikeDetector(window=12))
