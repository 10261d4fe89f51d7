"""The dust network of the industrial park: fixed and mobile low-cost PM sensors plus met stations.

A :class:`DustNetwork` produces an endless, seeded stream of :class:`DustFrame` chunks (or one long frame in
back-fill mode), vectorised over devices and time, with ground truth (:class:`kipsense.records.TruthEvent`)
for every injected episode and fault.

Publishing behaviours are data in the frame, for the publisher to act on:

- ``present[t, n]`` False: device ``n`` sends nothing live for step ``t`` (dropout, offline, dead battery);
- ``backfill[t, n]`` True: the reading was stored during an outage and is sent in one batch when the device
  is next present (values are valid; ``present`` is False there);
- ``duplicate[t, n]`` True: the device sends that reading twice;
- ``clock_offset_s[t, n]``: the device's clock error; it stamps the reading ``times[t] + clock_offset_s[t, n]``.

Example
-------
>>> from datetime import UTC, datetime, timedelta
>>> net = DustNetwork(DustNetworkConfig(n_sensors=20, seed=1))
>>> frame = net.generate(datetime(2024, 6, 3, tzinfo=UTC), timedelta(seconds=10), 360)
>>> frame.pm10.shape, frame.met.wind_speed.shape
((360, 20), (360, 1))
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from kipsense.records import TruthEvent
from simulators.episodes import EmissionModel, Episode, ScheduledEpisode, random_episodes
from simulators.faults import FaultInjector, FaultRate, FaultSpec
from simulators.frames import DustFrame, MetFrame, concat_frames
from simulators.mobile import Fleet
from simulators.realism import Realism, RealismSpec
from simulators.sensor import SensorModel
from simulators.site import SiteLayout, build_layout
from simulators.truth import episode_truth
from simulators.wind import Steer, Weather

__all__ = ["DustFrame", "DustNetwork", "DustNetworkConfig", "Episode", "FaultRate", "FaultSpec", "MetFrame"]

_GENERATE_BLOCK = 2048


@dataclass(frozen=True)
class DustNetworkConfig:
    """Size, seed, episode schedule and fault rates of a simulated dust network."""

    n_sensors: int = 24
    n_mobile: int = 0
    n_met: int = 1
    seed: int = 0
    device_prefix: str = "dust"
    met_prefix: str = "met"
    #: Explicit episodes, relative to the start of the stream; the wind is turned to carry each over sensors.
    episodes: tuple[Episode, ...] = ()
    #: Mean number of random episodes a day; more during weekday loading shifts.
    random_episodes_per_day: float = 2.0
    faults: FaultSpec = field(default_factory=FaultSpec)
    utc_offset_h: float = 2.0
    #: Properties of real data (drift, daily cycle, lasting level shifts, flat stretches, quantised values,
    #: irregular sampling) laid over the PM channels; ``None`` keeps the idealised sensors.
    realism: RealismSpec | None = None


class DustNetwork:
    """Seeded simulator of the park's dust network. Construction is cheap; work happens per chunk."""

    def __init__(self, config: DustNetworkConfig) -> None:
        self.config = config
        self._layout: SiteLayout | None = None

    @property
    def layout(self) -> SiteLayout:
        """Sources, fixed sensors and met stations (built on first use)."""
        if self._layout is None:
            c = self.config
            self._layout = build_layout(
                c.n_sensors, c.n_met, seed=c.seed, device_prefix=c.device_prefix, met_prefix=c.met_prefix
            )
        return self._layout

    @property
    def device_ids(self) -> tuple[str, ...]:
        """Dust device ids, fixed sensors first, then mobile ones (``<prefix>-mNN``)."""
        mobile = tuple(f"{self.config.device_prefix}-m{i + 1:02d}" for i in range(self.config.n_mobile))
        return tuple(s.device_id for s in self.layout.sensors) + mobile

    def chunks(self, start: datetime, step: timedelta, chunk_steps: int) -> Iterator[DustFrame]:
        """Endless stream of frames of ``chunk_steps`` steps each, starting at ``start``.

        State is carried across chunks, so concatenated chunks equal one :meth:`generate` call of the same
        total length. Truth events overlapping a chunk are repeated in every chunk they overlap.
        """
        if chunk_steps <= 0:
            raise ValueError("chunk_steps must be positive")
        return self._stream(_Run(self, start, step), chunk_steps)

    @staticmethod
    def _stream(run: _Run, chunk_steps: int) -> Iterator[DustFrame]:
        offset = 0
        while True:
            yield run.frame(offset, chunk_steps)
            offset += chunk_steps

    def generate(self, start: datetime, step: timedelta, n_steps: int) -> DustFrame:
        """One frame of ``n_steps`` steps (back-fill mode); long ranges are computed block by block."""
        if n_steps <= 0:
            raise ValueError("n_steps must be positive")
        run = _Run(self, start, step)
        frames = [run.frame(o, min(_GENERATE_BLOCK, n_steps - o)) for o in range(0, n_steps, _GENERATE_BLOCK)]
        return frames[0] if len(frames) == 1 else concat_frames(frames)


class _Run:
    """One stream from a start time: the carried state and the per-network models it needs."""

    def __init__(self, net: DustNetwork, start: datetime, step: timedelta) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware (UTC)")
        step_ms = step // timedelta(milliseconds=1)
        if step_ms <= 0 or timedelta(milliseconds=step_ms) != step:
            raise ValueError("step must be a positive whole number of milliseconds")
        cfg = net.config
        self.cfg = cfg
        self.layout = net.layout
        self.device_ids = net.device_ids
        self.start_ms = round(start.astimezone(UTC).timestamp() * 1000)
        self.step_ms = step_ms
        self.weather = Weather(cfg.seed, utc_offset_h=cfg.utc_offset_h)
        self.emission = EmissionModel.from_layout(self.layout)
        self.fleet = Fleet(cfg.n_mobile, cfg.seed)
        self.sensors = SensorModel(self.layout, cfg.n_mobile, cfg.n_met, cfg.seed, step_ms)
        self.explicit = tuple(self._schedule_explicit())
        self.steering = tuple(
            Steer(ep.start_ms, ep.end_ms, float(self.emission.best_from_deg[ep.source_index])) for ep in self.explicit
        )
        self.faults = FaultInjector(cfg.faults, cfg.seed, self.device_ids, self.start_ms, step_ms)
        self.realism = (
            Realism(cfg.realism, cfg.seed, self.device_ids, self.start_ms) if cfg.realism is not None else None
        )
        self._truth_cache: dict[str, tuple[TruthEvent, ...]] = {}

    def _schedule_explicit(self) -> Iterator[ScheduledEpisode]:
        names = [s.name for s in self.layout.sources]
        for k, ep in enumerate(self.cfg.episodes):
            if ep.source not in names:
                raise ValueError(f"episode source {ep.source!r} is not in the layout; known: {names}")
            start = self.start_ms + round(ep.start_offset_s * 1000)
            end = start + round(ep.duration_s * 1000)
            yield ScheduledEpisode(f"episode-{k + 1}", names.index(ep.source), start, end, ep.strength, explicit=True)

    def frame(self, offset: int, n: int) -> DustFrame:
        t_ms = self.start_ms + (offset + np.arange(n, dtype=np.int64)) * self.step_ms
        t0, t1 = int(t_ms[0]), int(t_ms[-1]) + self.step_ms
        episodes = self._episodes(t0, t1)
        wx = self.weather.state(t_ms, self.steering)
        base_q, epi_q = self.emission.emissions(t_ms, wx.wind_speed, wx.local_hour, wx.weekday, episodes)
        mob_x, mob_y = self.fleet.positions(t_ms)
        readings = self.sensors.readings(t_ms, wx, base_q, epi_q, mob_x, mob_y)
        normal_truth: tuple[TruthEvent, ...] = ()
        if self.realism is not None:
            for channel in ("pm1", "pm25", "pm10"):
                values, present, events = self.realism.apply(t_ms, getattr(readings, channel))
                setattr(readings, channel, np.maximum(values, 0.0))
            readings.present &= present
            normal_truth = tuple(events)
        faulted, fault_truth = self.faults.apply(t_ms, readings)
        truth = self._episode_truth(episodes, t0, t1) + fault_truth + normal_truth
        return DustFrame(
            device_ids=self.device_ids,
            times=t_ms.astype("datetime64[ms]"),
            pm1=faulted.pm1,
            pm25=faulted.pm25,
            pm10=faulted.pm10,
            temperature=faulted.temperature,
            rh=faulted.rh,
            lat=faulted.lat,
            lon=faulted.lon,
            battery=faulted.battery,
            rssi=faulted.rssi,
            present=faulted.present,
            met=MetFrame(
                device_ids=tuple(m.device_id for m in self.layout.met_stations),
                wind_speed=readings.met_wind_speed,
                wind_dir=readings.met_wind_dir,
                temperature=readings.met_temperature,
                rh=readings.met_rh,
            ),
            truth=truth,
            clock_offset_s=faulted.clock_offset_s,
            duplicate=faulted.duplicate,
            backfill=faulted.backfill,
        )

    def _episodes(self, t0: int, t1: int) -> tuple[ScheduledEpisode, ...]:
        explicit = tuple(ep for ep in self.explicit if ep.end_ms > t0 and ep.start_ms < t1)
        rnd = random_episodes(
            self.cfg.seed, self.cfg.random_episodes_per_day, self.emission.shift_bound, t0, t1, self.cfg.utc_offset_h
        )
        return explicit + rnd

    def _episode_truth(self, episodes: tuple[ScheduledEpisode, ...], t0: int, t1: int) -> tuple[TruthEvent, ...]:
        out: list[TruthEvent] = []
        for ep in episodes:
            if ep.episode_id not in self._truth_cache:
                self._truth_cache[ep.episode_id] = episode_truth(
                    ep, self.layout, self.weather, self.emission, self.fleet, self.device_ids, self.steering
                )
            out.extend(ev for ev in self._truth_cache[ep.episode_id] if _ms(ev.end) > t0 and _ms(ev.start) < t1)
        # Keep only episodes of this chunk: an endless stream must not grow its cache (truth is recomputable).
        current = {ep.episode_id for ep in episodes}
        for key in [k for k in self._truth_cache if k not in current]:
            del self._truth_cache[key]
        return tuple(out)


def _ms(t: datetime) -> int:
    return round(t.timestamp() * 1000)


def as_ms(values: NDArray[np.datetime64]) -> NDArray[np.int64]:
    """Frame times as Unix milliseconds."""
    return values.astype("datetime64[ms]").astype(np.int64)
