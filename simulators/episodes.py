"""Dust emissions: the continuous activity of each source and scheduled or random dust episodes.

Strength 1.0 of an episode is defined from the plume itself: the emission rate that, in a 4 m/s wind blowing
along the source's best-monitored bearing, gives 250 µg/m³ PM10 (geometric mean) at the two most exposed fixed
sensors. That bearing (where the two most exposed sensors see the most, at similar levels) is where the wind is
turned during an explicit episode, so an explicit episode reaches at least two sensors; random episodes take
the wind as it comes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulators.plume import unit_plume
from simulators.site import SiteLayout

FloatArray = NDArray[np.float64]

_REF_WIND = 4.0
_REF_PM10 = 250.0
#: Upper bound of one source's continuous contribution at any sensor in the reference wind (µg/m³).
_BASELINE_PEAK = 6.0
_MS_PER_HOUR = 3_600_000
_RANDOM_MAX_DURATION_S = 2 * 3600.0


@dataclass(frozen=True)
class Episode:
    """A scheduled dust episode from a named source, relative to the start of the stream.

    >>> Episode("stockpile-north", start_offset_s=3600.0, duration_s=900.0)
    Episode(source='stockpile-north', start_offset_s=3600.0, duration_s=900.0, strength=1.0)
    """

    source: str
    start_offset_s: float
    duration_s: float
    strength: float = 1.0


@dataclass(frozen=True, slots=True)
class ScheduledEpisode:
    """An episode placed in absolute time (Unix ms, end exclusive)."""

    episode_id: str
    source_index: int
    start_ms: int
    end_ms: int
    strength: float
    explicit: bool


@dataclass(frozen=True, slots=True)
class EmissionModel:
    """Per-source emission rates derived from the layout (see module docstring)."""

    episode_rate: FloatArray  # (S,) g/s of PM10 at strength 1 in the reference wind
    baseline_rate: FloatArray  # (S,) g/s of continuous PM10 emission during activity
    best_from_deg: FloatArray  # (S,) wind direction (FROM) that carries each source's plume over most sensors
    shift_bound: NDArray[np.bool_]  # (S,)

    @classmethod
    def from_layout(cls, layout: SiteLayout) -> EmissionModel:
        """Calibrate the rates on the fixed sensors of ``layout``."""
        n_src = len(layout.sources)
        src_xy = layout.source_xy()
        height = np.array([s.height for s in layout.sources])
        spread = np.array([s.spread for s in layout.sources])
        rec = layout.sensor_xy()
        dirs = np.arange(0.0, 360.0, 1.0)
        unit = unit_plume(
            src_xy, height, spread, rec[:, 0], rec[:, 1], dirs, np.full(dirs.size, _REF_WIND), np.ones(dirs.size)
        )  # (D, S, N)
        # Average over +-6 degrees so the chosen bearing tolerates the wind's meander.
        kernel = np.ones(13) / 13.0
        padded = np.concatenate([unit[-6:], unit, unit[:6]], axis=0)
        unit = np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="valid"), 0, padded)
        if unit.shape[2] >= 2:
            ranked = np.sort(unit, axis=2)
            top, second = ranked[:, :, -1], ranked[:, :, -2]
            # Prefer bearings where the two most exposed sensors see similar levels (within a factor 3).
            score = second * np.minimum(1.0, 3.0 * second / np.maximum(top, 1e-12))
            best = np.argmax(score, axis=0)
            c_ref = np.sqrt(top[best, np.arange(n_src)] * second[best, np.arange(n_src)])
        elif unit.shape[2] == 1:
            best = np.argmax(unit[:, :, 0], axis=0)
            c_ref = unit[best, np.arange(n_src), 0]
        else:
            best = np.zeros(n_src, dtype=np.int64)
            c_ref = np.zeros(n_src)
        # A sensor-less or hidden source still gets a plausible rate (a few g/s for an episode).
        episode_rate = np.where(c_ref > 1e-9, _REF_PM10 / np.maximum(c_ref, 1e-12), 3.0)
        peak = unit.max(axis=(0, 2)) if unit.shape[2] else np.zeros(n_src)
        baseline_rate = np.where(peak > 1e-9, _BASELINE_PEAK / np.maximum(peak, 1e-12), 0.05)
        return cls(
            episode_rate=episode_rate.astype(np.float64),
            baseline_rate=baseline_rate.astype(np.float64),
            best_from_deg=dirs[best].astype(np.float64),
            shift_bound=np.array([s.shift_bound for s in layout.sources], dtype=np.bool_),
        )

    def emissions(
        self,
        t_ms: NDArray[np.int64],
        wind_speed: FloatArray,
        local_hour: FloatArray,
        weekday: NDArray[np.int64],
        episodes: tuple[ScheduledEpisode, ...],
    ) -> tuple[FloatArray, FloatArray]:
        """PM10 emission rates (T, S) in g/s: ``(continuous, episodes)``."""
        act = activity(local_hour, weekday)[:, None]
        act = np.where(self.shift_bound[None, :], act, 1.0)
        # Wind-blown dust rises with wind speed, bounded so a gale does not look like an episode.
        wind_factor = np.clip((wind_speed / _REF_WIND) ** 1.3, 0.4, 2.0)[:, None]
        base = self.baseline_rate[None, :] * act * wind_factor
        epi = np.zeros_like(base)
        for ep in episodes:
            env = envelope(t_ms, ep.start_ms, ep.end_ms)
            if np.any(env > 0.0):
                epi[:, ep.source_index] += self.episode_rate[ep.source_index] * ep.strength * env * wind_factor[:, 0]
        return base, epi


def activity(local_hour: FloatArray, weekday: NDArray[np.int64]) -> FloatArray:
    """Loading-shift activity: 1 on weekday shifts (06-22 local), 0.4 on weekend shifts, 0.15 at night."""
    on_shift = (local_hour >= 6.0) & (local_hour < 22.0)
    weekend = weekday >= 5
    return np.where(on_shift, np.where(weekend, 0.4, 1.0), 0.15).astype(np.float64)


#: Mean of :func:`activity` over a week, to turn a daily episode rate into an hourly one.
_MEAN_ACTIVITY = (5 * (16 * 1.0 + 8 * 0.15) + 2 * (16 * 0.4 + 8 * 0.15)) / (7 * 24)


def envelope(t_ms: NDArray[np.int64], start_ms: int, end_ms: int, ramp_s: float = 8.0) -> FloatArray:
    """Emission envelope of an episode: ramps up over ``ramp_s`` after start and down before end, 0 outside."""
    ramp_ms = ramp_s * 1000.0
    up = np.clip((t_ms - start_ms) / ramp_ms + 0.5, 0.0, 1.0)
    down = np.clip((end_ms - t_ms) / ramp_ms, 0.0, 1.0)
    inside = (t_ms >= start_ms) & (t_ms < end_ms)
    return np.where(inside, np.minimum(up, down), 0.0).astype(np.float64)


def random_episodes(
    seed: int, per_day: float, shift_bound: NDArray[np.bool_], t0_ms: int, t1_ms: int, utc_offset_h: float
) -> tuple[ScheduledEpisode, ...]:
    """Random episodes overlapping ``[t0_ms, t1_ms)``.

    Each UTC hour has its own generator (seeded by ``seed`` and the hour), so the schedule does not depend on
    how a stream is cut into chunks. The hourly rate follows the loading shifts.
    """
    if per_day <= 0.0 or not np.any(shift_bound):
        return ()
    candidates = np.flatnonzero(shift_bound)
    first = (t0_ms - int(_RANDOM_MAX_DURATION_S * 1000)) // _MS_PER_HOUR
    last = (t1_ms - 1) // _MS_PER_HOUR
    out: list[ScheduledEpisode] = []
    for hour in range(first, last + 1):
        h_start = hour * _MS_PER_HOUR
        local = np.array([((h_start / 3.6e6 + utc_offset_h) % 24.0) + 0.5])
        weekday = np.array([(int((h_start / 3.6e6 + utc_offset_h) // 24) + 3) % 7], dtype=np.int64)
        rate = per_day / 24.0 * float(activity(local, weekday)[0]) / _MEAN_ACTIVITY
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0xE915, hour]))
        for j in range(int(rng.poisson(rate))):
            start = h_start + int(rng.uniform(0.0, _MS_PER_HOUR))
            duration_s = float(np.clip(rng.lognormal(np.log(600.0), 0.6), 120.0, _RANDOM_MAX_DURATION_S))
            end = start + int(duration_s * 1000)
            src = int(rng.choice(candidates))
            strength = float(rng.uniform(0.4, 1.2))
            if end > t0_ms and start < t1_ms:
                out.append(ScheduledEpisode(f"ep-{hour}-{j}", src, start, end, strength, explicit=False))
    return tuple(out)
