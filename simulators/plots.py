"""Pictures of one simulated day of the dust network, for the docs and for eyeballing the simulator.

``plot_simulated_day(Path("docs"))`` writes ``simulated-day-wind-rose.png``, ``simulated-day-episode.png``
and ``simulated-day-overview.png``. Figures are drawn with matplotlib's object API on the Agg canvas (no
pyplot state), so calling this from tests or services is safe.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.projections.polar import PolarAxes
from numpy.typing import NDArray

from simulators.dust import DustFrame, DustNetwork, DustNetworkConfig, Episode
from simulators.site import SiteLayout, Zone

_SPEED_BINS = (0.0, 2.0, 4.0, 6.0, 9.0, np.inf)


def plot_simulated_day(
    out_dir: Path,
    *,
    seed: int = 0,
    day: datetime = datetime(2024, 6, 4, tzinfo=UTC),
    episode: Episode | None = None,
) -> list[Path]:
    """Simulate one day (24 sensors, 2 mobile, 10 s) with ``episode`` and save three PNGs in ``out_dir``.

    The default episode is 30 minutes at the southern concentrate stockpile from 10:00 UTC.
    """
    episode = episode or Episode("stockpile-south", 10 * 3600.0, 1800.0)
    out_dir.mkdir(parents=True, exist_ok=True)
    net = DustNetwork(DustNetworkConfig(n_sensors=24, n_mobile=2, seed=seed, episodes=(episode,)))
    frame = net.generate(day, timedelta(seconds=10), 8640)
    paths = [
        _save(_wind_rose(frame), out_dir / "simulated-day-wind-rose.png"),
        _save(_episode(frame, net.layout, episode, day), out_dir / "simulated-day-episode.png"),
        _save(_overview(frame), out_dir / "simulated-day-overview.png"),
    ]
    return paths


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=110)
    return path


def _hours(frame: DustFrame) -> NDArray[np.float64]:
    t = frame.times.astype(np.int64)
    return np.asarray((t - t[0]) / 3.6e6, dtype=np.float64)


def _wind_rose(frame: DustFrame) -> Figure:
    fig = Figure(figsize=(6, 6))
    ax = fig.add_subplot(projection="polar")
    if not isinstance(ax, PolarAxes):
        raise TypeError("expected polar axes")
    ax.set_theta_zero_location("N")
    ax.set_theta_direction(-1)
    sectors = 16
    width = 2 * np.pi / sectors
    d = frame.met.wind_dir[:, 0]
    s = frame.met.wind_speed[:, 0]
    sector = np.round(d / (360.0 / sectors)).astype(int) % sectors
    bottom = np.zeros(sectors)
    for lo, hi in itertools.pairwise(_SPEED_BINS):
        share = np.bincount(sector[(s >= lo) & (s < hi)], minlength=sectors) / d.size * 100.0
        label = f"{lo:g}-{hi:g} m/s" if np.isfinite(hi) else f">{lo:g} m/s"
        ax.bar(np.arange(sectors) * width, share, width=width * 0.9, bottom=bottom, label=label)
        bottom += share
    ax.set_title(f"Wind rose, {frame.met.device_ids[0]}, one day (% of time, direction FROM)")
    ax.legend(loc="lower left", bbox_to_anchor=(-0.1, -0.12), fontsize=8)
    return fig


def _episode(frame: DustFrame, layout: SiteLayout, episode: Episode, day: datetime) -> Figure:
    fig = Figure(figsize=(12, 5.5))
    ax_map, ax_ts = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    start = day + timedelta(seconds=episode.start_offset_s)
    affected = {e.device_id for e in frame.truth if e.params.get("episode_id") == "episode-1"}
    n_fixed = len(layout.sensors)
    i0 = int(episode.start_offset_s // 10)
    i1 = i0 + int(episode.duration_s // 10)
    rise = frame.pm10[i0:i1, :n_fixed].mean(axis=0) - frame.pm10[i0 - 360 : i0, :n_fixed].mean(axis=0)
    _map(ax_map, layout, affected, rise, frame.met.wind_dir[i0:i1, 0], episode.source)

    src = layout.source(episode.source)
    xy = layout.sensor_xy()
    bearing = np.degrees(np.arctan2(xy[:, 0] - src.x, xy[:, 1] - src.y)) % 360.0
    wind_to = (np.degrees(np.angle(np.exp(1j * np.radians(frame.met.wind_dir[i0:i1, 0])).mean())) + 180.0) % 360.0
    upwind = [n for n in range(n_fixed) if abs((bearing[n] - wind_to + 180.0) % 360.0 - 180.0) > 120.0]
    down = [frame.device_ids.index(d) for d in sorted(affected) if frame.device_ids.index(d) < n_fixed]
    lo, hi = i0 - 180, i1 + 180
    h = _hours(frame)[lo:hi]
    for n in down:
        ax_ts.plot(h, frame.pm10[lo:hi, n], lw=1.2, label=f"{frame.device_ids[n]} (downwind)")
    for n in upwind[:3]:
        ax_ts.plot(h, frame.pm10[lo:hi, n], lw=1.0, ls="--", color="grey", label=f"{frame.device_ids[n]} (upwind)")
    ax_ts.axvspan(i0 / 360.0, i1 / 360.0, color="orange", alpha=0.15, label="episode (truth)")
    ax_ts.axhline(50.0, color="red", lw=0.8, ls=":", label="50 µg/m³")
    ax_ts.set_xlabel(f"hours since {day:%Y-%m-%d %H:%M} UTC")
    ax_ts.set_ylabel("PM10 (µg/m³)")
    ax_ts.set_title(f"Episode at {episode.source}, {start:%H:%M} UTC: downwind vs upwind sensors")
    ax_ts.legend(fontsize=7, ncol=2)
    return fig


def _map(
    ax: Axes,
    layout: SiteLayout,
    affected: set[str],
    rise: NDArray[np.float64],
    wind_from: NDArray[np.float64],
    source: str,
) -> None:
    for src in layout.sources:
        ax.plot(src.x, src.y, marker="^", ms=10, color="black" if src.name != source else "red")
        ax.annotate(src.name, (src.x, src.y), fontsize=7, xytext=(4, 4), textcoords="offset points")
    xy = layout.sensor_xy()
    markers = {Zone.FENCE: "o", Zone.INNER: "s", Zone.RESIDENTIAL: "D"}
    for zone, marker in markers.items():
        idx = [i for i, s in enumerate(layout.sensors) if s.zone is zone]
        sc = ax.scatter(
            xy[idx, 0],
            xy[idx, 1],
            c=np.clip(rise[idx], 0.0, None),
            cmap="viridis",
            marker=marker,
            vmin=0.0,
            vmax=max(float(rise.max()), 1.0),
            edgecolors="k",
            label=str(zone),
        )
    for i, s in enumerate(layout.sensors):
        if s.device_id in affected:
            ax.annotate(
                s.device_id, (xy[i, 0], xy[i, 1]), fontsize=7, color="red", xytext=(4, -8), textcoords="offset points"
            )
    mean_from = np.radians(np.degrees(np.angle(np.exp(1j * np.radians(wind_from)).mean())))
    ax.arrow(-1200.0, -900.0, -300.0 * np.sin(mean_from), -300.0 * np.cos(mean_from), width=25.0, color="tab:blue")
    ax.annotate("wind", (-1200.0, -900.0), fontsize=8, color="tab:blue", xytext=(-30, 6), textcoords="offset points")
    ax.figure.colorbar(sc, ax=ax, label="PM10 rise during episode (µg/m³)")
    ax.set_aspect("equal")
    ax.set_xlabel("x east (m)")
    ax.set_ylabel("y north (m)")
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title("Layout: sources (triangles), sensors by zone")


def _overview(frame: DustFrame) -> Figure:
    fig = Figure(figsize=(12, 7))
    ax_pm, ax_met = fig.add_subplot(2, 1, 1), fig.add_subplot(2, 1, 2)
    h = _hours(frame)
    t0 = frame.times[0].astype("datetime64[ms]").astype(np.int64)
    ax_pm.plot(h, frame.pm10, lw=0.4, alpha=0.6)
    ax_pm.plot(h, np.median(frame.pm10, axis=1), lw=1.5, color="black", label="network median")
    for e in frame.truth:
        if e.kind == "dust_episode":
            a = (e.start.timestamp() * 1000 - t0) / 3.6e6
            b = (e.end.timestamp() * 1000 - t0) / 3.6e6
            ax_pm.axvspan(a, b, color="orange", alpha=0.08)
    ax_pm.set_yscale("log")
    ax_pm.set_ylabel("PM10 (µg/m³), all sensors")
    ax_pm.set_title("One simulated day: background with diurnal cycle, episodes shaded (truth)")
    ax_pm.legend(fontsize=8)
    ax_met.plot(h, frame.met.wind_speed[:, 0], color="tab:blue", lw=0.8)
    ax_met.set_ylabel("wind speed (m/s)", color="tab:blue")
    ax_dir = ax_met.twinx()
    ax_dir.plot(h, frame.met.wind_dir[:, 0], ".", ms=0.8, color="tab:green")
    ax_dir.set_ylabel("wind from (deg)", color="tab:green")
    ax_dir.set_ylim(0, 360)
    ax_met.set_xlabel("hours since start (UTC)")
    return fig
