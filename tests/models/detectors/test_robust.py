"""Rolling robust z against explicit windows."""

from __future__ import annotations

import numpy as np

from models.detectors.robust import MAD_TO_SIGMA, RollingRobustZ, trailing_median


def test_trailing_median_matches_sorted_windows() -> None:
    x = np.random.default_rng(1).normal(size=100)
    for w in (4, 7):
        expected = [np.sort(x[j : j + w])[w // 2] for j in range(x.size - w + 1)]
        np.testing.assert_array_equal(trailing_median(x, w), expected)


def test_scores_match_the_definition() -> None:
    rng = np.random.default_rng(2)
    x, w = rng.standard_t(3, size=300), 9
    det = RollingRobustZ(window=w, scale_floor=0.0).fit(x)
    med = np.array([np.sort(x[t - w : t])[w // 2] for t in range(w, x.size)])
    dev = np.abs(x[w:] - med)
    scale = np.array([MAD_TO_SIGMA * np.sort(dev[i - w : i])[w // 2] for i in range(w, dev.size)])
    expected = np.r_[np.zeros(2 * w), dev[w:] / np.maximum(scale, 1e-12)]
    np.testing.assert_allclose(det.score_stream(x, det.init_state())[0], expected, rtol=1e-12)


def test_flat_line_scores_zero_and_a_step_out_of_it_is_flagged() -> None:
    det = RollingRobustZ(window=11).fit(np.random.default_rng(3).normal(size=200))
    x = np.r_[np.full(60, 2.0), 5.0]
    scores, _ = det.score_stream(x, det.init_state())
    assert np.all(scores[:60] == 0.0)
    assert det.predict(x)[-1]


def test_flat_training_floors_the_scale_at_the_level_not_at_1e_12() -> None:
    det = RollingRobustZ(window=11).fit(np.full(200, 50.0))
    x = np.full(100, 50.0)
    x[60] += 0.001  # a blip far below the sensor's resolution at this level
    assert det.decision_function(x).max() < 1.0
    x[80] += 5.0  # a real step out of the flat line is still flagged
    assert np.flatnonzero(det.predict(x)).tolist() == [80]


def test_quantised_data_floor_the_scale_at_one_step() -> None:
    rng = np.random.default_rng(4)
    train = np.round(rng.normal(20.0, 0.6, 500) * 2) / 2  # a sensor reading in 0.5 steps
    det = RollingRobustZ(window=11).fit(train)
    assert det.scale_min_[0] >= 0.5
    x = np.r_[np.full(50, 20.0), 20.5, np.full(20, 20.0)]  # a flat stretch, then one quantum
    assert not det.predict(x).any()


def test_predict_after_fit_continues_from_training() -> None:
    rng = np.random.default_rng(5)
    train, test = rng.normal(size=400), rng.normal(size=100)
    test[5] += 8.0  # inside what used to be the 2 x window warm-up of a restarted stream
    det = RollingRobustZ(window=31).fit(train)
    assert det.decision_function(test)[:62].any()
    assert np.flatnonzero(det.predict(test)).tolist() == [5]
    fresh, _ = det.score_stream(test, det.init_state())
    assert np.all(fresh[:62] == 0.0)  # a stream from nothing still warms up
