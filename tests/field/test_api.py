"""Field routes: site scoping of field keys, provisioning through the API, claim codes end to end."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from kipsense.provisioning import Credentials
from kipsense.settings import ApiSettings, MqttSettings
from store import apikeys, claims, sites
from store.db import connect
from tests.field.test_broker_isolation import _probe

Headers = dict[str, str]


@pytest.fixture(scope="module")
def site_x(database_url: str) -> str:
    with connect(database_url) as conn:
        sites.create(conn, site_id="north-yard", name="North yard")
        conn.commit()
    return "north-yard"


@pytest.fixture
def client(database_url: str, mqtt_settings: MqttSettings) -> Iterator[TestClient]:
    app = create_app(settings=ApiSettings(), database_url=database_url, mqtt=mqtt_settings)
    with TestClient(app) as c:
        yield c


def _key(database_url: str, role: str, site_list: list[str] | None = None) -> Headers:
    with connect(database_url) as conn:
        _, token = apikeys.create(conn, name=f"{role}-test", role=role, sites=site_list)
        conn.commit()
    return {"Authorization": f"Bearer {token}"}


def _device(uid: str, name: str, site: str, **extra: Any) -> dict[str, Any]:
    return {"device_id": f"{uid}-{name}", "kind": "dust", "site_id": site, **extra}


def test_field_key_cannot_reach_another_site(client: TestClient, database_url: str, site_x: str, uid: str) -> None:
    park_key = _key(database_url, "field", ["park"])
    yard_key = _key(database_url, "field", [site_x])
    made = client.post("/field/devices", headers=park_key, json=_device(uid, "p1", "park", lat=63.84, lon=23.03))
    assert made.status_code == 201, made.text
    assert made.json()["password"] and made.json()["username"] == f"{uid}-p1"
    # Provisioning into another site, or moving a device there: forbidden.
    assert client.post("/field/devices", headers=park_key, json=_device(uid, "p2", site_x)).status_code == 403
    move = client.patch(f"/field/devices/{uid}-p1", headers=park_key, json={"site_id": site_x})
    assert move.status_code == 403
    assert client.post("/claims", headers=park_key, json=_device(uid, "p3", site_x)).status_code == 403
    # Another site's device does not exist for this key.
    for path in ("/health", "/track", "/colocation"):
        assert client.get(f"/field/devices/{uid}-p1{path}", headers=yard_key).status_code == 404
    for action in ("rotate", "revoke", "retire"):
        assert client.post(f"/field/devices/{uid}-p1/{action}", headers=yard_key).status_code == 404
    assert client.patch(f"/field/devices/{uid}-p1", headers=yard_key, json={"name": "x"}).status_code == 404
    assert client.get(f"/devices/{uid}-p1", headers=yard_key).status_code == 404
    listed = client.get("/devices", headers=yard_key).json()["data"]
    assert all(d["site_id"] == site_x for d in listed)
    assert [s["site_id"] for s in client.get("/sites", headers=yard_key).json()["data"]] == [site_x]
    assert client.get("/sites/park", headers=yard_key).status_code == 404
    zone = {"name": "Gate", "area": [[23.0, 63.8], [23.1, 63.8], [23.1, 63.9]]}
    assert client.put("/sites/park/zones/gate", headers=yard_key, json=zone).status_code == 404
    assert client.put(f"/sites/{site_x}/zones/gate", headers=yard_key, json=zone).status_code == 200
    # Other roles: an operator reads but does not provision; anonymous gets 401.
    operator = _key(database_url, "operator")
    assert client.post("/field/devices", headers=operator, json=_device(uid, "p4", "park")).status_code == 403
    assert client.post("/field/devices", json=_device(uid, "p4", "park")).status_code == 401
    assert client.post("/claims", headers=operator, json=_device(uid, "p4", "park")).status_code == 403
    admin = _key(database_url, "admin")
    assert client.post("/field/devices", headers=admin, json=_device(uid, "p5", site_x)).status_code == 201


def test_field_key_manages_its_devices(client: TestClient, database_url: str, uid: str) -> None:
    key = _key(database_url, "field", ["park"])
    bad = client.post("/field/devices", headers=key, json=_device(uid, "a/b", "park"))
    assert bad.status_code == 422 and "MQTT username" in bad.json()["detail"]
    assert client.post("/field/devices", headers=key, json=_device(uid, "m1", "park")).status_code == 201
    assert client.post("/field/devices", headers=key, json=_device(uid, "m1", "park")).status_code == 409
    updated = client.patch(f"/field/devices/{uid}-m1", headers=key, json={"firmware": "2.1.0", "mobile": True})
    assert updated.status_code == 200 and updated.json()["firmware"] == "2.1.0" and updated.json()["mobile"]
    assert client.patch(f"/field/devices/{uid}-m1", headers=key, json={"mobile": None}).status_code == 422
    rotated = client.post(f"/field/devices/{uid}-m1/rotate", headers=key)
    assert rotated.status_code == 200 and rotated.json()["broker_reloaded"]
    assert client.post(f"/field/devices/{uid}-m1/retire", headers=key).json()["status"] == "retired"
    assert client.post(f"/field/devices/{uid}-m1/rotate", headers=key).status_code == 422


def test_claim_code_works_once_within_its_window(
    client: TestClient, database_url: str, mqtt_settings: MqttSettings, uid: str
) -> None:
    key = _key(database_url, "field", ["park"])
    made = client.post("/claims", headers=key, json={**_device(uid, "c1", "park"), "valid_for_s": 600})
    assert made.status_code == 201, made.text
    body = made.json()
    code = body["code"]
    assert body["redeem_url"].endswith(f"/claims/{code}/redeem")
    svg = client.get(f"/claims/{code}/qr", headers=key)
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml" and b"<svg" in svg.content
    png = client.get(f"/claims/{code}/qr", headers=key, params={"format": "png"})
    assert png.content.startswith(b"\x89PNG")
    other_site = _key(database_url, "field", ["north-yard"])
    assert client.get(f"/claims/{code}/qr", headers=other_site).status_code == 404
    # The device was registered without a credential: it cannot connect until it redeems the code.
    redeemed = client.post(f"/claims/{code.lower().replace('-', '')}/redeem")  # typed loosely on a phone
    assert redeemed.status_code == 200, redeemed.text
    creds = redeemed.json()
    assert creds["username"] == f"{uid}-c1" and creds["broker_reloaded"]
    probe = _probe(
        mqtt_settings,
        Credentials(
            creds["device_id"], creds["username"], creds["password"], creds["host"], creds["port"], creds["topic"], True
        ),
    )
    try:
        assert probe.accepted
    finally:
        probe.close()
    again = client.post(f"/claims/{code}/redeem")
    assert again.status_code == 409 and "already been used" in again.json()["detail"]
    assert client.get(f"/claims/{code}/qr", headers=key).status_code == 409


def test_expired_and_unknown_codes_are_refused(client: TestClient, database_url: str, uid: str) -> None:
    key = _key(database_url, "field", ["park"])
    code = client.post("/claims", headers=key, json=_device(uid, "c2", "park")).json()["code"]
    with connect(database_url) as conn:
        claim = claims.find(conn, code=code)
        assert claim is not None and claims.expire_now(conn, claim_id=claim.claim_id)
        conn.commit()
    expired = client.post(f"/claims/{code}/redeem")
    assert expired.status_code == 410 and "expired" in expired.json()["detail"]
    assert client.post("/claims/AAAA-BBBB-CCCC/redeem").status_code == 404
    listed = client.get("/claims", headers=key).json()["data"]
    assert {c["device_id"] for c in listed} >= {f"{uid}-c2"}
    assert all("code" not in c for c in listed)


def test_redemption_is_rate_limited(client: TestClient, database_url: str) -> None:
    with connect(database_url) as conn:  # a fresh window for this client address
        conn.execute("DELETE FROM claim_attempts")
        conn.commit()
    statuses = [client.post(f"/claims/GUESS-{i:04d}-XXXX/redeem").status_code for i in range(12)]
    assert statuses[:10] == [404] * 10
    assert statuses[10:] == [429, 429]


def test_another_sites_device_id_is_only_not_available(
    client: TestClient, database_url: str, site_x: str, uid: str
) -> None:
    """Claim and create answer alike for a taken id, and neither says that another site has it, or which."""
    admin = _key(database_url, "admin")
    assert client.post("/field/devices", headers=admin, json=_device(uid, "o1", site_x)).status_code == 201
    park_key = _key(database_url, "field", ["park"])
    assert client.get(f"/devices/{uid}-o1", headers=park_key).status_code == 404
    claim = client.post("/claims", headers=park_key, json=_device(uid, "o1", "park"))
    create = client.post("/field/devices", headers=park_key, json=_device(uid, "o1", "park"))
    assert claim.status_code == create.status_code == 409
    assert claim.json()["detail"] == create.json()["detail"] == f"device id '{uid}-o1' is not available"
    # an id taken on the key's own site gets the very same answer from create, so the wording tells nothing
    assert client.post("/field/devices", headers=park_key, json=_device(uid, "o2", "park")).status_code == 201
    own = client.post("/field/devices", headers=park_key, json=_device(uid, "o2", "park"))
    assert own.status_code == 409 and own.json()["detail"] == f"device id '{uid}-o2' is not available"
    for answer in (claim, create):
        assert site_x not in answer.text and "site" not in answer.json()["detail"]
