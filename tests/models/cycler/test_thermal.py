from __future__ import annotations

import numpy as np
import pytest

from models.cycler.thermal import ThermalExcursion
from tests.models.detector_checks import assert_chunked_equals_whole, assert_protocol


def _temps(n: int = 1200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(n, dtype=np.float64)
    return t, 28.0 + np.random.default_rng(seed).normal(0.0, 0.05, n)


def test_temperature_limit_flags_exactly_the_hot_samples() -> None:
    t, x = _temps()
    x[500:520] = 61.0
    det = ThermalExcursion(max_temperature=60.0, max_rate=1000.0).fit()
    flags = det.predict(x, times=t)
    assert np.flatnonzero(flags).tolist() == list(range(500, 520))


def test_heating_rate_flags_a_runaway_ramp_not_noise() -> None:
    t, x = _temps()
    x[600:] += 0.1 * np.arange(600)  # 6 °C/min from t=600, stays below 60 °C for a while
    det = ThermalExcursion(max_temperature=200.0, max_rate=2.0, rate_window_s=60.0).fit()
    flags = det.predict(x, times=t)
    assert not flags[:600].any()
    first = int(np.argmax(flags))
    assert 600 < first <= 600 + 25  # 2 °C/min over a 60 s span is reached after ~20 s of 6 °C/min
    assert flags[640:].all()


def test_nan_gaps_and_order() -> None:
    t, x = _temps(300)
    x[[10, 11, 200]] = np.nan
    det = ThermalExcursion().fit()
    scores = det.decision_function(x, times=t)
    assert np.isnan(scores[[10, 11, 200]]).all() and np.isfinite(np.delete(scores, [10, 11, 200])).all()
    with pytest.raises(ValueError, match="non-decreasing"):
        det.decision_function(x, times=t[::-1])
    with pytest.raises(ValueError, match="times"):
        det.decision_function(x)


def test_chunked_equals_whole_and_protocol() -> None:
    t, x = _temps(500, 1)
    t[250:] += 3600.0
    x[300:] += 0.2 * np.arange(200)
    x[[5, 6, 255]] = np.nan
    assert_chunked_equals_whole(ThermalExcursion(rate_window_s=30.0).fit(), x, t)
    assert_protocol(ThermalExcursion())
