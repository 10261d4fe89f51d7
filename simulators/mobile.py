"""Mobile dust sensors on vehicles that drive loops through the park, stopping briefly at each waypoint.

A vehicle's position is a deterministic function of absolute time (its loop is periodic), so chunks need no
carried state and ground truth can be evaluated at any time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

#: Loops along the park's roads (local metres): around the stockpiles, to the harbour, past the rail yard.
ROUTES: tuple[tuple[tuple[float, float], ...], ...] = (
    ((-100.0, 40.0), (-420.0, 330.0), (-700.0, 180.0), (-420.0, -30.0), (-160.0, -430.0), (150.0, -250.0)),
    ((-100.0, 40.0), (-880.0, 620.0), (-1000.0, 380.0), (-300.0, -100.0), (520.0, -480.0), (650.0, 100.0)),
    ((320.0, 60.0), (700.0, -330.0), (120.0, -300.0), (-300.0, 300.0), (200.0, 450.0)),
)


@dataclass(frozen=True, slots=True)
class Route:
    """A closed route driven at ``speed`` m/s, pausing ``stop_s`` at every waypoint."""

    waypoints: FloatArray  # (K, 2)
    speed: float
    stop_s: float

    def schedule(self) -> tuple[FloatArray, FloatArray]:
        """Knot times (s from loop start) and positions (K*2+1, 2) of the piecewise-linear trajectory."""
        pts = np.vstack([self.waypoints, self.waypoints[:1]])
        seg = np.hypot(*np.diff(pts, axis=0).T) / self.speed
        times = [0.0]
        pos = [pts[0]]
        for k, dur in enumerate(seg):
            times.append(times[-1] + self.stop_s)
            pos.append(pts[k])
            times.append(times[-1] + float(dur))
            pos.append(pts[k + 1])
        return np.asarray(times), np.asarray(pos)


class Fleet:
    """Positions of ``n`` vehicles; vehicle ``i`` drives route ``i % len(ROUTES)`` with its own phase and pace."""

    def __init__(self, n: int, seed: int) -> None:
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0x40B1]))
        self._knots: list[tuple[FloatArray, FloatArray, float]] = []
        for i in range(n):
            route = Route(np.asarray(ROUTES[i % len(ROUTES)]), speed=float(rng.uniform(5.0, 9.0)), stop_s=60.0)
            times, pos = route.schedule()
            period = float(times[-1])
            self._knots.append((times, pos, float(rng.uniform(0.0, period))))

    @property
    def size(self) -> int:
        """Number of vehicles."""
        return len(self._knots)

    def positions(self, t_ms: NDArray[np.int64]) -> tuple[FloatArray, FloatArray]:
        """True positions at ``t_ms`` (Unix ms) as two (T, n) arrays of local metres (x east, y north)."""
        xs = np.empty((t_ms.size, self.size))
        ys = np.empty((t_ms.size, self.size))
        for i, (times, pos, phase) in enumerate(self._knots):
            period = times[-1]
            tau = np.mod(t_ms / 1000.0 + phase, period)
            xs[:, i] = np.interp(tau, times, pos[:, 0])
            ys[:, i] = np.interp(tau, times, pos[:, 1])
        return xs, ys
