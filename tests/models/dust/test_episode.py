from __future__ import annotations

import numpy as np
import pytest

from models.dust.episode import EpisodeJump, ShortTermMeanExceedance
from tests.models.detector_checks import assert_chunked_equals_whole, assert_protocol

DAY = 86_400.0


def _background(n: int, seed: int = 0, level: float = 15.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = 1.7e9 + np.arange(n) * 60.0
    return t, level * rng.lognormal(0.0, 0.25, n)


def test_short_mean_exceedance_starts_when_the_mean_crosses() -> None:
    t = np.arange(0.0, 7200.0, 10.0)
    x = np.full(t.size, 20.0)
    x[360:420] = 420.0  # 10 minutes at 420: the 10-min mean crosses 100 after 2 minutes
    flags = ShortTermMeanExceedance(limit=100.0).fit().predict(x, times=t)
    on = np.flatnonzero(flags)
    assert on[0] == 360 + 12  # mean = (48*20 + 13*420)/61 > 100 first at the 13th high sample
    assert on[-1] < 420 + 60 and not flags[:372].any()


def test_jump_flags_a_plume_on_a_quiet_and_on_a_busy_background() -> None:
    for level in (8.0, 80.0):
        t, x = _background(2 * 1440, level=level)
        start, end = 1440 + 300, 1440 + 360
        x[start:end] += 6 * level
        flags = EpisodeJump(window_s=600.0, baseline_s=DAY, min_scale=2.0).fit().predict(x, times=t)
        assert flags[start + 5 : end].all(), level
        assert not flags[1440:start].any() and not flags[end + 10 :].any()


def test_jump_warm_up_is_nan_until_enough_baseline_bins() -> None:
    t, x = _background(300)
    det = EpisodeJump(window_s=600.0, baseline_s=DAY, min_bins=12).fit()
    scores = det.decision_function(x, times=t)
    first_bin = np.floor(t[0] / 600.0)
    has_baseline = np.floor(t / 600.0) - first_bin >= 12
    assert np.isnan(scores[~has_baseline]).all() and np.isfinite(scores[has_baseline]).all()


def test_jump_nan_samples_and_gaps() -> None:
    t, x = _background(1500, 2)
    x[[100, 101, 900]] = np.nan
    t[700:] += 5 * 3600.0  # an outage of five hours
    det = EpisodeJump(window_s=600.0, baseline_s=DAY / 4).fit()
    scores = det.decision_function(x, times=t)
    assert np.isnan(scores[[100, 101, 900]]).all()
    # Right after the outage about 7 of the 36 baseline bins have data (< min_bins): no decision until
    # 12 bins have been filled again, two hours later.
    assert np.isnan(scores[700:705]).all()
    assert np.isfinite(scores[700 + 130 :][~np.isnan(x[700 + 130 :])]).all()
    with pytest.raises(ValueError, match="infinite"):
        det.decision_function(np.r_[x[:5], np.inf], times=t[:6])


def test_jump_chunked_equals_whole() -> None:
    t, x = _background(900, 3)
    x[600:640] += 100.0
    x[[5, 400]] = np.nan
    t[500:] += 7200.0
    det = EpisodeJump(window_s=600.0, baseline_s=4 * 3600.0, min_bins=6).fit()
    assert_chunked_equals_whole(det, x, t)


def test_protocol_and_validation() -> None:
    assert_protocol(EpisodeJump())
    assert_protocol(ShortTermMeanExceedance())
    with pytest.raises(ValueError):
        EpisodeJump(window_s=600.0, baseline_s=300.0).fit()
    with pytest.raises(ValueError):
        EpisodeJump(min_bins=1000).fit()
