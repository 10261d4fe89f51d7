"""Thermal excursion on the live stream: cell temperature or its rate of rise over limits."""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np
from numpy.typing import ArrayLike

from models.detectors.base import FloatArray, State, TimedStreamingDetector, as_1d, check_is_fitted


class ThermalExcursion(TimedStreamingDetector):
    """Score = ``max(T / max_temperature, dT/dt / max_rate)``: 1 means a limit is reached.

    dT/dt is measured over the last ``rate_window_s`` seconds (a span, not consecutive samples, so sensor
    noise does not pass for heating); it is undefined (temperature limit only) until half a span is covered.

    Parameters
    ----------
    max_temperature : float
        Cell temperature limit (°C).
    max_rate : float
        Heating-rate limit (°C per minute).
    rate_window_s : float
        Span of the rate measurement (seconds).

    ``X``: cell temperature (°C); ``times``: seconds (epoch or test time, non-decreasing). NaN = missing.
    ``threshold_ = 1``.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(0, 600, 1.0)
    >>> temp = np.r_[np.full(300, 25.0), 25.0 + 0.1 * np.arange(300)]  # +6 °C/min from t=300
    >>> flags = ThermalExcursion(max_temperature=60, max_rate=2.0, rate_window_s=30).fit().predict(temp, times=t)
    >>> int(np.argmax(flags))
    311
    """

    name: ClassVar[str] = "cycler_thermal"

    def __init__(self, max_temperature: float = 60.0, max_rate: float = 2.0, rate_window_s: float = 60.0) -> None:
        self.max_temperature = max_temperature
        self.max_rate = max_rate
        self.rate_window_s = rate_window_s

    def fit(self, X: ArrayLike | None = None, y: ArrayLike | None = None) -> Self:
        """A rule: validates parameters and sets ``threshold_ = 1`` (``X`` is ignored)."""
        if self.max_temperature <= 0 or self.max_rate <= 0 or self.rate_window_s <= 0:
            raise ValueError("max_temperature, max_rate and rate_window_s must be positive")
        self.threshold_ = 1.0
        return self

    def init_state(self) -> State:
        return {"t": [], "v": [], "last_t": None}

    def score_stream(self, X: ArrayLike, state: State, *, times: ArrayLike) -> tuple[FloatArray, State]:
        check_is_fitted(self)
        x = as_1d(X, allow_nan=True)
        t = as_1d(times)
        if t.shape != x.shape:
            raise ValueError("times and X must have the same length")
        if np.isinf(x).any():
            raise ValueError("input contains infinite values")
        last_t = state["last_t"]
        if (t.size > 1 and np.any(np.diff(t) < 0)) or (t.size and last_t is not None and t[0] < last_t):
            raise ValueError("times must be non-decreasing across the stream")
        valid = np.isfinite(x)
        prev_t = np.asarray(state["t"], dtype=np.float64)
        all_t = np.concatenate([prev_t, t[valid]])
        all_v = np.concatenate([np.asarray(state["v"], dtype=np.float64), x[valid]])
        new = np.arange(prev_t.size, all_t.size)
        j = np.searchsorted(all_t, all_t[new] - self.rate_window_s, side="left")
        span = all_t[new] - all_t[j]
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = 60.0 * (all_v[new] - all_v[j]) / span
        rate_score = np.where(span >= 0.5 * self.rate_window_s, rate / self.max_rate, -np.inf)
        scores = np.full(x.size, np.nan)
        scores[valid] = np.maximum(all_v[new] / self.max_temperature, rate_score)
        keep = all_t >= (all_t[-1] - self.rate_window_s) if all_t.size else np.zeros(0, bool)
        new_state: State = {
            "t": all_t[keep].tolist(),
            "v": all_v[keep].tolist(),
            "last_t": float(t[-1]) if t.size else last_t,
        }
        return scores, new_state
