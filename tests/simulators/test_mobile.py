"""Mobile sensors: continuous, bounded trajectories with stops."""

from __future__ import annotations

import numpy as np

from simulators.mobile import Fleet

T0 = 1_717_459_200_000


def test_vehicles_drive_continuously_within_speed_and_stop_at_waypoints() -> None:
    fleet = Fleet(4, seed=1)
    t = T0 + np.arange(0, 4 * 3600, dtype=np.int64) * 1000
    x, y = fleet.positions(t)
    assert x.shape == (t.size, 4)
    speed = np.hypot(np.diff(x, axis=0), np.diff(y, axis=0))
    assert speed.max() <= 9.0 + 1e-9
    assert np.all((speed < 1e-9).mean(axis=0) > 0.05)  # standing still at waypoints some of the time
    assert np.all((speed > 4.0).mean(axis=0) > 0.3)  # and driving much of it
    assert np.abs(x).max() < 1500.0 and np.abs(y).max() < 1000.0


def test_positions_depend_on_absolute_time_only() -> None:
    fleet = Fleet(2, seed=0)
    t = T0 + np.arange(100, dtype=np.int64) * 10_000
    x, y = fleet.positions(t)
    x2, y2 = fleet.positions(t[40:60])
    assert np.array_equal(x[40:60], x2) and np.array_equal(y[40:60], y2)
    assert Fleet(0, seed=0).positions(t)[0].shape == (100, 0)
