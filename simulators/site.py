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

ORIGIN_LAT = 63.84
ORIGIN_LON = 23.03
_M_PER_DEG_LAT = 111_320.0

# Fence line of the park: an ellipse around its centre (metres).
_FENCE_CENTRE = (-100.0, 50.0)
_FENCE_AXES = (1150.0, 750.0)
# Residential areas near the park: centre and radius (metres).
_RESIDENTIAL = ((1700.0, 950.0, 300.0), (1450.0, -1150.0, 250.0))


class SourceKind(StrEnum):
    """Kinds of dust source; each has its own particle size mix."""

    STOCKPILE = "stockpile"
    STACK = "stack"
    HAUL_ROAD = "haul_road"
    HARBOUR = "harbour"
    HANDLING = "handling"


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
    k = SourceKind
    return (
        Source("stockpile-north", k.STOCKPILE, -420.0, 160.0, 6.0, 45.0, 0.20, 0.07, shift_bound=True),
        Source("stockpile-south", k.STOCKPILE, -160.0, -260.0, 6.0, 40.0, 0.20, 0.07, shift_bound=True),
        Source("stack-roaster", k.STACK, 320.0, 220.0, 25.0, 15.0, 0.70, 0.45, shift_bound=False),
        Source("haul-road", k.HAUL_ROAD, 120.0, -90.0, 1.5, 90.0, 0.15, 0.05, shift_bound=True),
        Source("harbour-loading", k.HARBOUR, -880.0, 470.0, 10.0, 35.0, 0.22, 0.08, shift_bound=True),
        Source("rail-unloading", k.HANDLING, 520.0, -330.0, 4.0, 30.0, 0.25, 0.09, shift_bound=True),
    )


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
