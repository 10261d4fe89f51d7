"""Western Electric rules against a direct per-sample implementation."""

from __future__ import annotations

import numpy as np

from models.detectors.shewhart import ShewhartChart


def _reference_flags(z: np.ndarray) -> np.ndarray:
    flags = np.zeros(z.size, dtype=bool)
    for t in range(z.size):
        for sign in (1.0, -1.0):
            s = sign * z
            rule1 = s[t] > 3
            rule2 = t >= 2 and (s[t - 2 : t + 1] > 2).sum() >= 2
            rule3 = t >= 4 and (s[t - 4 : t + 1] > 1).sum() >= 4
            rule4 = t >= 7 and (s[t - 7 : t + 1] > 0).all()
            flags[t] |= bool(rule1 or rule2 or rule3 or rule4)
    return flags


def test_rules_match_the_definition() -> None:
    rng = np.random.default_rng(11)
    train = rng.normal(size=500)
    # a drifting test series exercises every rule on both sides
    test = rng.normal(size=600) + 1.5 * np.sin(np.arange(600) / 15.0)
    det = ShewhartChart().fit(train)
    z = (test - train.mean()) / train.std(ddof=1)
    expected = _reference_flags(z)
    assert expected.sum() > 20
    np.testing.assert_array_equal(det.predict(test), expected)


def test_in_control_data_rarely_signals() -> None:
    rng = np.random.default_rng(12)
    det = ShewhartChart().fit(rng.normal(size=2000))
    rate = det.predict(rng.normal(size=20000)).mean()
    assert rate < 0.03  # the four rules together alarm on roughly 1-2 % of in-control points


def test_long_streams_scored_in_blocks_equal_chunked_scoring() -> None:
    rng = np.random.default_rng(13)
    det = ShewhartChart().fit(rng.normal(size=500))
    x = rng.normal(size=40_000) + 0.5 * np.sin(np.arange(40_000) / 50.0)
    first, state = det.score_stream(x[:16_390], det.start_state())
    second, _ = det.score_stream(x[16_390:], state)
    np.testing.assert_array_equal(np.r_[first, second], det.decision_function(x))
