"""Emission model: calibration on the layout, envelopes, random episodes following the loading shifts."""

from __future__ import annotations

import numpy as np

from simulators.episodes import EmissionModel, activity, envelope, random_episodes
from simulators.plume import unit_plume
from simulators.site import build_layout

T0 = 1_717_459_200_000


def test_best_bearing_carries_each_source_over_two_sensors() -> None:
    layout = build_layout(24, 1)
    em = EmissionModel.from_layout(layout)
    xy = layout.sensor_xy()
    for s, src in enumerate(layout.sources):
        unit = unit_plume(
            np.array([[src.x, src.y]]),
            np.array([src.height]),
            np.array([src.spread]),
            xy[:, 0],
            xy[:, 1],
            em.best_from_deg[s : s + 1],
            np.array([4.0]),
            np.ones(1),
        )[0, 0]
        top2 = np.sort(unit * em.episode_rate[s])[-2:]
        assert top2[0] > 80.0, src.name


def test_envelope_is_zero_outside_and_one_inside() -> None:
    t = T0 + np.arange(0, 200, dtype=np.int64) * 1000
    env = envelope(t, T0 + 50_000, T0 + 150_000)
    assert np.all(env[:50] == 0.0) and np.all(env[150:] == 0.0)
    assert np.all(env[60:140] == 1.0) and env[50] > 0.0


def test_random_episodes_follow_rate_and_shifts_and_ignore_window_cuts() -> None:
    shift_bound = np.array([True, True, False])
    days = 56
    eps = random_episodes(0, 4.0, shift_bound, T0, T0 + days * 86_400_000, 2.0)
    assert abs(len(eps) - 4.0 * days) < 4 * np.sqrt(4.0 * days)
    assert all(ep.source_index in (0, 1) and not ep.explicit for ep in eps)
    start_h = (np.array([ep.start_ms for ep in eps]) / 3.6e6 + 2.0) % 24.0
    day_share = np.mean((start_h >= 6.0) & (start_h < 22.0))
    assert day_share > 0.8
    cut = T0 + 3 * 86_400_000 + 1234
    first = random_episodes(0, 4.0, shift_bound, T0, cut, 2.0)
    second = random_episodes(0, 4.0, shift_bound, cut, T0 + 7 * 86_400_000, 2.0)
    week = random_episodes(0, 4.0, shift_bound, T0, T0 + 7 * 86_400_000, 2.0)
    assert set(first) | set(second) == set(week)
    assert random_episodes(0, 0.0, shift_bound, T0, cut, 2.0) == ()


def test_activity_is_highest_on_weekday_shifts() -> None:
    hours = np.array([10.0, 10.0, 3.0])
    weekday = np.array([1, 6, 1])
    assert activity(hours, weekday).tolist() == [1.0, 0.4, 0.15]
