"""The registry maps the stable names to classes and rebuilds fitted detectors from saved state."""

from __future__ import annotations

import json

import numpy as np
import pytest

from models.detectors.registry import DETECTORS, build_detector, detector_class, load_detector


def test_stable_names() -> None:
    assert set(DETECTORS) == {
        "ewma",
        "cusum",
        "shewhart",
        "robust_z",
        "seasonal",
        "pca",
        "dynamic_pca",
        "iforest",
        "recentred_pca",
        "diff_variance",
        "stream_monitor",
        "process_monitor",
    }
    assert all(cls.name == name for name, cls in DETECTORS.items())


def test_build_and_load() -> None:
    X = np.random.default_rng(0).normal(size=(300, 4))
    det = build_detector("dynamic_pca", {"lags": 1, "n_components": 2}).fit(X)
    loaded = load_detector(json.loads(json.dumps(det.to_state())))
    np.testing.assert_array_equal(loaded.decision_function(X), det.decision_function(X))


def test_unknown_name_and_mismatched_state_are_refused() -> None:
    with pytest.raises(KeyError, match="unknown detector"):
        detector_class("nope")
    state = build_detector("ewma").fit(np.zeros(10) + np.arange(10)).to_state()
    with pytest.raises(ValueError, match="not 'cusum'"):
        detector_class("cusum").from_state(state)
