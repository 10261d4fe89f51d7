"""Role x route matrix: every route declares its roles; each role and anonymous callers get 200/401/403."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.deps import RoleCheck
from tests.api.conftest import ROLES, Keys, make_app
from tests.api.seed import Seeded, seed

pytestmark = pytest.mark.stack

#: Routes anyone may call (the page asks for a key itself; health is for load balancers).
PUBLIC = {("GET", "/"), ("GET", "/health")}
#: Routes whose credential is not an API key (a single-use claim code redeemed by a device).
OWN_CREDENTIAL = {
    ("POST", "/claims/{code}/redeem"),
    # a notification's signed, expiring acknowledgement link (tests/notify/test_ack.py)
    ("GET", "/notify/ack/{token}"),
    ("POST", "/notify/ack/{token}"),
}
R, OP, F, A = "researcher", "operator", "field", "admin"
#: The roles this package's routes admit, written out so a change of a route's roles fails here.
EXPECTED: dict[tuple[str, str], set[str]] = {
    ("GET", "/park"): {OP, R, F, A},
    ("GET", "/devices"): {OP, R, F, A},
    ("GET", "/devices/{device_id}"): {OP, R, F, A},
    ("GET", "/devices/{device_id}/readings"): {OP, R, F, A},
    ("GET", "/devices/{device_id}/track"): {OP, R, F, A},
    ("GET", "/devices/{device_id}/cycles"): {OP, R, A},
    ("GET", "/alerts"): {OP, R, F, A},
    ("GET", "/alerts/{alert_id}"): {OP, R, F, A},
    ("POST", "/alerts/{alert_id}/ack"): {OP, A},
    ("POST", "/alerts/{alert_id}/clear"): {OP, A},
    ("POST", "/alerts/{alert_id}/comments"): {OP, A},
    ("POST", "/alerts/{alert_id}/assign"): {OP, A},
    ("GET", "/incidents"): {OP, R, F, A},
    ("GET", "/incidents/{incident_id}"): {OP, R, F, A},
    ("GET", "/stream"): {OP, R, F, A},
    ("GET", "/export/readings"): {R, A},
}


def _roles(dep: Dependant) -> frozenset[str] | None:
    if isinstance(dep.call, RoleCheck):
        return dep.call.roles
    for sub in dep.dependencies:
        found = _roles(sub)
        if found is not None:
            return found
    return None


def _api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every APIRoute, also inside included routers (newer FastAPI keeps them as lazy wrappers)."""
    out: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            out.append(route)
        elif (inner := getattr(route, "original_router", None)) is not None:
            out += _api_routes(inner.routes)
    return out


def declared(app: FastAPI) -> dict[tuple[str, str], frozenset[str] | None]:
    out = {}
    for route in _api_routes(app.router.routes):
        for method in route.methods or ():
            out[(method, route.path)] = _roles(route.dependant)
    return out


@pytest.fixture(scope="module")
def data(database_url: str) -> Seeded:
    from store.db import connect

    with connect(database_url) as conn:
        return seed(conn, "ro")


def test_every_route_declares_roles(database_url: str, stack_env: dict[str, str]) -> None:
    routes = declared(make_app(database_url, stack_env))
    undeclared = sorted(k for k, v in routes.items() if v is None and k not in PUBLIC | OWN_CREDENTIAL)
    assert undeclared == []
    for key, roles in EXPECTED.items():
        assert routes[key] == frozenset(roles), key


def _request(data: Seeded, method: str, path: str, role: str | None) -> tuple[str, dict[str, Any]]:
    """A concrete request for a route template: real ids (of the caller's sites) so an admitted caller gets 200."""
    device = data.north_dust if role == "field" else data.park_dust
    ids = {
        "device_id": data.cycler if path.endswith("/cycles") else device,
        "alert_id": str(data.north_alert),
        "incident_id": "1",
        "site_id": "north",
    }
    if (method, path) not in EXPECTED:  # another area's route: ids that exist nowhere, so nothing changes
        ids = {"device_id": "matrix-none", "site_id": "matrix-none"}
    url = re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), "1"), path)
    kwargs: dict[str, Any] = {}
    if path.endswith("/comments"):
        kwargs["json"] = {"text": "matrix"}
    elif path.endswith("/assign"):
        kwargs["json"] = {"assignee": "someone"}
    if path == "/export/readings":
        kwargs["params"] = {
            "device_id": device,
            "start": data.now.replace(hour=0, minute=0).isoformat(),
            "end": data.now.isoformat(),
        }
    if path == "/stream":
        kwargs["params"] = {"after": 0}
    return url, kwargs


def test_matrix(database_url: str, stack_env: dict[str, str], keys: Keys, data: Seeded) -> None:
    app = make_app(database_url, stack_env, stream_max_s=0.5)
    routes = declared(app)
    with TestClient(app) as client:
        with_incident(database_url, data)
        for (method, path), roles in sorted(routes.items()):
            if path.startswith(("/docs", "/redoc", "/openapi")) or (method, path) in PUBLIC | OWN_CREDENTIAL:
                continue
            assert roles is not None
            for role in (None, *ROLES):
                url, kwargs = _request(data, method, path, role)
                r = client.request(method, url, headers=keys.headers(role), **kwargs)
                if role is None:
                    expected = {401}
                elif role not in roles:
                    expected = {403}
                elif (method, path) in EXPECTED:
                    # ack/clear of an alert another role already moved on is a conflict, not a failure
                    expected = {200, 409} if path.endswith(("/ack", "/clear")) else {200}
                else:  # another area's route: admitted means neither 401 nor 403
                    expected = set(range(200, 600)) - {401, 403}
                assert r.status_code in expected, (method, url, role, r.status_code, r.text[:200])
        for method, path in PUBLIC:
            assert client.request(method, path).status_code in {200, 503}


def with_incident(database_url: str, data: Seeded) -> None:
    """Group the two seeded alerts' sites' neighbours into an incident, so /incidents/1 exists."""
    from store import incidents as store_incidents
    from store.db import connect

    with connect(database_url) as conn:
        store_incidents.create(conn, site_id="north", alert_ids=[data.north_alert])
        conn.commit()


def test_field_key_cannot_see_other_sites_devices(client: TestClient, keys: Keys, data: Seeded) -> None:
    h = keys.headers("field")
    listed = {d["device_id"] for d in client.get("/devices", headers=h).json()["data"]}
    assert data.north_dust in listed and data.park_dust not in listed
    for path in (f"/devices/{data.park_dust}", f"/devices/{data.park_dust}/readings", f"/devices/{data.mobile}/track"):
        assert client.get(path, headers=h).status_code == 404, path
    assert client.get(f"/devices/{data.north_dust}", headers=h).status_code == 200


def test_failed_keys_are_throttled_per_client(database_url: str, stack_env: dict[str, str], keys: Keys) -> None:
    app = make_app(database_url, stack_env, auth_failures=3, auth_window_s=60.0)
    with TestClient(app) as client:
        bad = {"Authorization": "Bearer ks_deadbeef_not-a-real-key"}
        assert [client.get("/alerts", headers=bad).status_code for _ in range(3)] == [401, 401, 401]
        blocked = client.get("/alerts", headers=bad)
        assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) >= 1
        # a valid key from that address is served (a colleague behind the same proxy); the guesser stays blocked
        assert client.get("/alerts", headers=keys.headers("operator")).status_code == 200
        assert client.get("/alerts", headers=bad).status_code == 429
        assert client.get("/alerts").status_code == 401  # no key at all is not a guess
    with TestClient(app, client=("10.0.0.9", 5000)) as other:
        assert other.get("/alerts", headers=keys.headers("operator")).status_code == 200


def test_cors_is_explicit(database_url: str, stack_env: dict[str, str]) -> None:
    from api.main import create_app
    from kipsense.settings import ApiSettings, MqttSettings

    app = create_app(
        settings=ApiSettings(cors_origins=["https://ops.example"]), database_url=database_url, mqtt=MqttSettings()
    )
    with TestClient(app) as client:
        ok = client.options(
            "/alerts", headers={"Origin": "https://ops.example", "Access-Control-Request-Method": "GET"}
        )
        assert ok.headers.get("access-control-allow-origin") == "https://ops.example"
        other = client.get("/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
