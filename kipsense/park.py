"""Facts of the industrial park: where its dust sources, fence line and neighbours are.

Positions are local metres (``x`` east, ``y`` north) around an origin near Kokkola (63.84 N, 23.03 E);
latitude and longitude follow from a local equirectangular projection, exact to centimetres over the few
kilometres of a park. The simulators place their emitters here and the API draws the site plan and names the
likely source of an incident from the same table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

ORIGIN_LAT = 63.84
ORIGIN_LON = 23.03
M_PER_DEG_LAT = 111_320.0

#: Fence line of the park: an ellipse (centre, half-axes east and north), metres.
FENCE_CENTRE = (-100.0, 50.0)
FENCE_AXES = (1150.0, 750.0)
#: Residential areas near the park: (x, y, radius) in metres.
RESIDENTIAL = ((1700.0, 950.0, 300.0), (1450.0, -1150.0, 250.0))


class SourceKind(StrEnum):
    """Kinds of dust source."""

    STOCKPILE = "stockpile"
    STACK = "stack"
    HAUL_ROAD = "haul_road"
    HARBOUR = "harbour"
    HANDLING = "handling"


@dataclass(frozen=True, slots=True)
class ParkSource:
    """A dust source of the park and where it is."""

    name: str
    kind: SourceKind
    x: float
    y: float

    @property
    def lat(self) -> float:
        return to_lat(self.y)

    @property
    def lon(self) -> float:
        return to_lon(self.x)


def sources() -> tuple[ParkSource, ...]:
    """Concentrate stockpiles, the roaster stack, the haul road, harbour loading and rail unloading."""
    k = SourceKind
    return (
        ParkSource("stockpile-north", k.STOCKPILE, -420.0, 160.0),
        ParkSource("stockpile-south", k.STOCKPILE, -160.0, -260.0),
        ParkSource("stack-roaster", k.STACK, 320.0, 220.0),
        ParkSource("haul-road", k.HAUL_ROAD, 120.0, -90.0),
        ParkSource("harbour-loading", k.HARBOUR, -880.0, 470.0),
        ParkSource("rail-unloading", k.HANDLING, 520.0, -330.0),
    )


def _m_per_deg_lon() -> float:
    return M_PER_DEG_LAT * math.cos(math.radians(ORIGIN_LAT))


def to_lat(y: float) -> float:
    """Local metres north to latitude (degrees)."""
    return ORIGIN_LAT + y / M_PER_DEG_LAT


def to_lon(x: float) -> float:
    """Local metres east to longitude (degrees)."""
    return ORIGIN_LON + x / _m_per_deg_lon()


def to_local(lat: float, lon: float) -> tuple[float, float]:
    """Latitude and longitude (degrees) to local metres (east, north)."""
    return (lon - ORIGIN_LON) * _m_per_deg_lon(), (lat - ORIGIN_LAT) * M_PER_DEG_LAT


def bearing(from_xy: tuple[float, float], to_xy: tuple[float, float]) -> float:
    """Compass bearing in degrees (0 = north, 90 = east) from one local point to another."""
    dx, dy = to_xy[0] - from_xy[0], to_xy[1] - from_xy[1]
    return math.degrees(math.atan2(dx, dy)) % 360.0


def angle_between(a: float, b: float) -> float:
    """Smallest absolute difference of two compass angles, 0..180 degrees."""
    d = abs(a - b) % 360.0
    return min(d, 360.0 - d)
