"""Sites of the park with their boundaries and zones (polygons of [lon, lat] vertices)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, Field

from api.deps import ConnDep, Reader, require, site_scope
from api.inputs import RequestBody
from api.routes.field import check_site
from store import sites as store_sites
from store.apikeys import ApiKey
from store.sites import SiteExistsError

router = APIRouter(prefix="/sites", tags=["sites"])
FieldKey = Annotated[ApiKey, Depends(require("field"))]
AdminKey = Annotated[ApiKey, Depends(require("admin"))]
Polygon = Annotated[list[tuple[float, float]], Field(min_length=3, max_length=1000)]


class ZonePublic(BaseModel):
    zone_id: str
    name: str
    kind: str
    area: list[tuple[float, float]]


class SitePublic(BaseModel):
    site_id: str
    name: str
    boundary: list[tuple[float, float]] | None
    zones: list[ZonePublic]


class SitesPublic(BaseModel):
    data: list[SitePublic]


class SiteCreate(RequestBody):
    site_id: str = Field(max_length=63)
    name: str = Field(max_length=200)
    boundary: Polygon | None = None


class ZonePut(RequestBody):
    name: str = Field(max_length=200)
    kind: str = Field(default="area", max_length=50)
    area: Polygon


def _site(conn: ConnDep, site: store_sites.Site) -> SitePublic:
    zones = [
        ZonePublic(zone_id=z.zone_id, name=z.name, kind=z.kind, area=z.area)
        for z in store_sites.zones(conn, site_id=site.site_id)
    ]
    return SitePublic(site_id=site.site_id, name=site.name, boundary=site.boundary, zones=zones)


def _visible(conn: ConnDep, key: ApiKey, site_id: str) -> store_sites.Site:
    site = store_sites.get(conn, site_id=site_id)
    scope = site_scope(key)
    if site is None or (scope is not None and site_id not in scope):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no site {site_id!r}")
    return site


@router.get("", response_model=SitesPublic)
def list_sites(conn: ConnDep, key: Reader) -> SitesPublic:
    """Sites with boundary and zones (a field key sees its own sites only)."""
    return SitesPublic(data=[_site(conn, s) for s in store_sites.list_sites(conn, sites=site_scope(key))])


@router.get("/{site_id}", response_model=SitePublic)
def get_site(site_id: str, conn: ConnDep, key: Reader) -> SitePublic:
    """One site with its boundary and zones."""
    return _site(conn, _visible(conn, key, site_id))


@router.post("", response_model=SitePublic, status_code=status.HTTP_201_CREATED)
def create_site(body: SiteCreate, conn: ConnDep, key: AdminKey) -> SitePublic:
    """Register a site."""
    try:
        site = store_sites.create(conn, site_id=body.site_id, name=body.name, boundary=body.boundary)
    except SiteExistsError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return _site(conn, site)


@router.put("/{site_id}/zones/{zone_id}", response_model=ZonePublic)
def put_zone(site_id: str, zone_id: str, body: ZonePut, conn: ConnDep, key: FieldKey) -> ZonePublic:
    """Create or replace a zone of a site."""
    _visible(conn, key, site_id)
    check_site(key, site_id)
    try:
        z = store_sites.put_zone(conn, site_id=site_id, zone_id=zone_id, name=body.name, kind=body.kind, area=body.area)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return ZonePublic(zone_id=z.zone_id, name=z.name, kind=z.kind, area=z.area)


@router.delete("/{site_id}/zones/{zone_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_zone(site_id: str, zone_id: str, conn: ConnDep, key: FieldKey) -> None:
    """Remove a zone; new track points are no longer tagged with it."""
    _visible(conn, key, site_id)
    if not store_sites.delete_zone(conn, site_id=site_id, zone_id=zone_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no zone {zone_id!r} in site {site_id!r}")
