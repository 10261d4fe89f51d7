from __future__ import annotations

import numpy as np
import pytest

from models.dust.stuck import StuckSensor
from tests.models.detector_checks import assert_chunked_equals_whole, assert_protocol


def _series(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = 1.7e9 + np.arange(n) * 60.0
    return t, 25.0 + rng.normal(0.0, 3.0, n)


def test_stuck_segment_flagged_exactly_over_its_span() -> None:
    t, x = _series(600)
    x[200:400] = 31.4
    det = StuckSensor(window_s=1800.0, tolerance=0.05).fit()
    flags = det.predict(x, times=t)
    expected = (np.arange(600) >= 200) & (np.arange(600) < 400) & (t - t[200] > 1800.0)
    np.testing.assert_array_equal(flags, expected)
    assert flags.sum() == 200 - 31


def test_tolerance_absorbs_quantisation_noise() -> None:
    t, x = _series(300)
    x[100:250] = 12.0 + np.where(np.arange(150) % 2, 0.1, 0.0)
    strict = StuckSensor(window_s=600.0, tolerance=0.0).fit().predict(x, times=t)
    tolerant = StuckSensor(window_s=600.0, tolerance=0.1).fit().predict(x, times=t)
    assert not strict[100:250].any()
    assert tolerant[100 + 11 : 250].all() and not tolerant[:110].any() and not tolerant[250:].any()


def test_all_zero_run_flagged_after_its_own_window() -> None:
    t, x = _series(300)
    x[50:150] = 0.0
    det = StuckSensor(window_s=3600.0, zero_window_s=900.0).fit()
    flags = det.predict(x, times=t)
    idx = np.flatnonzero(flags)
    assert idx[0] == 50 + 16 and idx[-1] == 149 and idx.size == 150 - 66


def test_nan_neither_breaks_nor_extends_a_run() -> None:
    t, x = _series(200)
    x[50:150] = 7.0
    x[[60, 90, 91]] = np.nan
    det = StuckSensor(window_s=1200.0, tolerance=0.0).fit()
    scores = det.decision_function(x, times=t)
    assert np.isnan(scores[[60, 90, 91]]).all()
    flags = det.predict(x, times=t)
    assert np.flatnonzero(flags).tolist() == [i for i in range(71, 150) if i not in (90, 91)]
    with pytest.raises(ValueError, match="non-decreasing"):
        det.decision_function(x, times=t[::-1])


def test_equal_readings_across_a_gap_need_min_samples() -> None:
    t = 1.7e9 + np.r_[np.arange(10) * 10.0, 200.0 + np.arange(10) * 10.0]
    x = np.r_[np.linspace(3.0, 4.0, 9), 5.2, 5.2, 5.2, 5.2, np.linspace(6.0, 7.0, 7)]
    loose = StuckSensor(window_s=90.0, zero_window_s=60.0).fit().predict(x, times=t)
    assert np.flatnonzero(loose).tolist() == [10, 11, 12]  # the dropout made a 2-reading "flat line"
    det = StuckSensor(window_s=90.0, zero_window_s=60.0, min_samples=5).fit()
    assert not det.predict(x, times=t).any()
    stuck = np.r_[x[:10], np.full(10, 5.2)]
    flags = det.predict(stuck, times=t)
    assert np.flatnonzero(flags).tolist() == list(range(13, 20))  # fifth equal reading on
    assert_chunked_equals_whole(det, stuck, t)
    zeros = np.r_[x[:10], np.zeros(10)]
    assert np.flatnonzero(det.predict(zeros, times=t)).tolist() == [17, 18, 19]  # zero run from t=200, window 60 s


def test_chunked_equals_whole() -> None:
    t, x = _series(400, 1)
    x[100:220] = 5.0
    x[250:330] = 0.0
    x[[10, 105, 260]] = np.nan
    assert_chunked_equals_whole(StuckSensor(window_s=900.0, zero_window_s=600.0).fit(), x, t)
    assert_chunked_equals_whole(StuckSensor(window_s=900.0, zero_window_s=600.0, min_samples=20).fit(), x, t)


def test_protocol_and_validation() -> None:
    assert_protocol(StuckSensor())
    with pytest.raises(ValueError):
        StuckSensor(tolerance=-1).fit()
    with pytest.raises(ValueError):
        StuckSensor(min_samples=0).fit()
