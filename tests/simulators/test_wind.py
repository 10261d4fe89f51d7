"""Weather: persistence and turning of the wind, steering, diurnal/weekly background, batching independence."""

from __future__ import annotations

import numpy as np
import pytest

from simulators.wind import SpectralProcess, Steer, Weather

T0 = 1_717_459_200_000  # 2024-06-04 00:00 UTC (a Tuesday)


def circ_diff(a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    return np.asarray(np.abs((a - b + 180.0) % 360.0 - 180.0))


def test_spectral_process_has_the_requested_spread() -> None:
    p = SpectralProcess(np.random.default_rng(1), n=32, period_min_s=60, period_max_s=3600, std=3.0)
    values = p(np.arange(0.0, 30 * 86400.0, 10.0))
    assert abs(values.mean()) < 0.3
    assert values.std() == pytest.approx(3.0, rel=0.15)


def test_wind_persists_over_steps_and_turns_over_days() -> None:
    w = Weather(seed=2)
    t = T0 + np.arange(0, 7 * 8640, dtype=np.int64) * 10_000
    d = w.wind_dir(t)
    assert np.all((d >= 0.0) & (d < 360.0))
    assert np.median(circ_diff(d[1:], d[:-1])) < 2.0
    hourly = d[::360]
    assert circ_diff(hourly, hourly[0]).max() > 45.0
    st = w.state(t)
    assert 2.0 < np.median(st.wind_speed) < 7.0 and st.wind_speed.min() >= 0.3


def test_weather_is_deterministic_and_independent_of_batching() -> None:
    t = T0 + np.arange(500, dtype=np.int64) * 10_000
    whole = Weather(seed=5).state(t)
    parts = [Weather(seed=5).state(t[i : i + 7]) for i in range(0, 500, 7)]
    for name in ("wind_speed", "wind_dir", "temperature", "rh", "background_pm10"):
        assert np.array_equal(getattr(whole, name), np.concatenate([getattr(p, name) for p in parts])), name
    assert not np.array_equal(whole.wind_dir, Weather(seed=6).state(t).wind_dir)


def test_steering_turns_the_wind_only_around_its_interval() -> None:
    w = Weather(seed=0)
    t = T0 + np.arange(0, 8640, dtype=np.int64) * 10_000
    steer = Steer(T0 + 3 * 3_600_000, T0 + 4 * 3_600_000, from_deg=90.0, ramp_s=600.0)
    free, steered = w.wind_dir(t), w.wind_dir(t, [steer])
    inside = (t >= steer.start_ms) & (t < steer.end_ms)
    far = (t < steer.start_ms - 600_000) | (t >= steer.end_ms + 600_000)
    assert circ_diff(steered[inside], 90.0).max() < 15.0
    assert np.array_equal(free[far], steered[far])


def test_background_follows_weekdays_and_rush_hours() -> None:
    w = Weather(seed=3)
    t = T0 + np.arange(0, 28 * 24 * 60, dtype=np.int64) * 60_000  # four weeks, one-minute steps
    st = w.state(t)
    weekday, weekend = st.weekday < 5, st.weekday >= 5
    assert st.background_pm10[weekday].mean() > 1.2 * st.background_pm10[weekend].mean()
    rush = (st.local_hour >= 7.5) & (st.local_hour < 8.5) & weekday
    night = (st.local_hour >= 2.0) & (st.local_hour < 4.0) & weekday
    assert st.background_pm10[rush].mean() > 1.2 * st.background_pm10[night].mean()
    assert st.rh[night].mean() > st.rh[(st.local_hour >= 14.0) & (st.local_hour < 16.0)].mean() + 10.0
