"""Mobile tracks tagged with zones, and co-location checks of a mobile unit passing a fixed station."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from kipsense.provisioning import create_device
from kipsense.records import DeviceKind, DustReading
from kipsense.settings import MqttSettings
from models.dust.colocation import ALERT_TYPE, ColocationPolicy, compare, distance_m, judge, passes, track_and_compare
from store import alerts, readings, tracks
from store.db import connect

POLICY = ColocationPolicy()
STATION = (63.8405, 23.035)  # inside the park's "process" zone
_DEG_PER_M = 1 / 111_320.0


def test_passes_split_on_distance_and_gaps() -> None:
    t = np.array([0, 10, 20, 30, 40, 50, 400, 410, 420], dtype=np.float64)
    near = np.array([False, True, True, False, True, True, True, True, False])
    assert passes(t, near, max_gap_s=120) == [(1, 3), (4, 6), (6, 8)]
    assert passes(t, np.zeros(9, dtype=bool), max_gap_s=120) == []


def test_compare_pairs_nearest_in_time() -> None:
    mobile_t = np.array([0.0, 10.0, 20.0, 30.0])
    mobile_v = np.array([40.0, np.nan, 44.0, 42.0])
    fixed_t = np.array([-3.0, 8.0, 19.0, 300.0])
    fixed_v = np.array([20.0, 21.0, 22.0, 99.0])
    pairs = compare(mobile_t, mobile_v, fixed_t, fixed_v, POLICY)
    assert pairs is not None
    n, m, f = pairs
    # NaN is skipped; 0 pairs with -3, 20 and 30 both with 19 (11 s away, within 30 s); 300 is never used.
    assert n == 3 and m == 42.0 and abs(f - (20.0 + 22.0 + 22.0) / 3) < 1e-12
    assert compare(mobile_t, mobile_v, np.array([500.0]), np.array([1.0]), POLICY) is None
    assert judge(42.0, 21.0, POLICY)[2] is False
    assert judge(25.0, 20.0, POLICY)[2] is True
    assert judge(200.0, 170.0, POLICY)[2] is True  # within 35 % of the level


def test_distance() -> None:
    d = distance_m(np.array([63.84 + 100 * _DEG_PER_M]), np.array([23.03]), 63.84, 23.03)
    assert abs(d[0] - 100.0) < 1e-6


def test_track_zones_and_disagreement(database_url: str, mqtt_settings: MqttSettings, uid: str) -> None:
    lat0, lon0 = STATION
    with connect(database_url) as conn:
        fixed = create_device(conn, mqtt_settings, device_id=f"{uid}-fixed", kind=DeviceKind.DUST, lat=lat0, lon=lon0)
        mobile = create_device(conn, mqtt_settings, device_id=f"{uid}-mob", kind=DeviceKind.DUST, mobile=True)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    station_rows = [DustReading(fixed.device_id, start + timedelta(seconds=10 * i), pm10=20.0) for i in range(120)]
    mobile_rows = []
    for i in range(120):
        t = start + timedelta(seconds=10 * i)
        if 20 <= i < 30:  # first pass: 20 m north of the station, reading three times higher
            lat, lon, pm10 = lat0 + 20 * _DEG_PER_M, lon0, 60.0
        elif 70 <= i < 80:  # second pass: agrees
            lat, lon, pm10 = lat0 - 15 * _DEG_PER_M, lon0, 22.0
        else:  # elsewhere, outside every zone
            lat, lon, pm10 = 63.80, 23.10, 30.0
        mobile_rows.append(DustReading(mobile.device_id, t, pm10=pm10, lat=lat, lon=lon))
    received = datetime.now(UTC) - timedelta(minutes=1)
    with connect(database_url, autocommit=True) as conn:
        readings.write_records(conn, station_rows + mobile_rows, received_at=received)
        assert track_and_compare(conn, now=datetime.now(UTC), policy=POLICY) == 120
        assert track_and_compare(conn, now=datetime.now(UTC), policy=POLICY) == 0  # nothing new, nothing twice
        points = tracks.track(conn, device_id=mobile.device_id, start=start, end=start + timedelta(hours=1))
        assert len(points) == 120
        assert {p.zone_id for p in points[20:30]} == {"process"}
        assert {p.zone_id for p in points[:20]} == {None}
        checks = sorted(tracks.checks(conn, device_id=mobile.device_id), key=lambda c: c.start_time)
        assert [(c.fixed_id, c.samples, c.agree) for c in checks] == [
            (fixed.device_id, 10, False),
            (fixed.device_id, 10, True),
        ]
        assert checks[0].start_time == start + timedelta(seconds=200)
        assert abs(checks[0].difference - 40.0) < 1e-9 and checks[0].distance_m < 25
        raised = alerts.list_alerts(conn, device_id=mobile.device_id, type=ALERT_TYPE)
        assert len(raised) == 1 and raised[0].details["fixed_id"] == fixed.device_id
        assert tracks.checks(conn, device_id=fixed.device_id) != []
