from __future__ import annotations

import numpy as np
import pytest

from models.cycler.knee import find_knee, two_line_knee


def _curve(knee: int, n: int = 500, seed: int = 0, noise: float = 2e-3) -> tuple[np.ndarray, np.ndarray]:
    cycles = np.arange(1.0, n + 1)
    q = 2.0 - 2e-4 * cycles - 3e-3 * np.maximum(cycles - knee, 0.0)
    return cycles, q + np.random.default_rng(seed).normal(0.0, noise, n)


@pytest.mark.parametrize("knee", [120, 250, 400])
def test_two_line_finds_a_constructed_knee(knee: int) -> None:
    for seed in range(3):
        cycles, q = _curve(knee, seed=seed)
        assert abs(find_knee(q, cycles) - knee) <= 3


@pytest.mark.parametrize("knee", [150, 300])
def test_max_curvature_finds_a_constructed_knee(knee: int) -> None:
    cycles, q = _curve(knee, seed=1)
    assert abs(find_knee(q, cycles, method="max_curvature") - knee) <= 5


def test_smooth_knee_is_found_near_the_bend() -> None:
    cycles = np.arange(1.0, 601)
    width = 20.0
    q = 2.0 - 1e-4 * cycles - 4e-3 * width * np.logaddexp(0.0, (cycles - 350) / width)
    assert abs(find_knee(q, cycles) - 350) <= 2 * width


def test_nan_capacity_skipped_and_bad_input_refused() -> None:
    cycles, q = _curve(200, seed=2)
    q[[10, 50, 201]] = np.nan
    assert abs(find_knee(q, cycles) - 200) <= 3
    with pytest.raises(ValueError, match="at least"):
        find_knee(q[:8], cycles[:8])
    with pytest.raises(ValueError, match="increasing"):
        find_knee(q, cycles[::-1])
    with pytest.raises(ValueError, match="method"):
        find_knee(q, cycles, method="magic")  # type: ignore[arg-type]


def test_two_line_sse_minimum_is_the_exact_break_without_noise() -> None:
    n = np.arange(100.0)
    q = np.where(n < 60, 1.0 - 0.001 * n, 0.94 - 0.01 * (n - 60))
    knee, sse = two_line_knee(n, q, min_segment=5)
    assert knee == 60.0 and sse.min() < 1e-20
