"""Drift of one sensor against the median of its neighbours, the neighbours chosen from positions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Self

import numpy as np
from numpy.typing import ArrayLike

from models.detectors.base import FloatArray, State, StreamingDetector, as_2d, check_is_fitted
from models.dust.robust import from_json_list, nanmedian_rows, to_json_list

EARTH_RADIUS_M = 6_371_008.8


def distances_m(positions: ArrayLike) -> FloatArray:
    """Great-circle (haversine) distances in metres between all pairs of ``(lat, lon)`` in degrees."""
    pos = np.radians(np.asarray(positions, dtype=np.float64).reshape(-1, 2))
    lat, lon = pos[:, 0], pos[:, 1]
    dlat = lat[:, None] - lat[None, :]
    dlon = lon[:, None] - lon[None, :]
    a = np.sin(dlat / 2) ** 2 + np.cos(lat[:, None]) * np.cos(lat[None, :]) * np.sin(dlon / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))), dtype=np.float64)


def neighbours_of(target: int, positions: ArrayLike, *, k: int, max_distance_m: float) -> list[int]:
    """Indices of up to ``k`` nearest other sensors within ``max_distance_m`` of ``target``, nearest first."""
    d = distances_m(positions)[target]
    order = np.argsort(d, kind="stable")
    chosen = [int(i) for i in order if i != target and d[i] <= max_distance_m]
    return chosen[:k]


class NeighbourDrift(StreamingDetector):
    """Score = |rolling mean of log(sensor / neighbour median) - normal offset| over a long window.

    Dust over a park is spatially correlated at hourly scale, so a sensor whose ratio to the median of its
    neighbours wanders away over hours to days is drifting (ageing laser, fouled inlet) rather than seeing
    a plume, which comes and goes. Working in log ratios makes the score a relative deviation:
    ``threshold_ = log(1 + max_rel_dev)``.

    Parameters
    ----------
    target : int
        Column of ``X`` holding the sensor under test.
    positions : sequence of (lat, lon)
        Position of every column of ``X`` in degrees; the neighbours are chosen from them.
    k : int
        Largest number of neighbours.
    max_distance_m : float
        Neighbours farther than this are not used.
    window : int
        Samples in the rolling mean (on a regular grid, e.g. 144 ten-minute means = 1 day).
    max_rel_dev : float
        Relative deviation from the normal ratio that counts as drift (0.3 = 30 %).
    floor : float
        Added to both sides before the log (µg/m³), so clean air near zero does not blow up the ratio.
    min_valid : float
        Fraction of the window with a valid ratio needed; less gives NaN.
    min_neighbours : int
        Neighbours with a value needed for a sample's ratio to count.

    ``X`` is ``(n_samples, n_sensors)`` on a common time grid (NaN = missing). ``fit(X)`` on normal data
    learns the sensor's usual offset to its neighbours (``offset_``); ``fit()`` assumes none.

    Examples
    --------
    >>> import numpy as np
    >>> pos = [(52.0, 13.0), (52.001, 13.0), (52.0, 13.001), (52.001, 13.001)]
    >>> base = np.tile(np.linspace(10, 30, 50)[:, None], (1, 4))
    >>> X = base.copy(); X[:, 0] *= 2.0
    >>> det = NeighbourDrift(target=0, positions=pos, window=10).fit()
    >>> bool(det.predict(X)[-1])
    True
    """

    name: ClassVar[str] = "dust_neighbour_drift"

    def __init__(
        self,
        target: int = 0,
        positions: Sequence[Sequence[float]] = (),
        k: int = 5,
        max_distance_m: float = 3000.0,
        window: int = 144,
        max_rel_dev: float = 0.3,
        floor: float = 2.0,
        min_valid: float = 0.5,
        min_neighbours: int = 2,
    ) -> None:
        self.target = target
        self.positions = positions
        self.k = k
        self.max_distance_m = max_distance_m
        self.window = window
        self.max_rel_dev = max_rel_dev
        self.floor = floor
        self.min_valid = min_valid
        self.min_neighbours = min_neighbours

    def fit(self, X: ArrayLike | None = None, y: ArrayLike | None = None) -> Self:
        """Choose the neighbours; with normal data ``X``, learn the usual log ratio ``offset_``."""
        n_sensors = len(self.positions)
        if not 0 <= self.target < n_sensors:
            raise ValueError("target must index a row of positions")
        if self.window < 1 or not 0 < self.min_valid <= 1 or self.max_rel_dev <= 0 or self.floor <= 0:
            raise ValueError("need window >= 1, 0 < min_valid <= 1, max_rel_dev > 0 and floor > 0")
        nb = neighbours_of(self.target, self.positions, k=self.k, max_distance_m=self.max_distance_m)
        if len(nb) < max(self.min_neighbours, 1):
            raise ValueError(f"sensor {self.target} has {len(nb)} neighbours within {self.max_distance_m} m")
        self.neighbours_ = nb
        self.n_sensors_ = n_sensors
        self.offset_ = 0.0
        if X is not None:
            ratio = self._log_ratio(as_2d(X, allow_nan=True))
            if not np.isfinite(ratio).any():
                raise ValueError("no sample of X has a valid ratio to learn the offset from")
            self.offset_ = float(np.median(ratio[np.isfinite(ratio)]))
        self.threshold_ = float(np.log1p(self.max_rel_dev))
        return self

    def _log_ratio(self, X: FloatArray) -> FloatArray:
        if X.shape[1] != self.n_sensors_:
            raise ValueError(f"X has {X.shape[1]} columns, positions give {self.n_sensors_} sensors")
        if np.isinf(X).any():
            raise ValueError("input contains infinite values")
        nb_values = X[:, self.neighbours_]
        med, count = nanmedian_rows(nb_values)
        with np.errstate(invalid="ignore"):
            ratio = np.log(X[:, self.target] + self.floor) - np.log(med + self.floor)
        return np.where(count >= self.min_neighbours, ratio, np.nan)

    def init_state(self) -> State:
        return {"ratios": []}

    def score_stream(self, X: ArrayLike, state: State) -> tuple[FloatArray, State]:
        check_is_fitted(self)
        ratio = self._log_ratio(as_2d(X, allow_nan=True))
        prev = from_json_list(state["ratios"])
        r = np.concatenate([prev, ratio])
        valid = np.isfinite(r)
        csum = np.concatenate([[0.0], np.cumsum(np.where(valid, r, 0.0))])
        ccnt = np.concatenate([[0], np.cumsum(valid)])
        ends = np.arange(prev.size, r.size) + 1
        starts = np.maximum(ends - self.window, 0)
        count = ccnt[ends] - ccnt[starts]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (csum[ends] - csum[starts]) / count
        enough = count >= self.min_valid * self.window
        scores = np.where(enough, np.abs(mean - self.offset_), np.nan)
        return scores, {"ratios": to_json_list(r[-(self.window - 1) :] if self.window > 1 else r[:0])}
