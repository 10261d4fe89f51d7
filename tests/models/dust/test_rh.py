from __future__ import annotations

import numpy as np
import pytest

from models.dust.rh import RHArtefact, growth_factor
from tests.models.dust.dust_checks import assert_chunked_equals_whole, assert_protocol


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
