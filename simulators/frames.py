"""The arrays a dust network chunk is made of, time along axis 0 and device along axis 1."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kipsense.records import TruthEvent

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class MetFrame:
    """Readings of M met stations at the frame's times; each array is (T, M)."""

    device_ids: tuple[str, ...]
    wind_speed: FloatArray  # m/s
    wind_dir: FloatArray  # degrees the wind blows FROM (meteorological convention)
    temperature: FloatArray  # °C
    rh: FloatArray  # %


@dataclass(frozen=True)
class DustFrame:
    """T time steps of N dust sensors (fixed first, then mobile); each per-device array is (T, N).

    Concentrations in µg/m³, temperature in °C, RH in %, battery in %, RSSI in dBm. Values are defined
    everywhere (also where ``present`` is False) so that back-filled readings can be sent later.
    ``clock_offset_s``, ``duplicate`` and ``backfill`` describe publishing behaviour (see
    :mod:`simulators.dust`); ``None`` means none of it (no skew, no duplicates, no back-fill).
    ``truth`` holds every episode or fault event overlapping the frame's time span.
    """

    device_ids: tuple[str, ...]
    times: NDArray[np.datetime64]  # (T,) datetime64[ms], UTC
    pm1: FloatArray
    pm25: FloatArray
    pm10: FloatArray
    temperature: FloatArray
    rh: FloatArray
    lat: FloatArray
    lon: FloatArray
    battery: FloatArray
    rssi: FloatArray
    present: BoolArray
    met: MetFrame
    truth: tuple[TruthEvent, ...]
    clock_offset_s: FloatArray | None = None
    duplicate: BoolArray | None = None
    backfill: BoolArray | None = None

    @property
    def n_readings(self) -> int:
        """Number of dust readings (time steps x devices) in the frame."""
        return int(self.pm10.size)


_PER_DEVICE = ("pm1", "pm25", "pm10", "temperature", "rh", "lat", "lon", "battery", "rssi", "present")
_OPTIONAL = ("clock_offset_s", "duplicate", "backfill")
_MET = ("wind_speed", "wind_dir", "temperature", "rh")


def concat_frames(frames: Sequence[DustFrame]) -> DustFrame:
    """Join consecutive frames of the same devices along time; truth events are de-duplicated, order kept."""
    if not frames:
        raise ValueError("no frames to join")
    first = frames[0]
    arrays: dict[str, object] = {name: np.concatenate([getattr(f, name) for f in frames]) for name in _PER_DEVICE}
    for name in _OPTIONAL:
        parts = [getattr(f, name) for f in frames]
        arrays[name] = None if any(p is None for p in parts) else np.concatenate(parts)
    met = MetFrame(
        device_ids=first.met.device_ids,
        **{name: np.concatenate([getattr(f.met, name) for f in frames]) for name in _MET},
    )
    truth: list[TruthEvent] = []
    seen: set[tuple[str, str, object, object, str]] = set()
    for f in frames:
        for ev in f.truth:
            key = (ev.device_id, ev.kind, ev.start, ev.end, repr(sorted(ev.params.items())))
            if key not in seen:
                seen.add(key)
                truth.append(ev)
    return DustFrame(
        device_ids=first.device_ids,
        times=np.concatenate([f.times for f in frames]),
        met=met,
        truth=tuple(truth),
        **arrays,  # type: ignore[arg-type]
    )
