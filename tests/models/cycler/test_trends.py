from __future__ import annotations

import numpy as np
import pytest

from models.cycler.features import cycle_features
from models.cycler.trends import CapacityFade, CoulombicEfficiencyDrop, KneeOnset, ResistanceGrowth
from tests.models.cycler.cycler_synth import synthetic_channel
from tests.models.detector_checks import assert_chunked_equals_whole, assert_protocol


def _knee_curve(knee: int = 300, n: int = 450, seed: int = 0) -> np.ndarray:
    cycles = np.arange(n, dtype=np.float64)
    q = 2.0 - 2e-4 * cycles - 5e-3 * np.maximum(cycles - knee, 0.0)
    return q + np.random.default_rng(seed).normal(0.0, 1e-3, n)


def test_capacity_fade_flags_fast_fade_only() -> None:
    q = _knee_curve()
    det = CapacityFade(window=20, max_fade=0.001).fit()
    flags = det.predict(q)
    assert not flags[:300].any()
    assert flags[310:].all()
    scores = det.decision_function(q)
    assert np.isnan(scores[:4]).all()
    assert abs(np.nanmedian(scores[50:290]) - 2e-4 / 2.0) < 5e-5


def test_knee_onset_flags_within_a_few_cycles_of_the_knee() -> None:
    for seed in range(3):
        flags = KneeOnset(window=15, reference_cycles=100).fit().predict(_knee_curve(seed=seed))
        first = int(np.argmax(flags))
        assert 300 <= first <= 310, first
        assert flags[first + 15 :].all()


def test_knee_onset_quiet_before_reference_and_on_linear_fade() -> None:
    det = KneeOnset(window=15, reference_cycles=100).fit()
    scores = det.decision_function(_knee_curve(knee=10_000))
    assert np.isnan(scores[:99]).all()
    assert np.nanmax(scores) < det.threshold_


def test_ce_drop_on_features_of_healthy_and_leaking_cells() -> None:
    capacity = np.full(40, 2.0)
    ce = np.r_[np.full(20, 0.9995), np.full(20, 0.985)]
    feats = cycle_features(synthetic_channel(capacity, ce))
    flags = CoulombicEfficiencyDrop(window=5).fit().predict(feats.coulombic_efficiency)
    assert not flags[:20].any()
    assert flags[23:].all() and not flags[22]  # cycle 22: mean of 2 healthy + 3 leaking = 0.9908


def test_resistance_growth_from_its_own_reference() -> None:
    rng = np.random.default_rng(0)
    r = 0.020 * (1 + rng.normal(0, 0.01, 200))
    r[100:] *= 1.5
    r[[30, 60]] = 0.2  # two bad pulses do not trip the trailing median
    flags = ResistanceGrowth(window=5, reference_cycles=10).fit().predict(r)
    assert not flags[:100].any() and flags[102:].all()
    offset = ResistanceGrowth(window=5, reference_cycles=10).fit().predict(r * 3.0)
    np.testing.assert_array_equal(offset, flags)  # relative to the cell's own start


@pytest.mark.parametrize(
    "det",
    [
        CapacityFade(window=10),
        KneeOnset(window=10, reference_cycles=30),
        CoulombicEfficiencyDrop(window=4),
        ResistanceGrowth(window=4, reference_cycles=5),
    ],
    ids=lambda d: type(d).__name__,
)
def test_chunked_equals_whole_nan_and_protocol(det: CapacityFade) -> None:
    x = _knee_curve(knee=120, n=200, seed=3)
    x[[0, 3, 50, 51, 52, 150]] = np.nan
    det.fit()
    assert_chunked_equals_whole(det, x)
    scores = det.decision_function(x)
    assert np.isfinite(scores[60:150]).all()
    np.testing.assert_array_equal(scores, det.decision_function(x))
    with pytest.raises(ValueError, match="infinite"):
        det.decision_function(np.r_[x[:3], np.inf])
    assert_protocol(type(det)(**det.get_params()))


def test_parameters_validated() -> None:
    for bad in (
        CapacityFade(window=1),
        KneeOnset(factor=0.5),
        CoulombicEfficiencyDrop(max_loss=1.5),
        ResistanceGrowth(min_periods=10, window=5),
    ):
        with pytest.raises(ValueError):
            bad.fit()
