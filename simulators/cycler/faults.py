"""Turning :class:`CyclerFault` specs into ground truth and into per-chunk (T, N) effect arrays."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from kipsense.records import TruthEvent
from simulators.cycler.config import INSTANT_KINDS, OPEN_END, CyclerConfig, CyclerFault

FloatArray = NDArray[np.float64]


def fault_end_s(fault: CyclerFault, dt: float) -> float:
    """End (exclusive, seconds since the run start) of the fault's effect."""
    if fault.kind in INSTANT_KINDS:
        return fault.start_s + dt
    return np.inf if fault.duration_s is None else fault.start_s + fault.duration_s


def truth_events(config: CyclerConfig, start: datetime) -> tuple[TruthEvent, ...]:
    """One :class:`TruthEvent` per configured fault, times in UTC."""
    ids = config.device_ids
    out: list[TruthEvent] = []
    for f in config.faults:
        end_s = fault_end_s(f, config.sample_interval_s)
        end = OPEN_END if not np.isfinite(end_s) else start + timedelta(seconds=end_s)
        params: dict[str, object] = {"magnitude": f.value, "channel": f.channel}
        if f.kind == "sensor_dropout":
            params["field"] = f.field
        out.append(TruthEvent(ids[f.channel], f.kind, start + timedelta(seconds=f.start_s), end, params))
    return tuple(out)


def overlapping(events: tuple[TruthEvent, ...], t0: datetime, t1: datetime) -> tuple[TruthEvent, ...]:
    """Events whose [start, end) overlaps [t0, t1)."""
    return tuple(e for e in events if e.start < t1 and e.end > t0)


@dataclass(frozen=True, slots=True)
class ChunkEffects:
    """What the active faults do to each (sample, channel) of one chunk."""

    extra_resistance: FloatArray
    extra_heat_w: FloatArray
    short_conductance: FloatArray
    #: field name ("all" or a float field) -> (T, N) mask of samples not sent / not measured.
    dropout: dict[str, NDArray[np.bool_]]
    #: row -> [(channel, kind, magnitude)] for faults that act once, at their first sample.
    events: dict[int, list[tuple[int, str, float]]]


def chunk_effects(config: CyclerConfig, t_s: FloatArray) -> ChunkEffects:
    """Effect arrays for the sample times ``t_s`` (seconds since the run start, shape (T,))."""
    n_t, n_ch = t_s.size, config.n_channels
    dt = config.sample_interval_s
    res = np.zeros((n_t, n_ch))
    heat = np.zeros((n_t, n_ch))
    cond = np.zeros((n_t, n_ch))
    dropout: dict[str, NDArray[np.bool_]] = {}
    events: dict[int, list[tuple[int, str, float]]] = {}
    for f in config.faults:
        active = (t_s >= f.start_s) & (t_s < fault_end_s(f, dt))
        if f.kind == "contact_resistance":
            res[active, f.channel] += f.value
        elif f.kind == "thermal_excursion":
            heat[active, f.channel] += f.value
        elif f.kind == "internal_short":
            cond[active, f.channel] += 1.0 / f.value
        elif f.kind == "sensor_dropout":
            mask = dropout.setdefault(f.field, np.zeros((n_t, n_ch), dtype=np.bool_))
            mask[active, f.channel] = True
        else:  # acts once, at the first sample at or after its start
            rows = np.flatnonzero((t_s >= f.start_s) & (t_s < f.start_s + dt))
            for r in rows.tolist():
                events.setdefault(r, []).append((f.channel, f.kind, f.value))
    return ChunkEffects(res, heat, cond, dropout, events)
