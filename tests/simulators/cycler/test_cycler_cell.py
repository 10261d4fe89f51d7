"""Closed-form cell physics: OCV curve and the ageing law."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from simulators.cycler import AgeingParams
from simulators.cycler.cell import capacity_fraction, ocv, ocv_slope, resistance_factor


def test_ocv_rises_with_soc_inside_the_nmc_window() -> None:
    soc = np.linspace(0.0, 1.0, 201)
    v = ocv(soc)
    assert np.all(np.diff(v) > 0)
    assert 2.4 < v[0] < 3.1
    assert 4.15 < v[-1] < 4.25
    assert 3.6 < float(ocv(0.5)) < 3.9


def test_ocv_slope_matches_finite_differences() -> None:
    soc = np.array([0.005, 0.12, 0.45, 0.77, 0.97])
    eps = 1e-6
    np.testing.assert_allclose(ocv_slope(soc), (ocv(soc + eps) - ocv(soc - eps)) / (2 * eps), rtol=1e-6)


@given(
    fade=st.floats(1e-6, 1e-3),
    knee=st.floats(10.0, 2000.0),
    curv=st.floats(1e-7, 1e-3),
    width=st.floats(1.0, 50.0),
)
def test_capacity_fraction_never_increases(fade: float, knee: float, curv: float, width: float) -> None:
    q = capacity_fraction(np.arange(0, 3000, 3), fade, knee, curv, width)
    assert np.all(np.diff(q) <= 0)
    assert q[0] <= 1.0


def test_fade_accelerates_past_the_knee_and_resistance_follows() -> None:
    p = AgeingParams()
    n = np.arange(0.0, 1000.0)
    q = capacity_fraction(n, p.fade_per_cycle, p.knee_cycle, p.knee_curvature, p.knee_width)
    slope = -np.diff(q)
    before = slope[: int(p.knee_cycle) - 100].mean()
    after = slope[int(p.knee_cycle) + 150 :].mean()
    assert after > 10 * before
    assert q[int(p.knee_cycle) - 100] > 0.97
    r = resistance_factor(n, p, p.knee_cycle, p.knee_curvature)
    assert r[0] == 1.0
    assert np.all(np.diff(r) > 0)
    assert np.diff(r)[-1] > 5 * np.diff(r)[0]
