"""Weather over the park: wind with persistence and turning, temperature, humidity and regional PM background.

Every quantity is a deterministic function of absolute time and the seed (a sum of sinusoids with a red
spectrum, random frequencies and phases). That gives realistic persistence (slow synoptic turning plus fast
meander) and lets any chunk, or the ground-truth bookkeeping of an episode, evaluate the weather at any
time without carrying state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

#: Sinusoid phases are taken relative to 2020-01-01 UTC to keep their arguments small.
_PHASE_EPOCH_MS = 1_577_836_800_000
_MS_PER_DAY = 86_400_000.0
#: Prevailing wind direction on the Ostrobothnian coast: from the south-west.
PREVAILING_FROM_DEG = 225.0


class SpectralProcess:
    """A zero-mean stationary Gaussian-like process evaluable at arbitrary times.

    ``n`` sinusoids with log-uniform periods in ``[period_min_s, period_max_s]`` and power proportional to
    ``f ** -slope``, scaled to standard deviation ``std``.

    >>> p = SpectralProcess(np.random.default_rng(0), n=16, period_min_s=60, period_max_s=3600, std=2.0)
    >>> p(np.array([0.0, 30.0])).shape
    (2,)
    """

    def __init__(
        self,
        rng: np.random.Generator,
        *,
        n: int,
        period_min_s: float,
        period_max_s: float,
        std: float,
        slope: float = 1.0,
    ) -> None:
        freq = np.exp(rng.uniform(np.log(1.0 / period_max_s), np.log(1.0 / period_min_s), n))
        power = freq ** (-slope)
        self._omega = 2.0 * np.pi * freq
        self._amp = np.sqrt(2.0 * power / power.sum()) * std
        self._phase = rng.uniform(0.0, 2.0 * np.pi, n)

    def __call__(self, t_s: FloatArray) -> FloatArray:
        """Values at times ``t_s`` (seconds since 2020-01-01 UTC)."""
        arg = np.multiply.outer(t_s, self._omega)
        arg += self._phase
        # An elementwise product and row sum (not BLAS) gives bit-identical values however many times are asked.
        return np.asarray((np.sin(arg) * self._amp).sum(axis=-1), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Steer:
    """Turn the wind to blow from ``from_deg`` during ``[start_ms, end_ms)``, ramping over ``ramp_s`` either side."""

    start_ms: int
    end_ms: int
    from_deg: float
    ramp_s: float = 600.0


@dataclass(frozen=True, slots=True)
class WeatherState:
    """Weather at T times; every array has shape (T,)."""

    wind_speed: FloatArray
    wind_dir: FloatArray
    temperature: FloatArray
    rh: FloatArray
    background_pm10: FloatArray
    #: Stability factor for plume spread: > 1 on sunny afternoons (convective), < 1 at night (stable).
    spread_factor: FloatArray
    local_hour: FloatArray
    weekday: NDArray[np.int64]


class Weather:
    """The park's weather for one seed.

    ``utc_offset_h`` places the diurnal cycles in local time (Finland: UTC+2, no DST modelled).
    """

    def __init__(self, seed: int, *, utc_offset_h: float = 2.0) -> None:
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0x3E11]))
        self._utc_offset_h = utc_offset_h
        self._dir_slow = SpectralProcess(rng, n=24, period_min_s=7200, period_max_s=5 * 86400, std=55.0, slope=1.3)
        self._dir_fast = SpectralProcess(rng, n=24, period_min_s=60, period_max_s=7200, std=10.0, slope=0.8)
        self._log_speed = SpectralProcess(rng, n=32, period_min_s=300, period_max_s=5 * 86400, std=0.4, slope=1.0)
        self._temp = SpectralProcess(rng, n=16, period_min_s=6 * 3600, period_max_s=10 * 86400, std=3.5, slope=1.2)
        self._rh = SpectralProcess(rng, n=16, period_min_s=3 * 3600, period_max_s=5 * 86400, std=6.0, slope=1.0)
        self._bg = SpectralProcess(rng, n=16, period_min_s=2 * 3600, period_max_s=7 * 86400, std=0.28, slope=1.0)

    def wind_dir(self, t_ms: NDArray[np.int64], steering: Sequence[Steer] = ()) -> FloatArray:
        """Direction the wind blows FROM (degrees, 0-360) at ``t_ms`` (Unix ms), turned by ``steering``."""
        t_s = (t_ms - _PHASE_EPOCH_MS) / 1000.0
        slow = PREVAILING_FROM_DEG + self._dir_slow(t_s)
        calm = np.ones_like(t_s)
        for steer in steering:
            w = _window(t_ms, steer)
            if np.any(w > 0.0):
                offset = (slow - steer.from_deg + 180.0) % 360.0 - 180.0
                # Elementwise choice keeps unsteered times bit-identical however the times are batched.
                slow = np.where(w > 0.0, steer.from_deg + (1.0 - w) * offset, slow)
                # A steady wind keeps the plume on its receptors; meander is damped while steered.
                calm = np.minimum(calm, 1.0 - 0.85 * w)
        return np.asarray((slow + calm * self._dir_fast(t_s)) % 360.0, dtype=np.float64)

    def state(self, t_ms: NDArray[np.int64], steering: Sequence[Steer] = ()) -> WeatherState:
        """All weather quantities at ``t_ms`` (Unix ms)."""
        t_s = (t_ms - _PHASE_EPOCH_MS) / 1000.0
        local_days = t_ms / _MS_PER_DAY + self._utc_offset_h / 24.0
        hour = (local_days % 1.0) * 24.0
        doy = (t_ms / _MS_PER_DAY) % 365.2425
        weekday = ((np.floor(local_days).astype(np.int64) + 3) % 7).astype(np.int64)  # 1970-01-01 was a Thursday

        day_cycle = np.cos(2 * np.pi * (hour - 14.0) / 24.0)  # +1 mid-afternoon, -1 at 02 local
        speed = 4.0 * (1.0 + 0.2 * day_cycle) * np.exp(self._log_speed(t_s) - 0.08)
        temperature = 4.0 - 12.0 * np.cos(2 * np.pi * (doy - 20.0) / 365.2425) + 3.5 * day_cycle + self._temp(t_s)
        rh = 74.0 - 10.0 * day_cycle + self._rh(t_s)

        weekly = np.where(weekday < 5, 1.1, 0.8)
        rush = np.exp(-0.5 * ((hour - 8.0) / 1.2) ** 2) * 0.45 + np.exp(-0.5 * ((hour - 17.5) / 1.8) ** 2) * 0.35
        background = 6.5 * weekly * (1.0 + rush) * np.exp(self._bg(t_s) - 0.04)
        spread = 1.0 + 0.2 * day_cycle
        return WeatherState(
            wind_speed=np.clip(speed, 0.3, 22.0),
            wind_dir=self.wind_dir(t_ms, steering),
            temperature=temperature,
            rh=np.clip(rh, 20.0, 99.0),
            background_pm10=background,
            spread_factor=spread,
            local_hour=hour,
            weekday=weekday,
        )


def _window(t_ms: NDArray[np.int64], steer: Steer) -> FloatArray:
    """1 inside the steering interval, smooth (cosine) ramps of ``ramp_s`` either side, 0 elsewhere."""
    ramp_ms = steer.ramp_s * 1000.0
    before = np.clip((t_ms - (steer.start_ms - ramp_ms)) / ramp_ms, 0.0, 1.0)
    after = np.clip(((steer.end_ms + ramp_ms) - t_ms) / ramp_ms, 0.0, 1.0)
    w = np.minimum(before, after)
    return np.asarray(0.5 - 0.5 * np.cos(np.pi * w), dtype=np.float64)
