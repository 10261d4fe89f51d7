"""Alert lifecycle over HTTP: filters, cursor pages, acknowledge/comment/assign/clear and the event log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from store import alerts as store_alerts
from store.db import connect
from tests.api.conftest import Keys
from tests.api.seed import Seeded, seed

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def data(database_url: str) -> Seeded:
    with connect(database_url) as conn:
        seeded = seed(conn, "al")
        for i in range(7):  # more alerts of another type, for pages and filters
            store_alerts.raise_alert(
                conn,
                device_id=f"al-x{i}",
                site_id="park",
                type="spike",
                severity="info",
                value=float(i),
                threshold=None,
                at=seeded.now - timedelta(hours=5, minutes=i),
            )
        conn.commit()
    return seeded


def test_filters_by_type_site_device_severity_and_time(client: TestClient, keys: Keys, data: Seeded) -> None:
    h = keys.headers("operator")
    spikes = client.get("/alerts", params={"type": "spike", "limit": 100}, headers=h).json()["data"]
    assert len(spikes) == 7 and {a["type"] for a in spikes} == {"spike"}
    north = client.get("/alerts", params={"site_id": "north"}, headers=h).json()["data"]
    assert [a["alert_id"] for a in north] == [data.north_alert]
    by_device = client.get("/alerts", params={"device_id": data.park_dust}, headers=h).json()["data"]
    assert [a["alert_id"] for a in by_device] == [data.park_alert]
    major = client.get("/alerts", params={"severity": "major"}, headers=h).json()["data"]
    assert [a["alert_id"] for a in major] == [data.north_alert]
    recent = client.get("/alerts", params={"since": (data.now - timedelta(hours=1)).isoformat()}, headers=h).json()
    assert {a["alert_id"] for a in recent["data"]} == {data.park_alert, data.north_alert}
    old = client.get("/alerts", params={"until": (data.now - timedelta(hours=4)).isoformat()}, headers=h).json()
    assert {a["type"] for a in old["data"]} == {"spike"}


def test_cursor_pages_cover_every_alert_once(client: TestClient, keys: Keys, data: Seeded) -> None:
    h = keys.headers("researcher")
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/alerts", params=params, headers=h).json()
        seen += [a["alert_id"] for a in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    everything = [a["alert_id"] for a in client.get("/alerts", params={"limit": 500}, headers=h).json()["data"]]
    assert seen == everything and len(seen) == len(set(seen)) == 9


def test_lifecycle_with_comment_assign_and_event_log(client: TestClient, keys: Keys, data: Seeded) -> None:
    h = keys.headers("operator")
    aid = data.park_alert
    r = client.post(f"/alerts/{aid}/ack", json={"comment": "crew on the way"}, headers=h)
    assert r.status_code == 200 and r.json()["status"] == "acknowledged"
    assert client.post(f"/alerts/{aid}/ack", headers=h).status_code == 409
    assert client.post(f"/alerts/{aid}/comments", json={"text": "loader stopped"}, headers=h).status_code == 200
    assert client.post(f"/alerts/{aid}/assign", json={"assignee": "shift-b"}, headers=h).json()["assignee"] == "shift-b"
    assert client.post(f"/alerts/{aid}/clear", json={"comment": "dust down"}, headers=h).json()["status"] == "cleared"
    assert client.post(f"/alerts/{aid}/clear", headers=h).status_code == 409
    detail = client.get(f"/alerts/{aid}", headers=h).json()
    kinds = [(e["kind"], e["comment"]) for e in detail["events"]]
    assert kinds == [
        ("raised", None),
        ("acknowledged", "crew on the way"),
        ("comment", "loader stopped"),
        ("assigned", None),
        ("cleared", "dust down"),
    ]
    assert client.get("/alerts/999999", headers=h).status_code == 404


def test_field_key_sees_only_its_sites_alerts(client: TestClient, keys: Keys, data: Seeded) -> None:
    h = keys.headers("field")
    listed = client.get("/alerts", params={"limit": 500}, headers=h).json()["data"]
    assert {a["site_id"] for a in listed} == {"north"}
    assert client.get(f"/alerts/{data.park_alert}", headers=h).status_code == 404
    assert client.get(f"/alerts/{data.north_alert}", headers=h).status_code == 200


def test_bad_filters_are_422(client: TestClient, keys: Keys, data: Seeded) -> None:
    h = keys.headers("operator")
    assert client.get("/alerts", params={"severity": "apocalyptic"}, headers=h).status_code == 422
    assert client.get("/alerts", params={"cursor": 0}, headers=h).status_code == 422
    assert client.get("/alerts", params={"limit": 501}, headers=h).status_code == 422
