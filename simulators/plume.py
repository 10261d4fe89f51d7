"""Gaussian plume dispersion from the park's sources to its receptors, vectorised over time, sources, receptors.

Briggs' rural dispersion curves (neutral class D) scaled by a stability factor; area and line sources get
an initial lateral spread; ground reflection is included. Steady state: a change of emission shows at a
receptor in the same time step (transport over a few hundred metres takes well under a minute or two).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

RECEPTOR_HEIGHT_M = 2.5
_MIN_WIND = 1.0
_SIGMA_Z0 = 2.0


def unit_plume(
    src_xy: FloatArray,
    src_height: FloatArray,
    src_spread: FloatArray,
    rec_x: FloatArray,
    rec_y: FloatArray,
    wind_dir: FloatArray,
    wind_speed: FloatArray,
    spread_factor: FloatArray,
) -> FloatArray:
    """Concentration (µg/m³) at each receptor per 1 g/s emitted by each source.

    Parameters
    ----------
    src_xy, src_height, src_spread
        (S, 2) source positions (m), (S,) release heights (m), (S,) initial lateral spreads (m).
    rec_x, rec_y
        Receptor positions (m): (N,) for fixed receptors or (T, N) for moving ones.
    wind_dir, wind_speed, spread_factor
        (T,) wind direction (degrees FROM), speed (m/s) and plume-spread stability factor.

    Returns
    -------
    (T, S, N) array.

    >>> c = unit_plume(np.zeros((1, 2)), np.zeros(1), np.zeros(1), np.array([0.0, 0.0]), np.array([300.0, -300.0]),
    ...                np.array([180.0]), np.array([4.0]), np.ones(1))
    >>> bool(c[0, 0, 0] > 0.0), float(c[0, 0, 1])   # wind from the south reaches the receptor to the north only
    (True, 0.0)
    """
    rx = np.atleast_2d(rec_x)[:, None, :]  # (T|1, 1, N)
    ry = np.atleast_2d(rec_y)[:, None, :]
    dx = rx - src_xy[None, :, 0, None]  # (T|1, S, N)
    dy = ry - src_xy[None, :, 1, None]
    theta = np.radians(wind_dir)[:, None, None]
    ex, ey = -np.sin(theta), -np.cos(theta)  # unit vector the wind blows towards
    down = dx * ex + dy * ey  # (T, S, N)
    cross = dy * ex - dx * ey
    # Only receptors downwind and inside the plume's reach (six widest sigmas) are evaluated; elsewhere
    # the concentration is below exp(-18) of the centre line and is set to zero.
    spread = src_spread[None, :, None]
    mask = (down > 1.0) & (np.abs(cross) < 0.6 * down + 6.0 * spread + 10.0)
    ti, si, _ = np.nonzero(np.broadcast_to(mask, down.shape))
    x = down[mask]
    c = cross[mask]
    k = spread_factor[ti]
    sy = k * 0.08 * x / np.sqrt(1.0 + 0.0001 * x)
    sz = k * 0.06 * x / np.sqrt(1.0 + 0.0015 * x)
    sy = np.sqrt(sy * sy + src_spread[si] ** 2)
    sz = np.sqrt(sz * sz + _SIGMA_Z0**2)
    h = src_height[si]
    u = np.maximum(wind_speed, _MIN_WIND)[ti]
    inv_2sz2 = 0.5 / (sz * sz)
    lateral = -0.5 * (c / sy) ** 2
    vertical = np.exp(lateral - (RECEPTOR_HEIGHT_M - h) ** 2 * inv_2sz2) + np.exp(
        lateral - (RECEPTOR_HEIGHT_M + h) ** 2 * inv_2sz2
    )
    out = np.zeros(down.shape, dtype=np.float64)
    out[mask] = 1e6 / (2.0 * np.pi) * vertical / (u * sy * sz)
    return out
