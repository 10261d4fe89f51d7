"""Sensor faults and device behaviour injected into dust readings, each recorded as ground truth.

Kinds (``TruthEvent.kind``) and what they do to a device's data in ``[start, end)``:

``stuck``        every PM channel flat at one value (``value_pm10``; 0 when the fan died)
``spike``        PM multiplied by ``factor`` for one or a few samples
``drift``        PM gain grows linearly by ``gain_per_day`` from the start
``rh_artefact``  condensation: reported RH near 100 % and PM multiplied by ``factor``
``dropout``      nothing sent; readings lost
``offline``      nothing sent; with ``backfill`` the device stores readings and sends them after reconnecting
``low_battery``  battery drains to 0; below 5 % the device is silent (readings lost); replaced at the end
``clock_skew``   device clock off by ``offset_s + drift_ppm * 1e-6 * elapsed``
``duplicate``    every reading sent twice

Schedules come from one generator per (kind, 6-hour UTC block), and every interval is snapped to the stream's
time grid, so the schedule is the same however the stream is chunked and every truth interval holds samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kipsense.records import TruthEvent
from simulators.sensor import Readings

_BLOCK_MS = 6 * 3_600_000
_DAY_MS = 86_400_000.0
_KINDS = (
    "stuck",
    "spike",
    "drift",
    "rh_artefact",
    "dropout",
    "offline",
    "low_battery",
    "clock_skew",
    "duplicate",
)
#: Order of application: gain changes first, a flat line last among PM faults (a stuck sensor shows nothing else).
_ORDER = (
    "drift",
    "rh_artefact",
    "spike",
    "stuck",
    "dropout",
    "offline",
    "low_battery",
    "clock_skew",
    "duplicate",
)


@dataclass(frozen=True)
class FaultRate:
    """Events per device per day and the range of their durations (seconds, drawn log-uniformly)."""

    per_day: float
    duration_s: tuple[float, float]


@dataclass(frozen=True)
class FaultSpec:
    """Rates and parameter ranges of injected faults. ``FaultSpec.none()`` injects nothing.

    >>> FaultSpec(spike=FaultRate(4.0, (1.0, 20.0))).spike.per_day
    4.0
    """

    stuck: FaultRate = field(default_factory=lambda: FaultRate(0.05, (1800.0, 6 * 3600.0)))
    spike: FaultRate = field(default_factory=lambda: FaultRate(0.5, (1.0, 30.0)))
    drift: FaultRate = field(default_factory=lambda: FaultRate(0.02, (86400.0, 4 * 86400.0)))
    rh_artefact: FaultRate = field(default_factory=lambda: FaultRate(0.05, (1200.0, 3 * 3600.0)))
    dropout: FaultRate = field(default_factory=lambda: FaultRate(2.0, (10.0, 120.0)))
    offline: FaultRate = field(default_factory=lambda: FaultRate(0.1, (600.0, 4 * 3600.0)))
    low_battery: FaultRate = field(default_factory=lambda: FaultRate(0.03, (2 * 3600.0, 12 * 3600.0)))
    clock_skew: FaultRate = field(default_factory=lambda: FaultRate(0.05, (6 * 3600.0, 2 * 86400.0)))
    duplicate: FaultRate = field(default_factory=lambda: FaultRate(0.5, (60.0, 600.0)))
    spike_factor: tuple[float, float] = (4.0, 15.0)
    drift_gain_per_day: tuple[float, float] = (0.1, 0.4)
    rh_artefact_factor: tuple[float, float] = (2.0, 5.0)
    stuck_pm10: tuple[float, float] = (4.0, 25.0)
    stuck_zero_probability: float = 0.2
    offline_backfill_probability: float = 0.7
    clock_offset_s: tuple[float, float] = (5.0, 300.0)
    clock_drift_ppm: tuple[float, float] = (20.0, 500.0)

    @classmethod
    def none(cls) -> FaultSpec:
        """A spec that injects no faults."""
        off = FaultRate(0.0, (1.0, 1.0))
        return cls(
            stuck=off,
            spike=off,
            drift=off,
            rh_artefact=off,
            dropout=off,
            offline=off,
            low_battery=off,
            clock_skew=off,
            duplicate=off,
        )

    def with_rate(self, kind: str, rate: FaultRate) -> FaultSpec:
        """A copy with ``kind`` at ``rate``, e.g. ``FaultSpec.none().with_rate("spike", FaultRate(6.0, (1, 20)))``."""
        self.rate(kind)  # refuses an unknown kind
        changes: dict[str, Any] = {kind: rate}
        return replace(self, **changes)

    def rate(self, kind: str) -> FaultRate:
        """The :class:`FaultRate` of ``kind``."""
        value = getattr(self, kind, None)
        if not isinstance(value, FaultRate):
            raise KeyError(f"unknown fault kind {kind!r}; known: {_KINDS}")
        return value


@dataclass(frozen=True, slots=True)
class _Fault:
    kind: str
    device: int
    start_ms: int
    end_ms: int
    params: dict[str, object]


class FaultInjector:
    """Schedules faults for one stream (start, step, devices) and applies them chunk by chunk."""

    def __init__(self, spec: FaultSpec, seed: int, device_ids: Sequence[str], start_ms: int, step_ms: int) -> None:
        self.spec = spec
        self.seed = seed
        self.device_ids = tuple(device_ids)
        self.start_ms = start_ms
        self.step_ms = step_ms
        self._cache: dict[tuple[int, int], tuple[_Fault, ...]] = {}

    def apply(self, t_ms: NDArray[np.int64], r: Readings) -> tuple[Readings, tuple[TruthEvent, ...]]:
        """Inject the faults overlapping the chunk ``t_ms`` into ``r`` (in place); returns it and the truth."""
        t0, t1 = int(t_ms[0]), int(t_ms[-1]) + self.step_ms
        faults = self._overlapping(t0, t1)
        for f in sorted(faults, key=lambda f: _ORDER.index(f.kind)):
            i0, i1 = np.searchsorted(t_ms, [f.start_ms, f.end_ms])
            if i1 > i0:
                _APPLY[f.kind](r, f, t_ms[i0:i1], slice(int(i0), int(i1)))
        truth = tuple(
            TruthEvent(self.device_ids[f.device], f.kind, _dt(f.start_ms), _dt(f.end_ms), dict(f.params))
            for f in faults
        )
        return r, truth

    def _overlapping(self, t0: int, t1: int) -> list[_Fault]:
        out: list[_Fault] = []
        used: set[tuple[int, int]] = set()
        for k, kind in enumerate(_KINDS):
            rate = self.spec.rate(kind)
            if rate.per_day <= 0.0 or not self.device_ids:
                continue
            lookback = int(np.ceil(rate.duration_s[1] * 1000 / _BLOCK_MS)) + 1
            for block in range(t0 // _BLOCK_MS - lookback, (t1 - 1) // _BLOCK_MS + 1):
                key = (k, block)
                used.add(key)
                if key not in self._cache:
                    self._cache[key] = self._schedule(k, block)
                out.extend(f for f in self._cache[key] if f.end_ms > t0 and f.start_ms < t1)
        for key in [key for key in self._cache if key not in used]:
            del self._cache[key]
        return out

    def _schedule(self, k: int, block: int) -> tuple[_Fault, ...]:
        kind = _KINDS[k]
        spec = self.spec
        rate = spec.rate(kind)
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0xFA17, k, block]))
        counts = rng.poisson(rate.per_day * _BLOCK_MS / _DAY_MS, size=len(self.device_ids))
        total = int(counts.sum())
        devices = np.repeat(np.arange(len(self.device_ids)), counts)
        starts = block * _BLOCK_MS + rng.uniform(0.0, _BLOCK_MS, total)
        lo, hi = rate.duration_s
        durations = np.exp(rng.uniform(np.log(lo), np.log(max(hi, lo)), total)) * 1000.0
        u = rng.uniform(0.0, 1.0, (total, 3))
        out = []
        for j in range(total):
            start = self._snap(float(starts[j]))
            end = max(self._snap(float(starts[j] + durations[j])), start + self.step_ms)
            out.append(_Fault(kind, int(devices[j]), start, end, _params(kind, spec, u[j])))
        return tuple(out)

    def _snap(self, t: float) -> int:
        """The first time on the stream's grid at or after ``t``."""
        return self.start_ms + int(np.ceil((t - self.start_ms) / self.step_ms)) * self.step_ms


def _lerp(bounds: tuple[float, float], u: float) -> float:
    return bounds[0] + (bounds[1] - bounds[0]) * u


def _params(kind: str, spec: FaultSpec, u: NDArray[np.float64]) -> dict[str, object]:
    a, b, c = (float(v) for v in u)
    if kind == "stuck":
        return {"value_pm10": 0.0 if c < spec.stuck_zero_probability else round(_lerp(spec.stuck_pm10, a), 1)}
    if kind == "spike":
        return {"factor": round(_lerp(spec.spike_factor, a), 2)}
    if kind == "drift":
        return {"gain_per_day": round(_lerp(spec.drift_gain_per_day, a), 3)}
    if kind == "rh_artefact":
        return {"factor": round(_lerp(spec.rh_artefact_factor, a), 2), "rh": round(98.0 + 2.0 * b, 1)}
    if kind == "offline":
        return {"backfill": c < spec.offline_backfill_probability}
    if kind == "clock_skew":
        sign = 1.0 if c < 0.5 else -1.0
        return {
            "offset_s": round(sign * _lerp(spec.clock_offset_s, a), 1),
            "drift_ppm": round(_lerp(spec.clock_drift_ppm, b), 1),
        }
    return {}


def _num(f: _Fault, key: str) -> float:
    value = f.params[key]
    if not isinstance(value, int | float):
        raise TypeError(f"{f.kind} parameter {key} is not a number")
    return float(value)


def _scale_pm(r: Readings, s: slice, n: int, factor: NDArray[np.floating[Any]] | float) -> None:
    for arr in (r.pm1, r.pm25, r.pm10):
        arr[s, n] = np.round(arr[s, n] * factor, 1)


def _stuck(r: Readings, f: _Fault, t: NDArray[np.int64], s: slice) -> None:
    v = _num(f, "value_pm10")
    r.pm10[s, f.device], r.pm25[s, f.device], r.pm1[s, f.device] = v, round(0.6 * v, 1), round(0.4 * v, 1)


def _spike(r: Readings, f: _Fault, t: NDArray[np.int64], s: slice) -> None:
    _scale_pm(r, s, f.device, _num(f, "factor"))


def _drift(r: Readings, f: _Fault, t: NDArray[np.int64], s: slice) -> None:
    rate = _num(f, "gain_per_day")
    _scale_pm(r, s, f.device, 1.0 + rate * (t - f.start_ms) / _DAY_MS)


def _rh_artefact(r: Readings, f: _Fault, t: NDArray[np.int64], s: slice) -> None:
    _scale_pm(r, s, f.device, _num(f, "factor"))
    r.rh[s, f.device] = _num(f, "rh")


def _dropout(r: Readings, f: _Fault, t: NDArray[np.int64], s: slice) -> None:
    r.present[s, f.device] = False
    r.backfill[s, f.device] = False


def _offline(r: Readings, f: _Fault, t: NDArray[np.int64], s: slice) -> None:
    r.present[s, f.device] = False
    r.backfill[s, f.device] = bool(f.params["backfill"])


def _low_battery(r: Readings, f: _Fault, t: NDArray[np.int64], s: slice) -> None:
    # Drains to 0 over 80 % of the interval, then stays flat until the battery is replaced at the end.
    frac = np.clip((t - f.start_ms) / (0.8 * (f.end_ms - f.start_ms)), 0.0, 1.0)
    level = np.round(r.battery[s, f.device] * (1.0 - frac), 1)
    r.battery[s, f.device] = level
    dead = level < 5.0
    r.present[s, f.device] &= ~dead
    r.backfill[s, f.device] &= ~dead


def _clock_skew(r: Readings, f: _Fault, t: NDArray[np.int64], s: slice) -> None:
    elapsed_s = (t - f.start_ms) / 1000.0
    offset = _num(f, "offset_s") + _num(f, "drift_ppm") * 1e-6 * elapsed_s
    r.clock_offset_s[s, f.device] = np.round(offset, 3)


def _duplicate(r: Readings, f: _Fault, t: NDArray[np.int64], s: slice) -> None:
    r.duplicate[s, f.device] = True


_APPLY = {
    "stuck": _stuck,
    "spike": _spike,
    "drift": _drift,
    "rh_artefact": _rh_artefact,
    "dropout": _dropout,
    "offline": _offline,
    "low_battery": _low_battery,
    "clock_skew": _clock_skew,
    "duplicate": _duplicate,
}


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000.0, tz=UTC)
