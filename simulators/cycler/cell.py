"""Cell physics in closed form: open-circuit voltage of NMC/graphite and the ageing law with a knee."""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from simulators.cycler.config import AgeingParams

FloatArray = NDArray[np.float64]

# Open-circuit voltage of an NMC/graphite full cell against state of charge, shaped after published
# pseudo-OCV curves of commercial NMC cells (steep below 5 % SOC, a gentle plateau through mid SOC,
# 4.19 V at full charge). The points past 0 and 1 keep the curve steep so that a cell pushed outside its
# window sees its voltage run away rather than flatten.
_OCV_SOC: Final = np.array(
    [-0.05, 0.0, 0.01, 0.03, 0.06, 0.10, 0.15, 0.20, 0.30, 0.40, 0.50, 0.60, 0.70, 0.80, 0.90, 0.95, 1.0, 1.05]
)
_OCV_V: Final = np.array(
    [2.0, 2.5, 3.0, 3.3, 3.45, 3.53, 3.58, 3.62, 3.67, 3.72, 3.78, 3.86, 3.95, 4.03, 4.10, 4.14, 4.19, 4.45]
)
_OCV_SLOPE: Final = np.diff(_OCV_V) / np.diff(_OCV_SOC)


def ocv(soc: ArrayLike) -> FloatArray:
    """Open-circuit voltage (V) at state of charge ``soc`` (0..1), piecewise linear; clamps outside -0.05..1.05.

    >>> float(ocv(1.0))
    4.19
    """
    v: FloatArray = np.interp(np.asarray(soc, dtype=np.float64), _OCV_SOC, _OCV_V)
    return v


def ocv_slope(soc: ArrayLike) -> FloatArray:
    """dOCV/dSOC (V per unit SOC) of :func:`ocv`, used to linearise the constant-voltage step."""
    idx = np.clip(np.searchsorted(_OCV_SOC, soc, side="right") - 1, 0, _OCV_SLOPE.size - 1)
    return _OCV_SLOPE[idx]


def softplus(x: FloatArray) -> FloatArray:
    """log(1 + e^x) without overflow."""
    return np.logaddexp(0.0, x)


def knee_loss(n: ArrayLike, knee_cycle: ArrayLike, curvature: ArrayLike, width: float) -> FloatArray:
    """Relative capacity lost to the knee mechanism after ``n`` cycles: ~0 before the knee, quadratic after."""
    n_arr = np.asarray(n, dtype=np.float64)
    ramp = width * softplus((n_arr - np.asarray(knee_cycle)) / width)
    return np.asarray(curvature) * ramp * ramp


def capacity_fraction(
    n: ArrayLike, fade_per_cycle: ArrayLike, knee_cycle: ArrayLike, curvature: ArrayLike, width: float
) -> FloatArray:
    """Remaining capacity as a fraction of the fresh cell after ``n`` cycles (monotone non-increasing in n).

    Floored at 0.05: a cell this far gone is long past any test's end-of-life criterion.

    >>> p = AgeingParams()
    >>> q = capacity_fraction(np.arange(1000), p.fade_per_cycle, p.knee_cycle, p.knee_curvature, p.knee_width)
    >>> bool(np.all(np.diff(q) <= 0))
    True
    """
    n_arr = np.asarray(n, dtype=np.float64)
    loss = np.asarray(fade_per_cycle) * n_arr + knee_loss(n_arr, knee_cycle, curvature, width)
    return np.maximum(1.0 - loss, 0.05)


def resistance_factor(n: ArrayLike, params: AgeingParams, knee_cycle: ArrayLike, curvature: ArrayLike) -> FloatArray:
    """Series-resistance growth factor (>= 1) after ``n`` cycles; it accelerates with the knee."""
    n_arr = np.asarray(n, dtype=np.float64)
    knee = knee_loss(n_arr, knee_cycle, curvature, params.knee_width)
    return 1.0 + params.resistance_per_cycle * n_arr + params.resistance_knee_gain * knee
