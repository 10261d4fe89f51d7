"""Site layout: counts, zones, ids and coordinates."""

from __future__ import annotations

import numpy as np
import pytest

from kipsense.records import is_valid_device_id
from simulators.site import ORIGIN_LAT, ORIGIN_LON, Zone, build_layout, to_latlon


@pytest.mark.parametrize("n", [0, 1, 20, 24, 50])
def test_counts_ids_and_zones(n: int) -> None:
    layout = build_layout(n, 2, device_prefix="pm")
    ids = [s.device_id for s in layout.sensors]
    assert len(ids) == n == len(set(ids))
    assert all(is_valid_device_id(i) and i.startswith("pm-") for i in ids)
    assert [m.device_id for m in layout.met_stations] == ["met-01", "met-02"]
    zones = {s.zone for s in layout.sensors}
    if n >= 20:
        assert zones == {Zone.FENCE, Zone.INNER, Zone.RESIDENTIAL}
        assert sum(s.zone is Zone.FENCE for s in layout.sensors) > n / 2


def test_positions_are_near_kokkola_and_consistent_with_metres() -> None:
    layout = build_layout(30, 1)
    for s in layout.sensors:
        lat, lon = to_latlon(np.array(s.x), np.array(s.y))
        assert (float(lat), float(lon)) == (s.lat, s.lon)
        assert abs(s.lat - ORIGIN_LAT) < 0.03 and abs(s.lon - ORIGIN_LON) < 0.06
    lat, lon = to_latlon(np.array([0.0, 1000.0]), np.array([1000.0, 0.0]))
    assert lat[0] - ORIGIN_LAT == pytest.approx(1000.0 / 111_320.0)
    assert (lon[1] - ORIGIN_LON) * 111_320.0 * np.cos(np.radians(ORIGIN_LAT)) == pytest.approx(1000.0)


def test_layout_depends_only_on_counts_and_seed() -> None:
    assert build_layout(24, 1, seed=3) == build_layout(24, 1, seed=3)
    assert build_layout(24, 1, seed=3).sensor_xy().tolist() != build_layout(24, 1, seed=4).sensor_xy().tolist()


def test_fence_sensors_surround_the_sources() -> None:
    layout = build_layout(40, 1)
    fence = np.array([(s.x, s.y) for s in layout.sensors if s.zone is Zone.FENCE])
    centre = layout.source_xy().mean(axis=0)
    bearings = np.sort(np.degrees(np.arctan2(*(fence - centre).T[::-1])) % 360.0)
    gaps = np.diff(np.concatenate([bearings, bearings[:1] + 360.0]))
    assert gaps.max() < 60.0


def test_lookup_and_errors() -> None:
    layout = build_layout(5, 1)
    assert layout.source("haul-road").kind == "haul_road"
    with pytest.raises(KeyError, match="no source"):
        layout.source("volcano")
    with pytest.raises(ValueError, match="negative"):
        build_layout(-1, 1)
