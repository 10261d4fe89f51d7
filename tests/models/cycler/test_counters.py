from __future__ import annotations

import numpy as np
import pytest

from models.cycler.counters import CapacityReset, CounterMonotonicity, previous_valid
from tests.models.cycler.cycler_synth import synthetic_channel
from tests.models.detector_checks import assert_chunked_equals_whole, assert_protocol


def _stream() -> np.ndarray:
    s = synthetic_channel(np.full(6, 2.0), np.ones(6))
    return np.column_stack([s.test_time, s.cycle_index, s.step_index, s.charge_capacity, s.discharge_capacity])


def test_healthy_stream_raises_nothing() -> None:
    X = _stream()
    assert not CounterMonotonicity().fit().predict(X[:, :2]).any()
    assert not CapacityReset().fit().predict(X[:, 1:]).any()
    assert not CapacityReset(scope="step").fit().predict(X[:, 1:]).any()


def test_channel_restart_detected_at_the_right_sample() -> None:
    X = _stream()
    k = 400
    X[k:, 0] -= X[k, 0]  # test_time restarts at 0
    X[k:, 1] = 1.0 + (X[k:, 1] - X[k, 1])  # and the cycle count starts again
    det = CounterMonotonicity().fit()
    assert np.flatnonzero(det.predict(X[:, :2])).tolist() == [k]
    assert det.decision_function(X[:, :2])[k] == 2.0


def test_restart_behind_missing_values_still_detected() -> None:
    X = _stream()[:, :2].copy()
    X[300:305, :] = np.nan
    X[305:, 0] -= 290
    flags = CounterMonotonicity(time_tolerance=1.0).fit().predict(X)
    assert np.flatnonzero(flags).tolist() == [305]
    np.testing.assert_array_equal(previous_valid(np.array([np.nan, 1.0, np.nan, 3.0]), 0.5), [0.5, 0.5, 1.0, 1.0])


def test_capacity_reset_mid_step_detected_at_the_right_sample() -> None:
    X = _stream()
    k = 2 * 130 + 30  # middle of the third cycle's charge step
    X[k : k + 30, 3] -= X[k, 3]
    glitch = 3 * 130 + 127  # final rest of the fourth cycle, discharge counter full
    X[glitch, 4] = 0.0
    det = CapacityReset().fit()
    flags = det.predict(X[:, 1:])
    assert np.flatnonzero(flags).tolist() == [k, glitch]
    assert det.decision_function(X[:, 1:])[k] == pytest.approx(_stream()[k - 1, 3])  # dropped to 0


def test_scope_step_accepts_per_step_counters() -> None:
    X = _stream()
    restart = np.r_[True, np.diff(X[:, 2]) != 0]
    # A cycler counting per step: the discharge counter restarts at every step boundary.
    step_start = np.maximum.accumulate(np.where(restart, np.arange(len(X)), 0))
    X[:, 4] -= X[step_start, 4]
    assert CapacityReset(scope="cycle").fit().predict(X[:, 1:]).any()
    assert not CapacityReset(scope="step").fit().predict(X[:, 1:]).any()


def test_chunked_equals_whole_nan_and_protocol() -> None:
    X = _stream()
    X[400:, 0] -= 300
    X[200:230, 3] -= 0.5
    X[[5, 50, 51, 401], :] = np.nan
    X[[100, 300], 3] = np.nan
    assert_chunked_equals_whole(CounterMonotonicity().fit(), X[:, :2])
    assert_chunked_equals_whole(CapacityReset().fit(), X[:, 1:])
    assert_chunked_equals_whole(CapacityReset(scope="step").fit(), X[:, 1:])
    assert_protocol(CounterMonotonicity())
    assert_protocol(CapacityReset())
    with pytest.raises(ValueError, match="4 columns"):
        CapacityReset().fit().decision_function(X[:, :2])
    with pytest.raises(ValueError):
        CapacityReset(scope="test").fit()  # type: ignore[arg-type]
