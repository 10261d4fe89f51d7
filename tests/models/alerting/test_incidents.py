"""Incidents: neighbouring sensors' alerts form one incident with the wind and the upwind source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kipsense import park
from kipsense.records import DeviceKind, MetReading
from models.alerting.incidents import IncidentGrouping, likely_source, plan_groups
from models.alerting.settings import AlertingSettings
from store import alerts as store_alerts
from store import devices as store_devices
from store import incidents as store_incidents
from store import readings as store_readings
from store.db import connect
from store.incidents import Member, Wind

T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)


def _member(alert_id: int, x: float, y: float, minutes: float, incident_id: int | None = None) -> Member:
    t = T0 + timedelta(minutes=minutes)
    return Member(
        alert_id, incident_id, f"d{alert_id}", "park", t, t + timedelta(minutes=5), park.to_lat(y), park.to_lon(x)
    )


def test_plan_links_neighbours_in_time_and_space() -> None:
    fresh = [
        _member(1, 0, 0, 0),
        _member(2, 400, 0, 3),  # near 1, same time
        _member(3, 800, 0, 6),  # near 2 only: joins by chaining
        _member(4, 5000, 0, 1),  # far away: alone
        _member(5, 0, 100, 300),  # right place, hours later: alone
    ]
    plan = plan_groups([], fresh, radius_m=500, gap_s=1800, min_alerts=2)
    assert plan.attach == {} and plan.new == [("park", [1, 2, 3])]
    # a later alert next to an open incident's member joins it
    joined = plan_groups(
        [_member(1, 0, 0, 0, incident_id=9)], [_member(6, 300, 0, 10)], radius_m=500, gap_s=1800, min_alerts=2
    )
    assert joined.attach == {9: [6]} and joined.new == []


def test_likely_source_is_upwind() -> None:
    # sensors just north-east of the roaster stack; wind from the south-west blows the stack's dust onto them
    stack = next(s for s in park.sources() if s.name == "stack-roaster")
    members = [_member(1, stack.x + 250, stack.y + 250, 0), _member(2, stack.x + 300, stack.y + 200, 0)]
    name, bearing, details = likely_source(members, Wind(dir_from=225.0, speed=5.0, samples=10))
    assert name == "stack-roaster" and bearing is not None and abs(bearing - 225) < 15
    assert details["candidates"][0]["name"] == "stack-roaster"
    # wind from the north-east: nothing lies upwind within the tolerance
    assert likely_source(members, Wind(dir_from=45.0, speed=5.0, samples=10))[0] is None
    assert likely_source(members, None)[0] is None


@pytest.mark.stack
def test_grouping_task_end_to_end(database_url: str) -> None:
    settings = AlertingSettings(incident_radius_m=700, incident_gap_s=1200)
    task = IncidentGrouping(settings)
    stack = next(s for s in park.sources() if s.name == "stack-roaster")
    now = datetime.now(UTC).replace(microsecond=0)
    with connect(database_url) as conn:
        for i, (dx, dy) in enumerate([(250, 250), (350, 150), (150, 380)]):
            store_devices.create(
                conn,
                device_id=f"in-{i}",
                kind=DeviceKind.DUST,
                lat=park.to_lat(stack.y + dy),
                lon=park.to_lon(stack.x + dx),
            )
        store_devices.create(
            conn, device_id="in-far", kind=DeviceKind.DUST, lat=park.to_lat(-700), lon=park.to_lon(-900)
        )
        store_devices.create(conn, device_id="in-met", kind=DeviceKind.MET, lat=park.to_lat(40), lon=park.to_lon(-100))
        store_readings.write_records(
            conn,
            [
                MetReading("in-met", now - timedelta(minutes=m), wind_speed=5.0, wind_dir=220.0 + m % 10)
                for m in range(30)
            ],
            received_at=now,
        )
        ids = []
        for i, dev in enumerate(["in-0", "in-1", "in-far"]):
            aid, _ = store_alerts.raise_alert(
                conn,
                device_id=dev,
                site_id="park",
                type="pm10_limit",
                severity="warning",
                value=80.0,
                threshold=50.0,
                at=now - timedelta(minutes=10 - i),
            )
            ids.append(aid)
        conn.commit()
        conn.autocommit = True

        assert task(conn, now=now) == 2
        (incident,) = store_incidents.list_incidents(conn)
        assert incident.device_ids == ["in-0", "in-1"] and incident.alert_count == 2 and incident.status == "open"
        assert incident.likely_source == "stack-roaster"
        assert incident.wind_dir is not None and 215 < incident.wind_dir < 235
        assert store_alerts.get(conn, alert_id=ids[2]).incident_id is None  # type: ignore[union-attr]
        assert task(conn, now=now) == 0  # idempotent

        with conn.transaction():
            late, _ = store_alerts.raise_alert(
                conn,
                device_id="in-2",
                site_id="park",
                type="pm10_limit",
                severity="warning",
                value=90.0,
                threshold=50.0,
                at=now,
            )
        assert task(conn, now=now) == 1
        grown = store_incidents.get(conn, incident_id=incident.incident_id)
        assert grown is not None and grown.alert_count == 3 and grown.device_ids == ["in-0", "in-1", "in-2"]

        assert task(conn, now=now + timedelta(hours=1)) == 1  # quiet for longer than the gap: closed
        closed = store_incidents.get(conn, incident_id=incident.incident_id)
        assert closed is not None and closed.status == "closed"
        feed = conn.execute("SELECT kind FROM stream_events WHERE topic = 'incident' ORDER BY stream_id").fetchall()
        assert [r["kind"] for r in feed] == ["opened", "grew", "closed"]
        del late
