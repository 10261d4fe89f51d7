"""Properties of real sensor data that are normal, not faults: slow drift, seasonality, level shifts that
persist, flat channels, quantised values and irregular sampling.

A detector that is only ever tested on stationary Gaussian noise learns nothing about these; real series
have all of them (see ``bench/nab.py``). :class:`Realism` overlays them on any (T, N) block of channel
values, seeded and as a function of absolute time only, so chunks of a stream get the same overlay as one
long block. Every persistent level shift and flat stretch is reported as ground truth
(``TruthEvent`` kinds ``level_shift`` and ``flat``) with ``params["normal"] = True``: they are regime
changes a detector may flag once, not faults to be caught.

>>> import numpy as np
>>> r = Realism(RealismSpec(level_shifts_per_day=1.0), seed=3, device_ids=("a", "b"), start_ms=0)
>>> t = np.arange(0, 3 * 86_400_000, 60_000)
>>> values, present, truth = r.apply(t, np.full((t.size, 2), 20.0))
>>> values.shape, bool(present.all()), all(ev.params["normal"] for ev in truth)
((4320, 2), False, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray

from kipsense.records import TruthEvent

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
DAY_MS = 86_400_000


@dataclass(frozen=True)
class RealismSpec:
    """How much of each property to add (zero turns it off). Values are in the channel's units."""

    #: Linear drift per day, as a fraction of the channel's level (random sign per device).
    drift_per_day: float = 0.01
    #: Amplitude of the daily cycle, as a fraction of the level (peak in the afternoon, phase per device).
    seasonal_amplitude: float = 0.2
    #: Mean number of persistent level shifts per device and day.
    level_shifts_per_day: float = 0.2
    #: Size of a level shift, as a fraction of the level (random sign).
    level_shift_size: float = 0.15
    #: Fraction of devices whose channel is flat (a constant value) for a stretch of each day.
    flat_fraction: float = 0.1
    #: Length of a flat stretch in hours.
    flat_hours: float = 3.0
    #: Quantisation step of the reported value (0: continuous).
    quantum: float = 0.1
    #: Fraction of samples not sent (irregular sampling; independent per device and sample).
    drop_fraction: float = 0.1


class Realism:
    """The overlay for a set of devices, seeded; :meth:`apply` is a pure function of absolute time."""

    def __init__(
        self, spec: RealismSpec, seed: int, device_ids: tuple[str, ...], start_ms: int, level: float = 20.0
    ) -> None:
        self.spec = spec
        self.level = level
        self.seed = seed
        self.device_ids = device_ids
        self.start_ms = start_ms
        rng = np.random.default_rng([seed, 7_311])
        n = len(device_ids)
        self._drift_sign = rng.choice([-1.0, 1.0], size=n)
        self._phase = rng.uniform(-2.0, 2.0, size=n)  # hours

    def _day_rng(self, day: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, 7_312, day])

    def _day_events(self, day: int) -> tuple[list[tuple[int, int, float]], list[tuple[int, int, int]]]:
        """Level shifts ``(device, at_ms, size_fraction)`` and flat stretches ``(device, from_ms, to_ms)``."""
        s = self.spec
        rng = self._day_rng(day)
        n = len(self.device_ids)
        shifts = []
        counts = rng.poisson(s.level_shifts_per_day, size=n)
        for dev in np.flatnonzero(counts):
            for _ in range(int(counts[dev])):
                at = day * DAY_MS + int(rng.integers(0, DAY_MS))
                shifts.append((int(dev), at, float(rng.choice([-1.0, 1.0]) * s.level_shift_size)))
        flats = []
        flat_devs = np.flatnonzero(rng.random(n) < s.flat_fraction)
        for dev in flat_devs:
            start = day * DAY_MS + int(rng.integers(0, DAY_MS))
            flats.append((int(dev), start, start + int(s.flat_hours * 3_600_000)))
        return shifts, flats

    def apply(self, t_ms: NDArray[np.int64], values: FloatArray) -> tuple[FloatArray, BoolArray, list[TruthEvent]]:
        """``values`` (T, N) at times ``t_ms`` with the overlay; which samples are sent; normal-change truth."""
        s = self.spec
        t = np.asarray(t_ms, dtype=np.int64)
        out = np.array(values, dtype=np.float64, copy=True)
        level = np.full(out.shape[1], self.level)
        days = (t - self.start_ms) / DAY_MS
        out += s.drift_per_day * level * self._drift_sign * days[:, None]
        hour = (t % DAY_MS) / 3_600_000.0
        out += s.seasonal_amplitude * level * np.sin(2 * np.pi * (hour[:, None] - 9.0 - self._phase) / 24.0)
        truth: list[TruthEvent] = []
        # shifts persist: every shift since the stream's start applies (the days before this block included)
        first_day, last_day = self.start_ms // DAY_MS, int(t[-1]) // DAY_MS if t.size else 0
        for day in range(int(first_day), int(last_day) + 1):
            shifts, flats = self._day_events(day)
            for dev, at, size in shifts:
                if at < self.start_ms:
                    continue
                out[t >= at, dev] += size * level[dev]
                if t.size and t[0] <= at < t[-1] + 1:
                    truth.append(self._event(dev, "level_shift", at, at + 1000, {"size_fraction": size}))
            for dev, lo, hi in flats:
                inside = (t >= lo) & (t < hi)
                if inside.any():
                    out[inside, dev] = level[dev]  # the channel sticks at its typical level
                    truth.append(self._event(dev, "flat", lo, hi, {}))
        if s.quantum > 0:
            out = np.round(out / s.quantum) * s.quantum
        present = _uniform(t, out.shape[1], self.seed) >= s.drop_fraction
        return out, present, truth

    def _event(self, dev: int, kind: str, lo: int, hi: int, params: dict[str, object]) -> TruthEvent:
        return TruthEvent(
            device_id=self.device_ids[dev],
            kind=kind,
            start=datetime.fromtimestamp(lo / 1000, tz=UTC),
            end=datetime.fromtimestamp(hi / 1000, tz=UTC),
            params={**params, "normal": True},
        )


def _uniform(t_ms: NDArray[np.int64], n: int, seed: int) -> FloatArray:
    """A uniform number in [0, 1) per (time, device), a hash of both (splitmix64): the same in any chunking."""
    with np.errstate(over="ignore"):
        x = t_ms.astype(np.uint64)[:, None] * np.uint64(0x9E3779B97F4A7C15)
        x = x ^ (np.arange(n, dtype=np.uint64)[None, :] * np.uint64(0xBF58476D1CE4E5B9) + np.uint64(seed))
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return np.asarray((x >> np.uint64(11)).astype(np.float64) / float(1 << 53), dtype=np.float64)
