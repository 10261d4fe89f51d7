"""The notification API: routes editable by admins, read by operators; on-call and the delivery log."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from kipsense.settings import ApiSettings, MqttSettings
from store import apikeys
from store.db import connect


@pytest.fixture(scope="module")
def client(database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings=ApiSettings(), database_url=database_url, mqtt=MqttSettings())) as c:
        yield c


@pytest.fixture(scope="module")
def tokens(database_url: str) -> dict[str, str]:
    with connect(database_url) as conn:
        out = {role: apikeys.create(conn, name=role, role=role)[1] for role in ("operator", "admin", "researcher")}
        conn.commit()
    return out


def _h(tokens: dict[str, str], role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[role]}"}


def test_routes_contacts_groups_and_on_call(client: TestClient, tokens: dict[str, str]) -> None:
    admin, operator = _h(tokens, "admin"), _h(tokens, "operator")
    a = client.post(
        "/notifications/contacts", json={"name": "Aino", "email": "aino@x.test", "language": "fi"}, headers=admin
    )
    b = client.post("/notifications/contacts", json={"name": "Bo", "phone": "+35840", "language": "sv"}, headers=admin)
    assert a.status_code == b.status_code == 201
    ids = [a.json()["contact_id"], b.json()["contact_id"]]
    start = (datetime.now(UTC) - timedelta(hours=30)).isoformat()
    group = client.post(
        "/notifications/groups",
        json={"name": "duty", "member_ids": ids, "rotation_start": start, "rotation_hours": 24},
        headers=admin,
    )
    assert group.status_code == 201, group.text
    body = {
        "name": "night dust",
        "match_types": ["pm10_limit"],
        "min_severity": "warning",
        "group_ids": [group.json()["group_id"]],
        "quiet_from": "22:00",
        "quiet_until": "07:00",
        "repeat_every_s": 1800,
    }
    assert client.post("/notifications/routes", json=body, headers=operator).status_code == 403
    created = client.post("/notifications/routes", json=body, headers=admin)
    assert created.status_code == 201, created.text
    route_id = created.json()["route_id"]
    assert client.post("/notifications/routes", json=body, headers=admin).status_code == 409  # same name
    changed = client.patch(f"/notifications/routes/{route_id}", json={"enabled": False}, headers=admin)
    assert (
        changed.status_code == 200 and changed.json()["enabled"] is False and changed.json()["quiet_from"] == "22:00:00"
    )
    listed = client.get("/notifications/routes", headers=operator).json()
    assert [r["name"] for r in listed] == ["night dust"]
    assert client.get("/notifications/routes", headers=_h(tokens, "researcher")).status_code == 403
    [duty] = client.get("/notifications/oncall", headers=operator).json()
    assert duty["contact_name"] == "Bo" and duty["next_contact_name"] == "Aino"  # 30 h into 24-h turns
    assert client.get("/notifications/messages", headers=operator).json() == []
    assert client.get("/notifications/stats", headers=operator).json()["sent"] == 0
    assert client.delete(f"/notifications/routes/{route_id}", headers=admin).status_code == 204
    assert client.delete(f"/notifications/routes/{route_id}", headers=admin).status_code == 404


@pytest.mark.parametrize(
    "body",
    [{"name": "x", "min_severity": "loud"}, {"name": "x", "quiet_from": "25:00"}, {"name": "x", "repeat_every_s": 1},
     {"name": ""}, {"name": "x", "active_days": [8]}],
)  # fmt: skip
def test_bad_routes_are_refused_with_422(client: TestClient, tokens: dict[str, str], body: dict[str, object]) -> None:
    assert client.post("/notifications/routes", json=body, headers=_h(tokens, "admin")).status_code == 422


def test_contacts_can_be_changed_paused_and_removed(client: TestClient, tokens: dict[str, str]) -> None:
    admin = _h(tokens, "admin")
    made = client.post("/notifications/contacts", json={"name": "Temp", "email": "t@x.test"}, headers=admin).json()
    cid = made["contact_id"]
    changed = client.patch(f"/notifications/contacts/{cid}", json={"language": "en", "active": False}, headers=admin)
    assert changed.status_code == 200 and changed.json()["language"] == "en" and changed.json()["active"] is False
    assert client.patch(f"/notifications/contacts/{cid}", json={"email": "nope"}, headers=admin).status_code == 422
    assert (
        client.patch(
            f"/notifications/contacts/{cid}", json={"active": True}, headers=_h(tokens, "operator")
        ).status_code
        == 403
    )
    assert client.delete(f"/notifications/contacts/{cid}", headers=admin).status_code == 204
    assert client.patch(f"/notifications/contacts/{cid}", json={"active": True}, headers=admin).status_code == 404
    group = client.post("/notifications/groups", json={"name": "gone soon"}, headers=admin).json()
    assert client.delete(f"/notifications/groups/{group['group_id']}", headers=admin).status_code == 204
    assert client.delete(f"/notifications/groups/{group['group_id']}", headers=admin).status_code == 404


def test_a_time_of_day_with_an_offset_is_refused(client: TestClient, tokens: dict[str, str]) -> None:
    body = {"name": "offset", "quiet_from": "08:00:28-21:27", "quiet_until": "09:00"}
    r = client.post("/notifications/routes", json=body, headers=_h(tokens, "admin"))
    assert r.status_code == 422 and "without an offset" in r.text
