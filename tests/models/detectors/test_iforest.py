"""The isolation forest loads only forests made of trusted types."""

from __future__ import annotations

import base64

import numpy as np
import pytest
import skops.io as sio  # type: ignore[import-untyped]

from models.detectors.iforest import IsolationForestDetector


def test_threshold_is_the_training_quantile() -> None:
    X = np.random.default_rng(0).normal(size=(1000, 2))
    det = IsolationForestDetector(n_estimators=30, contamination=0.05).fit(X)
    assert det.predict(X).mean() == pytest.approx(0.05, abs=0.01)


def test_a_blob_that_is_not_a_forest_is_refused() -> None:
    det = IsolationForestDetector(n_estimators=5).fit(np.random.default_rng(1).normal(size=(100, 2)))
    state = det.to_state()
    state["fitted"]["forest_"]["skops"] = base64.b64encode(sio.dumps({"a": 1})).decode()
    with pytest.raises(ValueError, match="not an IsolationForest"):
        IsolationForestDetector.from_state(state)
