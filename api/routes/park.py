"""The park's plan for the operator page: fence, neighbours, dust sources and the current wind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter

from api.deps import ConnDep, LimitsDep, Reader, site_scope
from api.schemas import AreaPublic, ParkPublic, PointPublic, WindPublic
from kipsense import park
from store import device_status

router = APIRouter(tags=["park"])


@router.get("/park", response_model=ParkPublic)
def site_plan(conn: ConnDep, key: Reader, limits: LimitsDep) -> ParkPublic:
    """Geometry of the park in local metres and degrees, and the wind of the last ten minutes."""
    since = datetime.now(UTC) - timedelta(minutes=10)
    scope = site_scope(key)
    wind = None
    for site in scope if scope is not None else [None]:
        found = device_status.latest_wind(conn, site_id=site, since=since)
        if found is not None:
            wind = WindPublic(dir_from=found[0], speed=found[1], samples=found[2], since=since)
            break
    return ParkPublic(
        origin_lat=park.ORIGIN_LAT,
        origin_lon=park.ORIGIN_LON,
        fence=AreaPublic(x=park.FENCE_CENTRE[0], y=park.FENCE_CENTRE[1], rx=park.FENCE_AXES[0], ry=park.FENCE_AXES[1]),
        residential=[AreaPublic(x=x, y=y, rx=r, ry=r) for x, y, r in park.RESIDENTIAL],
        sources=[
            PointPublic(name=s.name, kind=str(s.kind), lat=s.lat, lon=s.lon, x=s.x, y=s.y) for s in park.sources()
        ],
        wind=wind,
        pm10_limit=limits.pm10_limit,
    )
