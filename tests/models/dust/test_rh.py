from __future__ import annotations

import numpy as np
import pytest

from models.dust.rh import RHArtefact, growth_factor
from tests.models.detector_checks import assert_chunked_equals_whole, assert_protocol


def test_growth_follows_the_kappa_koehler_formula() -> None:
    rh = np.array([0.0, 50.0, 80.0, 90.0])
    aw = rh / 100
    np.testing.assert_allclose(growth_factor(rh, kappa=0.4), 1 + 0.4 * aw**2 / (1 - aw))
    assert growth_factor(99.9, kappa=0.4) == growth_factor(95.0, kappa=0.4)


def test_flags_above_threshold_and_keeps_raw_and_corrected() -> None:
    rh = np.array([30.0, 69.0, 71.0, 85.0, np.nan])
    pm = np.array([10.0, 10.0, 10.0, 10.0, 10.0])
    out = RHArtefact(kappa=0.4, rh_threshold=70.0).fit().correct(np.column_stack([pm, rh]))
    assert out.flag.tolist() == [False, False, True, True, False]
    np.testing.assert_array_equal(out.raw, pm)
    np.testing.assert_allclose(out.corrected[:4], pm[:4] / growth_factor(rh[:4], kappa=0.4))
    assert out.corrected[4] == 10.0 and out.growth[4] == 1.0


def test_correction_recovers_a_simulated_dry_mass() -> None:
    rng = np.random.default_rng(0)
    dry = rng.uniform(5, 50, 500)
    rh = rng.uniform(20, 95, 500)
    raw = dry * growth_factor(rh, kappa=0.3)
    out = RHArtefact(kappa=0.3).fit().correct(np.column_stack([raw, rh]))
    np.testing.assert_allclose(out.corrected, dry)
    det = RHArtefact(kappa=0.3).fit()
    np.testing.assert_array_equal(det.predict(np.column_stack([raw, rh])), rh > 70.0)


def test_chunked_equals_whole_and_validation() -> None:
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.uniform(5, 50, 100), rng.uniform(20, 99, 100)])
    assert_chunked_equals_whole(RHArtefact().fit(), X)
    assert_protocol(RHArtefact())
    with pytest.raises(ValueError, match="two columns"):
        RHArtefact().fit().decision_function(X[:, :1])
    with pytest.raises(ValueError):
        RHArtefact(rh_threshold=97.0).fit()


def test_single_humid_readings_are_not_condensation() -> None:
    rh = np.array([90.0, 97.4, 92.0, 97.6, 97.8, 96.0, 98.5, 98.5, 98.5, 98.5, 60.0, 98.0])
    X = np.column_stack([np.full(rh.size, 20.0), rh])
    instant = RHArtefact(rh_threshold=97.0, rh_max=99.0).fit().predict(X)
    assert np.flatnonzero(instant).tolist() == [1, 3, 4, 6, 7, 8, 9, 11]
    det = RHArtefact(rh_threshold=97.0, rh_max=99.0, min_readings=3).fit()
    assert np.flatnonzero(det.predict(X)).tolist() == [8, 9]
    scores = det.decision_function(X)
    assert np.isnan(scores[:2]).all() and np.isfinite(scores[2:]).all()


def test_sustained_rh_skips_missing_readings_and_streams_in_chunks() -> None:
    rng = np.random.default_rng(2)
    rh = np.clip(90.0 + rng.normal(0.0, 4.0, 200), 0.0, 100.0)
    rh[49], rh[50:80] = 90.0, 98.7
    rh[[20, 60, 61, 150]] = np.nan
    X = np.column_stack([rng.uniform(5, 50, 200), rh])
    det = RHArtefact(rh_threshold=97.0, rh_max=99.0, min_readings=3).fit()
    flags = det.predict(X)
    held = [i for i in range(52, 80) if i not in (60, 61)]
    assert flags[held].all() and not flags[[50, 51, 60, 61]].any()  # third reading in a row on; gaps skipped
    assert np.isnan(det.decision_function(X)[[20, 60, 61, 150]]).all()
    assert_chunked_equals_whole(det, X)
    with pytest.raises(ValueError):
        RHArtefact(min_readings=0).fit()
