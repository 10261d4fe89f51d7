"""The industrial park's geometry: dust sources, fixed sensors, met stations and local/geographic coordinates.

Positions are kept in local metres (``x`` east, ``y`` north) around an origin near Kokkola (63.84 N, 23.03 E);
latitude and longitude follow from a local equirectangular projection, which is exact to centimetres over the
few kilometres of a park.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from kipsense import park
from kipsense.park import M_PER_DEG_LAT as _M_PER_DEG_LAT
from kipsense.park import ORIGIN_LAT as ORIGIN_LAT
from kipsense.park import ORIGIN_LON as ORIGIN_LON
from kipsense.park import SourceKind as SourceKind

# Fence line and residential areas are park facts (kipsense.park), shared with the API's site plan.
_FENCE_CENTRE = park.FENCE_CENTRE
_FENCE_AXES = park.FENCE_AXES
_RESIDENTIAL = park.RESIDENTIAL


@dataclass(frozen=True, slots=True)
class Source:
    """A dust source.

    ``height`` is the effective release height (m); ``spread`` the initial plume width (m) of an area or line
    source (0 for a point). ``pm25_ratio`` and ``pm1_ratio`` are the PM2.5/PM10 and PM1/PM10 mass ratios of
    what it emits: coarse for crushed concentrate and road dust, fine for a stack.
    """

    name: str
    kind: SourceKind
    x: float
    y: float
    height: float
    spread: float
    pm25_ratio: float
    pm1_ratio: float
    #: True when its activity (and so its episodes) follows the loading shifts.
    shift_bound: bool


class Zone(StrEnum):
    """Where a fixed sensor stands."""

    FENCE = "fence"
    INNER = "inner"
    RESIDENTIAL = "residential"


@dataclass(frozen=True, slots=True)
class SensorSite:
    """A fixed PM sensor or met station with its position."""

    device_id: str
    zone: Zone
    x: float
    y: float
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class SiteLayout:
    """Sources, fixed dust sensors and met stations of the park."""

    sources: tuple[Source, ...]
    sensors: tuple[SensorSite, ...]
    met_stations: tuple[SensorSite, ...]

    def source(self, name: str) -> Source:
        """The source called ``name``; ``KeyError`` if there is none."""
        for src in self.sources:
            if src.name == name:
                return src
        raise KeyError(f"no source named {name!r}; known: {[s.name for s in self.sources]}")

    def sensor_xy(self) -> NDArray[np.float64]:
        """Fixed sensor positions as an (N, 2) array of local metres."""
        return np.array([(s.x, s.y) for s in self.sensors], dtype=np.float64).reshape(-1, 2)

    def source_xy(self) -> NDArray[np.float64]:
        """Source positions as an (S, 2) array of local metres."""
        return np.array([(s.x, s.y) for s in self.sources], dtype=np.float64).reshape(-1, 2)


def to_latlon(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Local metres (east, north) to latitude and longitude in degrees."""
    lat = ORIGIN_LAT + np.asarray(y, dtype=np.float64) / _M_PER_DEG_LAT
    lon = ORIGIN_LON + np.asarray(x, dtype=np.float64) / (_M_PER_DEG_LAT * np.cos(np.radians(ORIGIN_LAT)))
    return lat, lon


def default_sources() -> tuple[Source, ...]:
    """The park's dust sources: concentrate stockpiles, a roaster stack, a haul road, harbour and rail handling."""
    # Emission of each park source: height, spread, PM2.5/PM10, PM1/PM10, follows the loading shifts.
    emission = {
        "stockpile-north": (6.0, 45.0, 0.20, 0.07, True),
        "stockpile-south": (6.0, 40.0, 0.20, 0.07, True),
        "stack-roaster": (25.0, 15.0, 0.70, 0.45, False),
        "haul-road": (1.5, 90.0, 0.15, 0.05, True),
        "harbour-loading": (10.0, 35.0, 0.22, 0.08, True),
        "rail-unloading": (4.0, 30.0, 0.25, 0.09, True),
    }
    out = []
    for src in park.sources():
        height, spread, pm25, pm1, shift_bound = emission[src.name]
        out.append(Source(src.name, src.kind, src.x, src.y, height, spread, pm25, pm1, shift_bound=shift_bound))
    return tuple(out)


def build_layout(
    n_sensors: int, n_met: int, *, seed: int = 0, device_prefix: str = "dust", met_prefix: str = "met"
) -> SiteLayout:
    """Place ``n_sensors`` fixed PM sensors and ``n_met`` met stations around the default sources.

    About a quarter stand inside the park near sources, a fifth in the residential areas and the rest
    along the fence line. Positions depend only on the counts and ``seed``.

    >>> layout = build_layout(24, 1)
    >>> len(layout.sensors), layout.sensors[0].device_id, layout.met_stations[0].device_id
    (24, 'dust-01', 'met-01')
    """
    if n_sensors < 0 or n_met < 0:
        raise ValueError("sensor and met station counts must not be negative")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5173]))
    sources = default_sources()
    n_res = n_sensors // 5
    n_inner = n_sensors // 4
    n_fence = n_sensors - n_res - n_inner

    pts: list[tuple[Zone, float, float]] = []
    phase = rng.uniform(0.0, 2 * np.pi)
    for i in range(n_fence):
        a = phase + 2 * np.pi * i / max(n_fence, 1) + rng.normal(0.0, 0.05)
        cx, cy = _FENCE_CENTRE
        pts.append((Zone.FENCE, cx + _FENCE_AXES[0] * np.cos(a), cy + _FENCE_AXES[1] * np.sin(a)))
    for i in range(n_inner):
        src = sources[i % len(sources)]
        # Monitors near a source stand on the side the prevailing south-westerly carries dust to, fanned out.
        bearing = np.radians(45.0 + 70.0 * ((i // len(sources)) % 3 - 1) + rng.normal(0.0, 10.0))
        dist = rng.uniform(160.0, 300.0)
        pts.append((Zone.INNER, src.x + dist * np.sin(bearing), src.y + dist * np.cos(bearing)))
    for i in range(n_res):
        cx, cy, r = _RESIDENTIAL[i % len(_RESIDENTIAL)]
        rad = r * np.sqrt(rng.uniform()) if i >= len(_RESIDENTIAL) else 0.0
        ang = rng.uniform(0.0, 2 * np.pi)
        pts.append((Zone.RESIDENTIAL, cx + rad * np.cos(ang), cy + rad * np.sin(ang)))

    sensors = tuple(_site(f"{device_prefix}-{i + 1:02d}", zone, x, y) for i, (zone, x, y) in enumerate(pts))
    met_xy = [(-100.0, 40.0), (-950.0, 560.0), (1600.0, 900.0)]
    mets = []
    for j in range(n_met):
        x, y = met_xy[j] if j < len(met_xy) else (float(rng.uniform(-900, 700)), float(rng.uniform(-500, 600)))
        mets.append(_site(f"{met_prefix}-{j + 1:02d}", Zone.INNER, x, y))
    return SiteLayout(sources=sources, sensors=sensors, met_stations=tuple(mets))


def _site(device_id: str, zone: Zone, x: float, y: float) -> SensorSite:
    lat, lon = to_latlon(np.array(x), np.array(y))
    return SensorSite(device_id, zone, float(x), float(y), float(lat), float(lon))
