"""Honest detector evaluation against ground truth: events, points, alarms and delays, beside baselines.

For each device we have sample times and flags (score above threshold), and ground-truth events
``[start, end)``. The metrics:

- **event-wise recall**: fraction of truth events with at least one flag in ``[start, end + tolerance)``;
- **point-wise precision**: flagged samples inside an event / all flagged samples;
- **FAR** (false-alarm rate): flagged normal samples / normal samples; **MAR** (missed-alarm rate): unflagged
  event samples / event samples;
- **detection delay**: first flag in an event's window minus its start (detected events only);
- **alarms**: runs of consecutive flagged samples; an alarm that overlaps no truth event at all is false.
  **False alarms per sensor-day** divides them by the observed time (per device, first to last sample plus
  one median interval);
- **composite F1**: harmonic mean of event-wise recall and point-wise precision; **event F1**: harmonic mean
  of event-wise recall and alarm precision (alarms overlapping a target event / all alarms).

Point-adjusted F1 (counting a whole event as detected samples once one sample is flagged) is deliberately
absent: it rewards random flags. Every report carries the no-alarm and all-alarm baselines computed the
same way, so a number can be read against what doing nothing and flagging everything give.

When the evaluation targets some event kinds only (``kinds``), samples inside other events are left out of
the point-wise counts, and alarms overlapping only such events are counted as ``alarms_other`` (neither
true nor false).

Example
-------
>>> import numpy as np
>>> t = np.arange(10.0)
>>> flags = np.zeros(10, bool); flags[[3, 4, 8]] = True
>>> m = evaluate([Scored("d", t, flags)], [Span("d", "fault", 3.0, 6.0)])
>>> m.event_recall, m.point_precision, m.false_alarms, m.median_delay_s
(1.0, 0.6666666666666666, 1, 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kipsense.records import TruthEvent

DAY_S = 86_400.0


@dataclass(frozen=True, slots=True, eq=False)
class Scored:
    """Flags of one device at its sample times (epoch seconds, non-decreasing)."""

    device_id: str
    times: NDArray[np.float64]
    flags: NDArray[np.bool_]

    def __post_init__(self) -> None:
        if self.times.shape != self.flags.shape or self.times.ndim != 1:
            raise ValueError("times and flags must be 1-d arrays of one length")


@dataclass(frozen=True, slots=True)
class Span:
    """One ground-truth event of one device, ``[start, end)`` in epoch seconds."""

    device_id: str
    kind: str
    start: float
    end: float

    @classmethod
    def from_truth(cls, e: TruthEvent) -> Span:
        return cls(e.device_id, e.kind, e.start.timestamp(), e.end.timestamp())


def _nan_none(x: float) -> float | None:
    return None if math.isnan(x) else x


def _ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def _f1(p: float, r: float) -> float:
    if math.isnan(p) or math.isnan(r) or p + r == 0:
        return 0.0 if (r == 0 or p == 0) else math.nan
    return 2 * p * r / (p + r)


@dataclass(frozen=True, slots=True)
class Metrics:
    """Metrics of one set of flags (NaN where undefined, e.g. precision without any flag)."""

    events: int
    events_detected: int
    event_recall: float
    points: int
    event_points: int
    flagged_points: int
    true_points: int
    point_precision: float
    far: float
    mar: float
    alarms: int
    false_alarms: int
    alarms_other: int
    alarm_precision: float
    sensor_days: float
    false_alarms_per_sensor_day: float
    composite_f1: float
    event_f1: float
    median_delay_s: float
    mean_delay_s: float
    delays_s: list[float] = field(default_factory=list)

    def to_dict(self, *, with_delays: bool = False) -> dict[str, Any]:
        """Strict-JSON dict (NaN becomes None)."""
        out = {k: (_nan_none(v) if isinstance(v, float) else v) for k, v in asdict(self).items()}
        if not with_delays:
            out.pop("delays_s")
        return out


def _runs(flags: NDArray[np.bool_]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """First and last index of every run of True."""
    padded = np.r_[False, flags, False].astype(np.int8)
    d = np.diff(padded)
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1


def _span_days(t: NDArray[np.float64]) -> float:
    if t.size == 0:
        return 0.0
    step = float(np.median(np.diff(t))) if t.size > 1 else 0.0
    return (float(t[-1] - t[0]) + step) / DAY_S


def evaluate(
    scored: Sequence[Scored],
    truth: Sequence[Span],
    *,
    kinds: Collection[str] | None = None,
    tolerance_s: float = 0.0,
) -> Metrics:
    """Metrics of ``scored`` against ``truth`` (events of ``kinds``; all kinds when None)."""
    if tolerance_s < 0:
        raise ValueError("tolerance_s must be non-negative")
    by_device: dict[str, list[Span]] = {}
    for s in truth:
        by_device.setdefault(s.device_id, []).append(s)
    events = detected = points = ev_points = flagged = true_pts = 0
    alarms = false_alarms = other_alarms = true_alarms = 0
    days = 0.0
    delays: list[float] = []
    for sc in scored:
        t, f = sc.times, sc.flags
        spans = by_device.get(sc.device_id, [])
        target = [s for s in spans if kinds is None or s.kind in kinds]
        others = [s for s in spans if not (kinds is None or s.kind in kinds)]
        in_target = np.zeros(t.size, bool)
        in_other = np.zeros(t.size, bool)
        for s in target:
            lo, hi = np.searchsorted(t, [s.start, s.end], side="left")
            in_target[lo:hi] = True
            # detection window extends past the end by the tolerance
            whi = int(np.searchsorted(t, s.end + tolerance_s, side="left"))
            hits = np.flatnonzero(f[lo:whi])
            events += 1
            if hits.size:
                detected += 1
                delays.append(float(t[lo + hits[0]] - s.start))
        for s in others:
            lo, hi = np.searchsorted(t, [s.start, s.end], side="left")
            in_other[lo:hi] = True
        counted = ~(in_other & ~in_target)
        points += int(counted.sum())
        ev_points += int(in_target.sum())
        flagged += int((f & counted).sum())
        true_pts += int((f & in_target).sum())
        days += _span_days(t)
        first, last = _runs(f)
        for a, b in zip(first.tolist(), last.tolist(), strict=True):
            alarms += 1
            ta, tb = float(t[a]), float(t[b])
            if any(ta < s.end + tolerance_s and tb >= s.start for s in target):
                true_alarms += 1
            elif any(ta < s.end + tolerance_s and tb >= s.start for s in others):
                other_alarms += 1
            else:
                false_alarms += 1
    recall = _ratio(detected, events)
    precision = _ratio(true_pts, flagged)
    alarm_precision = _ratio(true_alarms, true_alarms + false_alarms)
    normal = points - ev_points
    return Metrics(
        events=events,
        events_detected=detected,
        event_recall=recall,
        points=points,
        event_points=ev_points,
        flagged_points=flagged,
        true_points=true_pts,
        point_precision=precision,
        far=_ratio(flagged - true_pts, normal),
        mar=_ratio(ev_points - true_pts, ev_points),
        alarms=alarms,
        false_alarms=false_alarms,
        alarms_other=other_alarms,
        alarm_precision=alarm_precision,
        sensor_days=days,
        false_alarms_per_sensor_day=_ratio(false_alarms, days),
        composite_f1=_f1(precision, recall),
        event_f1=_f1(alarm_precision, recall),
        median_delay_s=float(np.median(delays)) if delays else math.nan,
        mean_delay_s=float(np.mean(delays)) if delays else math.nan,
        delays_s=delays,
    )


def with_baselines(
    scored: Sequence[Scored],
    truth: Sequence[Span],
    *,
    kinds: Collection[str] | None = None,
    tolerance_s: float = 0.0,
) -> dict[str, Metrics]:
    """``{"detector", "no_alarm", "all_alarm"}`` metrics: the flags beside the two trivial baselines."""
    none = [Scored(s.device_id, s.times, np.zeros_like(s.flags)) for s in scored]
    every = [Scored(s.device_id, s.times, np.ones_like(s.flags)) for s in scored]
    return {
        name: evaluate(flags, truth, kinds=kinds, tolerance_s=tolerance_s)
        for name, flags in (("detector", scored), ("no_alarm", none), ("all_alarm", every))
    }
