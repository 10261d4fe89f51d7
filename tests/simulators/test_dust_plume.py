"""Gaussian plume: downwind only, centred on the plume axis, diluted by wind."""

from __future__ import annotations

import numpy as np
import pytest

from simulators.plume import unit_plume

SRC = np.zeros((1, 2))
H, SPREAD = np.array([2.0]), np.array([0.0])


def conc(x: list[float], y: list[float], wind_from: float = 270.0, speed: float = 4.0) -> np.ndarray:
    """Unit plume at receptors (x, y) for one time with wind from ``wind_from``."""
    out = unit_plume(SRC, H, SPREAD, np.array(x), np.array(y), np.array([wind_from]), np.array([speed]), np.ones(1))
    return np.asarray(out[0, 0])


def test_only_downwind_receptors_see_the_plume() -> None:
    c = conc([300.0, -300.0, 0.0, 0.0], [0.0, 0.0, 300.0, -300.0], wind_from=270.0)  # westerly blows to the east
    assert c[0] > 0.0 and np.all(c[1:] == 0.0)


def test_symmetric_across_the_axis_and_falling_off_it() -> None:
    c = conc([400.0, 400.0, 400.0, 400.0], [0.0, 20.0, -20.0, 80.0])
    assert c[1] == pytest.approx(c[2], rel=1e-9) and c[0] > c[1] > c[3] > 0.0


def test_more_wind_and_more_distance_dilute() -> None:
    near, far = conc([200.0, 800.0], [0.0, 0.0])
    assert near > far > 0.0
    assert conc([200.0], [0.0], speed=8.0)[0] == pytest.approx(near / 2.0, rel=1e-12)


def test_moving_receptors_equal_fixed_ones_at_the_same_place() -> None:
    t = 3
    dirs, speed, k = np.array([250.0, 260.0, 270.0]), np.full(t, 3.0), np.ones(t)
    fixed = unit_plume(SRC, H, SPREAD, np.array([300.0, 500.0]), np.array([10.0, -40.0]), dirs, speed, k)
    moving = unit_plume(SRC, H, SPREAD, np.tile([300.0, 500.0], (t, 1)), np.tile([10.0, -40.0], (t, 1)), dirs, speed, k)
    assert np.array_equal(fixed, moving)
