"""process_monitor: continues from training, follows slow drift, does not learn from what it flags."""

from __future__ import annotations

import json

import numpy as np

from models.detectors.process_monitor import MEMBERS, ProcessMonitor, robust_location_scale
from models.detectors.registry import build_detector, load_detector


def _line(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mixing = np.random.default_rng(42).normal(size=(2, 5))
    return 20.0 + rng.normal(size=(n, 2)) @ mixing + 0.3 * rng.normal(size=(n, 5))


def test_built_from_the_registry_with_defaults_and_saved_as_json() -> None:
    det = build_detector("process_monitor").fit(_line(300, 0))
    assert isinstance(det, ProcessMonitor) and det.member_scales_.shape == (len(MEMBERS),)
    loaded = load_detector(json.loads(json.dumps(det.to_state(), allow_nan=False)))
    test = _line(200, 1)
    np.testing.assert_array_equal(loaded.decision_function(test), det.decision_function(test))


def test_predict_continues_from_the_training_rows_without_a_warm_up() -> None:
    X = _line(400, 2)
    det = ProcessMonitor().fit(X[:300])
    state = det.init_state()
    np.testing.assert_array_equal(np.asarray(state["tail"]), X[298:300])
    # the first rows after training are scored with their lag window from training: not the 0 of a warm-up
    members = det.member_scores(X[300:])
    assert (members[:2, 0] > 0).all() and (members[:2, 1] > 0).all()


def test_a_slow_drift_is_followed_but_a_fault_after_it_is_flagged() -> None:
    train, test = _line(400, 3), _line(3000, 4)
    direction = np.random.default_rng(42).normal(size=(2, 5))[0]  # along the process's own variation
    test = test + np.linspace(0.0, 4.0, 3000)[:, None] * direction
    test[2500:2600, 3] += 4.0 * train[:, 3].std()
    fixed = ProcessMonitor(memory=0.0).fit(train).predict(test)
    flags = ProcessMonitor().fit(train).predict(test)
    assert fixed[:2500].mean() > 0.25
    assert flags[:2500].mean() < 0.08
    assert flags[2505:2600].mean() > 0.9


def test_flagged_rows_do_not_move_the_baseline() -> None:
    train = _line(400, 5)
    det = ProcessMonitor(relearn=0.0).fit(train)
    shifted = _line(600, 6) + 5.0 * train.std(axis=0)  # flagged from the start
    flags, state = det.score_stream(shifted, det.init_state())
    assert flags[5:].min() > det.threshold_
    np.testing.assert_array_equal(state["offset"], np.zeros(train.shape[1]))
    # with relearning, a lasting shift becomes the new normal in the end
    slow = ProcessMonitor(relearn=300.0).fit(train)
    long_shift = _line(6000, 7) + 5.0 * train.std(axis=0)
    late = slow.predict(long_shift)[-1000:]
    assert late.mean() < 0.1


def test_a_column_flat_in_training_is_ignored_and_named() -> None:
    X = _line(400, 8)
    X[:, 2] = 7.0
    det = ProcessMonitor().fit(X)
    assert det.ignored_.tolist() == [False, False, True, False, False]
    test = _line(300, 9)
    test[:, 2] = 7.0 + np.random.default_rng(0).normal(size=300)
    assert det.predict(test).mean() < 0.1


def test_robust_scale_is_floored_at_the_resolution() -> None:
    x = np.r_[np.zeros(95), np.ones(5)][:, None] * 0.5  # a quantised channel: IQR 0, step 0.5
    _, scale = robust_location_scale(x)
    assert scale[0] == 0.5  # one quantum, not the 1e-12 of an IQR of zero
