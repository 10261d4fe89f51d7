"""Ground truth of dust episodes: which devices an episode reached, and when, read from the plume itself.

An episode is evaluated on its own fixed time grid (independent of the stream's step and chunking). A device
is affected when the episode alone adds at least ``AFFECTED_PM10`` µg/m³ of PM10 there; its truth interval
runs from the first to the last grid time above that level.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from kipsense.records import TruthEvent
from simulators.episodes import EmissionModel, ScheduledEpisode
from simulators.mobile import Fleet
from simulators.plume import unit_plume
from simulators.site import SiteLayout
from simulators.wind import Steer, Weather

AFFECTED_PM10 = 20.0
GRID_MS = 5_000


def episode_truth(
    ep: ScheduledEpisode,
    layout: SiteLayout,
    weather: Weather,
    emission: EmissionModel,
    fleet: Fleet,
    device_ids: Sequence[str],
    steering: Sequence[Steer],
) -> tuple[TruthEvent, ...]:
    """One ``dust_episode`` truth event per affected device (fixed sensors first, then mobile)."""
    grid = np.arange(ep.start_ms, ep.end_ms, GRID_MS, dtype=np.int64)
    if grid.size == 0:
        return ()
    wx = weather.state(grid, steering)
    _, epi = emission.emissions(grid, wx.wind_speed, wx.local_hour, wx.weekday, (ep,))
    src = layout.sources[ep.source_index]
    args = (np.array([[src.x, src.y]]), np.array([src.height]), np.array([src.spread]))
    met = (wx.wind_dir, wx.wind_speed, wx.spread_factor)
    xy = layout.sensor_xy()
    fixed = unit_plume(*args, xy[:, 0], xy[:, 1], *met)[:, 0, :]
    mob_x, mob_y = fleet.positions(grid)
    mobile = unit_plume(*args, mob_x, mob_y, *met)[:, 0, :]
    contrib = epi[:, ep.source_index, None] * np.concatenate([fixed, mobile], axis=1)  # (G, N)
    above = contrib >= AFFECTED_PM10
    events = []
    for n in np.flatnonzero(above.any(axis=0)):
        hits = np.flatnonzero(above[:, n])
        start = int(grid[hits[0]])
        end = min(int(grid[hits[-1]]) + GRID_MS, ep.end_ms)
        events.append(
            TruthEvent(
                device_id=device_ids[int(n)],
                kind="dust_episode",
                start=_dt(start),
                end=_dt(end),
                params={
                    "episode_id": ep.episode_id,
                    "source": src.name,
                    "source_kind": str(src.kind),
                    "strength": round(ep.strength, 3),
                    "explicit": ep.explicit,
                    "peak_pm10_added": round(float(contrib[:, n].max()), 1),
                    "pm25_ratio": src.pm25_ratio,
                },
            )
        )
    return tuple(events)


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000.0, tz=UTC)
