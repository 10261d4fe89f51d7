"""Co-location checks: when a mobile unit passes near a fixed station, compare their PM10 over the pass.

A *pass* is a run of track points within ``radius_m`` of the station with no gap longer than ``max_gap_s``.
Each mobile sample is paired with the station's reading nearest in time (within ``pair_tolerance_s``); the
pair disagrees when the mean difference exceeds ``max(abs_tolerance, rel_tolerance × mean level)``. A pass is
judged once it is over (the mobile unit has reported from elsewhere, or nothing for ``max_gap_s``), so a pass
split across housekeeping runs is still judged as one.

``track_and_compare`` is the housekeeping task: it tags newly received mobile readings with their zone (the
track) and judges the passes they complete, raising a ``colocation_disagreement`` alert on the mobile unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

import numpy as np
import psycopg
from numpy.typing import NDArray

from store import alerts as store_alerts
from store import tracks as store_tracks
from store.tracks import ColocationCheck, Station, TrackPoint

FloatArray = NDArray[np.float64]
ALERT_TYPE = "colocation_disagreement"
_M_PER_DEG = 111_320.0
_WATERMARK = "tracks"


@dataclass(frozen=True, slots=True)
class ColocationPolicy:
    radius_m: float = 50.0
    max_gap_s: float = 120.0
    pair_tolerance_s: float = 30.0
    min_samples: int = 3
    abs_tolerance: float = 10.0  # µg/m³
    rel_tolerance: float = 0.35
    #: How far back a track is re-read so a pass that began in an earlier run is judged whole.
    lookback: timedelta = timedelta(minutes=30)
    #: Received readings are tagged once they are this old (lets concurrent ingest transactions commit).
    settle: timedelta = timedelta(seconds=5)
    horizon: timedelta = timedelta(days=2)


def distance_m(lat: FloatArray, lon: FloatArray, lat0: float, lon0: float) -> FloatArray:
    """Equirectangular distance in metres (exact to centimetres over a park)."""
    dy = (lat - lat0) * _M_PER_DEG
    dx = (lon - lon0) * _M_PER_DEG * np.cos(np.radians(lat0))
    return np.asarray(np.hypot(dx, dy), dtype=np.float64)


def passes(t: FloatArray, near: NDArray[np.bool_], max_gap_s: float) -> list[tuple[int, int]]:
    """Index ranges ``[i, j)`` of near points forming passes (no gap over ``max_gap_s`` between them)."""
    idx = np.flatnonzero(near)
    if idx.size == 0:
        return []
    # A pass breaks where a point is not near, or where consecutive near points are too far apart in time.
    breaks = np.flatnonzero((np.diff(idx) > 1) | (np.diff(t[idx]) > max_gap_s)) + 1
    starts = np.concatenate(([0], breaks))
    ends = np.concatenate((breaks, [idx.size]))
    return [(int(idx[s]), int(idx[e - 1]) + 1) for s, e in zip(starts, ends, strict=True)]


def compare(
    mobile_t: FloatArray, mobile_v: FloatArray, fixed_t: FloatArray, fixed_v: FloatArray, policy: ColocationPolicy
) -> tuple[int, float, float] | None:
    """(pairs, mobile mean, fixed mean) over samples paired in time, or None with too few pairs."""
    ok = np.isfinite(mobile_v)
    mobile_t, mobile_v = mobile_t[ok], mobile_v[ok]
    if fixed_t.size == 0 or mobile_t.size == 0:
        return None
    after = np.searchsorted(fixed_t, mobile_t)
    right = np.minimum(after, fixed_t.size - 1)
    left = np.maximum(after - 1, 0)
    nearest = np.where(np.abs(fixed_t[left] - mobile_t) <= np.abs(fixed_t[right] - mobile_t), left, right)
    paired = np.abs(fixed_t[nearest] - mobile_t) <= policy.pair_tolerance_s
    n = int(paired.sum())
    if n < policy.min_samples:
        return None
    return n, float(mobile_v[paired].mean()), float(fixed_v[nearest[paired]].mean())


def judge(mobile_mean: float, fixed_mean: float, policy: ColocationPolicy) -> tuple[float, float, bool]:
    """(difference, tolerance, agree)."""
    diff = mobile_mean - fixed_mean
    tolerance = max(policy.abs_tolerance, policy.rel_tolerance * (abs(mobile_mean) + abs(fixed_mean)) / 2)
    return diff, tolerance, abs(diff) <= tolerance


def _epoch(points: list[TrackPoint]) -> FloatArray:
    return np.array([p.time.timestamp() for p in points], dtype=np.float64)


def _check_device(
    conn: psycopg.Connection[Any],
    points: list[TrackPoint],
    stations: list[Station],
    policy: ColocationPolicy,
    now: datetime,
) -> int:
    """Judge the finished passes of one mobile unit's recent track; returns disagreements raised."""
    t = _epoch(points)
    lat = np.array([p.lat for p in points])
    lon = np.array([p.lon for p in points])
    pm10 = np.array([np.nan if p.pm10 is None else p.pm10 for p in points], dtype=np.float64)
    raised = 0
    for st in stations:
        dist = distance_m(lat, lon, st.lat, st.lon)
        for i, j in passes(t, dist <= policy.radius_m, policy.max_gap_s):
            # Unfinished: the unit is still near the station at its latest point, and not silent for long.
            if j == len(points) and (now.timestamp() - t[-1]) <= policy.max_gap_s:
                continue
            start, end = points[i].time, points[j - 1].time
            fixed_t, fixed_v = store_tracks.pm10_series(
                conn,
                device_id=st.device_id,
                start=start - timedelta(seconds=policy.pair_tolerance_s),
                end=end + timedelta(seconds=policy.pair_tolerance_s),
            )
            result = compare(t[i:j], pm10[i:j], fixed_t, fixed_v, policy)
            if result is None:
                continue
            n, m_mean, f_mean = result
            diff, tolerance, agree = judge(m_mean, f_mean, policy)
            check = ColocationCheck(
                points[i].device_id, st.device_id, start, end, n, float(dist[i:j].mean()), m_mean, f_mean, diff, agree
            )
            if store_tracks.record_check(conn, check) and not agree:
                store_alerts.raise_alert(
                    conn,
                    device_id=check.mobile_id,
                    site_id=st.site_id,
                    type=ALERT_TYPE,
                    severity="warning",
                    value=diff,
                    threshold=tolerance,
                    at=end,
                    details={
                        "fixed_id": st.device_id,
                        "start": start.isoformat(),
                        "end": end.isoformat(),
                        "samples": n,
                        "mobile_mean": m_mean,
                        "fixed_mean": f_mean,
                    },
                )
                raised += 1
    return raised


def track_and_compare(
    conn: psycopg.Connection[Any], *, now: datetime, policy: ColocationPolicy | None = None, **_: Any
) -> int:
    """Tag newly received mobile readings into tracks and judge the passes near fixed stations.

    Returns the number of new track points. ``conn`` is an autocommit connection.
    """
    policy = policy or ColocationPolicy()
    until = now - policy.settle
    with conn.transaction():
        after = store_tracks.watermark(conn, name=_WATERMARK) or until - policy.horizon
        # Re-reading a little before the watermark catches rows whose transaction committed late.
        new = store_tracks.tag_new_points(
            conn, received_after=after - policy.settle, received_until=until, horizon=policy.horizon
        )
        store_tracks.set_watermark(conn, name=_WATERMARK, at=until)
        station_cache: dict[str, list[Station]] = {}
        for device_id, group in groupby(sorted(new, key=lambda p: (p.device_id, p.time)), key=lambda p: p.device_id):
            first = next(group)
            stations = station_cache.setdefault(first.site_id, store_tracks.stations(conn, site_id=first.site_id))
            if not stations:
                continue
            recent = store_tracks.track(
                conn, device_id=device_id, start=first.time - policy.lookback, end=now + policy.horizon
            )
            if recent:
                _check_device(conn, recent, stations, policy, now)
    return len(new)
