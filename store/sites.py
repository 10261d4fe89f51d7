"""Sites and their zones (polygons of longitude/latitude vertices, PostgreSQL's native ``polygon``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import class_row, tuple_row

Conn = psycopg.Connection[Any]
Vertex = tuple[float, float]  # (lon, lat)

_POINT = re.compile(r"\(\s*([-+0-9.eE]+)\s*,\s*([-+0-9.eE]+)\s*\)")


class SiteExistsError(ValueError):
    """A site with that id is already registered."""


@dataclass(frozen=True, slots=True)
class Site:
    site_id: str
    name: str
    boundary: list[Vertex] | None


@dataclass(frozen=True, slots=True)
class Zone:
    site_id: str
    zone_id: str
    name: str
    kind: str
    area: list[Vertex]


def polygon_text(vertices: list[Vertex]) -> str:
    """``((lon,lat),...)``: PostgreSQL's polygon input; at least three finite vertices."""
    if len(vertices) < 3:
        raise ValueError("a polygon needs at least three vertices")
    for lon, lat in vertices:
        if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
            raise ValueError(f"vertex ({lon}, {lat}) is not a longitude/latitude pair")
    return "(" + ",".join(f"({lon!r},{lat!r})" for lon, lat in vertices) + ")"


def parse_polygon(text: str | None) -> list[Vertex] | None:
    if text is None:
        return None
    return [(float(x), float(y)) for x, y in _POINT.findall(text)]


def _site(row: tuple[Any, ...]) -> Site:
    return Site(row[0], row[1], parse_polygon(row[2]))


def list_sites(conn: Conn, *, sites: list[str] | None = None) -> list[Site]:
    """Sites ordered by id, optionally limited to some."""
    with conn.cursor(row_factory=tuple_row) as cur:
        rows = cur.execute(
            "SELECT site_id, name, boundary::text FROM sites"
            " WHERE %(s)s::text[] IS NULL OR site_id = ANY(%(s)s) ORDER BY site_id",
            {"s": sites},
        ).fetchall()
    return [_site(r) for r in rows]


def get(conn: Conn, *, site_id: str) -> Site | None:
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute("SELECT site_id, name, boundary::text FROM sites WHERE site_id = %s", (site_id,)).fetchone()
    return _site(row) if row else None


def create(conn: Conn, *, site_id: str, name: str, boundary: list[Vertex] | None = None) -> Site:
    """Register a site; ``SiteExistsError`` if the id is taken, ``ValueError`` for a malformed id or polygon."""
    poly = polygon_text(boundary) if boundary is not None else None
    try:
        with conn.transaction():
            conn.execute(
                "INSERT INTO sites (site_id, name, boundary) VALUES (%s, %s, %s::polygon)", (site_id, name, poly)
            )
    except psycopg.errors.UniqueViolation:
        raise SiteExistsError(f"site {site_id!r} already exists") from None
    except psycopg.errors.CheckViolation:
        raise ValueError(f"site id {site_id!r} must be 1-63 characters of a-z, 0-9, '-' or '_'") from None
    return Site(site_id, name, boundary)


def zones(conn: Conn, *, site_id: str | None = None) -> list[Zone]:
    """Zones of one site (or all), ordered by site and zone id."""
    with conn.cursor(row_factory=tuple_row) as cur:
        rows = cur.execute(
            "SELECT site_id, zone_id, name, kind, area::text FROM zones"
            " WHERE %(s)s::text IS NULL OR site_id = %(s)s ORDER BY site_id, zone_id",
            {"s": site_id},
        ).fetchall()
    return [Zone(r[0], r[1], r[2], r[3], parse_polygon(r[4]) or []) for r in rows]


def put_zone(conn: Conn, *, site_id: str, zone_id: str, name: str, kind: str, area: list[Vertex]) -> Zone:
    """Create or replace a zone of a site."""
    try:
        with conn.transaction():
            conn.execute(
                "INSERT INTO zones (site_id, zone_id, name, kind, area) VALUES (%s, %s, %s, %s, %s::polygon)"
                " ON CONFLICT (site_id, zone_id) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind,"
                " area = EXCLUDED.area",
                (site_id, zone_id, name, kind, polygon_text(area)),
            )
    except psycopg.errors.CheckViolation:
        raise ValueError(f"zone id {zone_id!r} must be 1-63 characters of a-z, 0-9, '-' or '_'") from None
    except psycopg.errors.ForeignKeyViolation:
        raise ValueError(f"unknown site {site_id!r}") from None
    return Zone(site_id, zone_id, name, kind, area)


def delete_zone(conn: Conn, *, site_id: str, zone_id: str) -> bool:
    cur = conn.execute("DELETE FROM zones WHERE site_id = %s AND zone_id = %s", (site_id, zone_id))
    return cur.rowcount == 1


def zone_of(conn: Conn, *, site_id: str, lat: float, lon: float) -> str | None:
    """The zone containing a point (the first by id when zones overlap), or None."""
    with conn.cursor(row_factory=class_row(_ZoneId)) as cur:
        row = cur.execute(
            "SELECT zone_id FROM zones WHERE site_id = %s AND area @> point(%s, %s) ORDER BY zone_id LIMIT 1",
            (site_id, lon, lat),
        ).fetchone()
    return row.zone_id if row else None


@dataclass(frozen=True, slots=True)
class _ZoneId:
    zone_id: str
