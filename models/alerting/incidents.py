"""Incidents: one dust episode seen by neighbouring sensors becomes one incident with its wind and likely source.

Alerts are linked when they come from fixed dust sensors of the same site within ``radius_m`` of each other
and their active periods lie within ``gap_s`` of each other; a connected group of at least ``min_alerts``
alerts opens an incident, and later alerts linked to an open incident join it.

The likely source is ranked like a Gaussian plume would weigh it: each park source upwind of the affected
sensors' centre (within ``MAX_OFF_WIND_DEG`` of the direction the wind came from) scores
``exp(-cross² / 2σ²) / σ²`` with ``cross`` the sensors' cross-wind offset from the source's plume axis and
``σ`` a plume width growing with downwind distance; so a near source slightly off the axis beats a far one on it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import psycopg

from kipsense import park
from models.alerting.settings import AlertingSettings
from store import incidents as store_incidents
from store.incidents import Member, Wind

log = logging.getLogger(__name__)

#: A source further off the upwind direction than this is not named.
MAX_OFF_WIND_DEG = 60.0
#: Sources further than this from the affected sensors are not considered (metres).
MAX_SOURCE_DISTANCE_M = 4_000.0
#: Plume width: initial spread (m) plus growth per metre downwind (neutral stability, roughly).
PLUME_SIGMA0_M = 20.0
PLUME_GROWTH = 0.1


def plume_score(distance_m: float, off_wind_deg: float) -> float:
    """Relative weight of a source ``distance_m`` away, ``off_wind_deg`` off the upwind direction (0 if downwind)."""
    off = np.radians(off_wind_deg)
    along, cross = distance_m * np.cos(off), distance_m * np.sin(off)
    if along <= 0:
        return 0.0
    sigma = PLUME_SIGMA0_M + PLUME_GROWTH * along
    return float(np.exp(-0.5 * (cross / sigma) ** 2) / sigma**2)


@dataclass(frozen=True, slots=True)
class Plan:
    """What a grouping run does: alerts to add to open incidents, and groups opening new ones (site, ids)."""

    attach: dict[int, list[int]] = field(default_factory=dict)
    new: list[tuple[str, list[int]]] = field(default_factory=list)


def _xy(members: list[Member]) -> np.ndarray:
    return np.array([park.to_local(m.lat, m.lon) for m in members], dtype=np.float64).reshape(-1, 2)


def plan_groups(
    open_members: list[Member], fresh: list[Member], *, radius_m: float, gap_s: float, min_alerts: int
) -> Plan:
    """Group ``fresh`` alerts with each other and with the members of open incidents."""
    nodes = open_members + [m for m in fresh if m.incident_id is None]
    n = len(nodes)
    if not fresh:
        return Plan()
    xy = _xy(nodes)
    start = np.array([m.first_time.timestamp() for m in nodes])
    end = np.array([m.last_time.timestamp() for m in nodes])
    site = np.array([m.site_id for m in nodes])
    dist = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    apart = np.maximum(start[:, None] - end[None, :], start[None, :] - end[:, None])
    linked = (dist <= radius_m) & (apart <= gap_s) & (site[:, None] == site[None, :])

    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(linked, k=1)), strict=True):
        ri, rj = find(int(i)), find(int(j))
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)

    plan = Plan()
    for idx in groups.values():
        incident_ids = sorted({inc for i in idx if (inc := nodes[i].incident_id) is not None})
        new_ids = [nodes[i].alert_id for i in idx if nodes[i].incident_id is None]
        if not new_ids:
            continue
        if incident_ids:
            plan.attach.setdefault(incident_ids[0], []).extend(new_ids)
        elif len(new_ids) >= min_alerts:
            plan.new.append((nodes[idx[0]].site_id, new_ids))
    return plan


def likely_source(members: list[Member], wind: Wind | None) -> tuple[str | None, float | None, dict[str, Any]]:
    """The source upwind of the affected sensors: (name, its bearing from them, details with every candidate)."""
    xy = _xy(members)
    centre = (float(xy[:, 0].mean()), float(xy[:, 1].mean()))
    candidates: list[dict[str, Any]] = []
    for src in park.sources():
        distance = float(np.hypot(src.x - centre[0], src.y - centre[1]))
        if distance > MAX_SOURCE_DISTANCE_M:
            continue
        b = park.bearing(centre, (src.x, src.y))
        off = park.angle_between(b, wind.dir_from) if wind else None
        score = plume_score(distance, off) if off is not None and off <= MAX_OFF_WIND_DEG else 0.0
        candidates.append(
            {
                "name": src.name,
                "kind": str(src.kind),
                "bearing": round(b, 1),
                "distance_m": round(distance),
                "off_wind_deg": None if off is None else round(off, 1),
                "score": score,
            }
        )
    candidates.sort(key=lambda c: -float(c["score"]))
    details: dict[str, Any] = {
        "centre": {"lat": park.to_lat(centre[1]), "lon": park.to_lon(centre[0])},
        "candidates": candidates,
        "wind_samples": wind.samples if wind else 0,
    }
    if wind is None or not candidates or candidates[0]["score"] <= 0:
        return None, None, details
    return str(candidates[0]["name"]), float(candidates[0]["bearing"]), details


class IncidentGrouping:
    """Housekeeping task: groups new alerts, refreshes open incidents' wind and source, closes quiet ones."""

    def __init__(self, settings: AlertingSettings) -> None:
        self._settings = settings

    def __call__(self, conn: psycopg.Connection[Any], *, now: datetime, settings: object = None) -> int:
        s = self._settings
        with conn.transaction():
            store_incidents.lock(conn)
            store_incidents.refresh(conn)
            fresh = store_incidents.unassigned(conn, since=now - timedelta(seconds=s.incident_lookback_s))
            plan = plan_groups(
                store_incidents.open_members(conn),
                fresh,
                radius_m=s.incident_radius_m,
                gap_s=s.incident_gap_s,
                min_alerts=s.incident_min_alerts,
            )
            by_id = {m.alert_id: m for m in fresh}
            for incident_id, ids in plan.attach.items():
                store_incidents.attach(conn, incident_id=incident_id, site_id=by_id[ids[0]].site_id, alert_ids=ids)
            for site_id, ids in plan.new:
                incident_id = store_incidents.create(conn, site_id=site_id, alert_ids=ids)
                log.info("incident %s opened with %s alerts", incident_id, len(ids))
            self._update_context(conn)
            closed = store_incidents.close_quiet(conn, quiet_since=now - timedelta(seconds=s.incident_gap_s))
        return sum(map(len, plan.attach.values())) + sum(len(ids) for _, ids in plan.new) + len(closed)

    def _update_context(self, conn: psycopg.Connection[Any]) -> None:
        members: dict[int, list[Member]] = {}
        for m in store_incidents.open_members(conn):
            if m.incident_id is not None:
                members.setdefault(m.incident_id, []).append(m)
        margin = timedelta(seconds=self._settings.wind_margin_s)
        for incident_id, group in members.items():
            start = min(m.first_time for m in group) - margin
            end = max(m.last_time for m in group)
            wind = store_incidents.mean_wind(conn, site_id=group[0].site_id, start=start, end=end)
            name, bearing, details = likely_source(group, wind)
            store_incidents.set_context(
                conn, incident_id=incident_id, wind=wind, likely_source=name, source_bearing=bearing, details=details
            )
