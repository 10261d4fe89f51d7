"""Bad input is a 4xx with a message, never a 500: the inputs that once escaped as server errors, and the rules
that keep new routes from letting them through (every body, time and id parameter uses the shared checks)."""

from __future__ import annotations

import datetime as dt
import typing

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.testclient import TestClient
from pydantic import BaseModel

from api.inputs import MAX_ID, RequestBody
from store.db import connect
from tests.api.conftest import Keys
from tests.api.seed import Seeded, seed
from tests.api.test_roles import _api_routes

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def data(database_url: str) -> Seeded:
    with connect(database_url) as conn:
        return seed(conn, "bi")


def _bad_urls(d: Seeded) -> list[str]:
    track, export = f"/field/devices/{d.mobile}/track", f"/export/readings?device_id={d.park_dust}"
    return [
        "/alerts?device_id=a%00b",
        "/alerts?type=%00",
        "/devices/a%00b",
        f"/devices/{d.park_dust}%00/readings?metric=pm10",
        "/alerts?device_id=%ED%A0%80",  # a lone surrogate, as the bytes a client would send for it
        "/devices/%ED%A0%80x",
        "/incidents?cursor=99999999999999999999",
        "/alerts?cursor=99999999999999999999",
        f"{track}?start=0001-01-01T00:00:00%2B14:00",
        f"{track}?end=0001-01-01T00:00:00%2B14:00",
        f"{track}?end=9999-12-31T23:59:59-14:00",
        f"{export}&start=0001-01-01T00:00:00%2B14:00&end=0001-01-02T00:00:00Z",
        f"{export}&start=9999-12-30T23:59:59Z&end=9999-12-31T23:59:59-14:00",
        "/alerts?since=0001-01-01T00:00:00%2B14:00",
        f"/devices/{d.park_dust}/readings?metric=pm10&start=9999-12-31T23:59:59-14:00",
        "/exceedance?year=2024&tz=" + "a" * 300,
    ]


def test_hostile_urls_get_a_4xx_with_a_message(live_url: str, keys: Keys, data: Seeded) -> None:
    for url in _bad_urls(data):
        r = httpx.get(live_url + url, headers=keys.headers("admin"), timeout=10)
        assert 400 <= r.status_code < 500, (url, r.status_code, r.text[:200])
        assert r.json()["detail"], url


def test_hostile_bodies_get_a_4xx_with_a_message(client: TestClient, keys: Keys, data: Seeded) -> None:
    h = {**keys.headers("admin"), "Content-Type": "application/json"}
    for text in ('"a\\u0000b"', '"a\\ud800b"', '"\\udfff"'):
        for path, body in (
            (f"/alerts/{data.park_alert}/comments", f'{{"text": {text}}}'),
            (f"/alerts/{data.park_alert}/ack", f'{{"comment": {text}}}'),
            (f"/alerts/{data.park_alert}/assign", f'{{"assignee": {text}}}'),
            ("/field/devices", f'{{"device_id": "bi-x", "kind": "dust", "name": {text}}}'),
            ("/sites", f'{{"site_id": {text}, "name": "x"}}'),
        ):
            r = client.post(path, content=body, headers=h)
            assert r.status_code == 422, (path, body, r.status_code, r.text[:200])
            assert "must" in str(r.json()["detail"])
    # the alert is untouched by all of it
    assert client.get(f"/alerts/{data.park_alert}", headers=h).json()["status"] == "active"


def _params(dep: Dependant, kind: str) -> list[typing.Any]:
    """Parameters of ``kind`` (query_params, body_params, ...) of a route and all its dependencies."""
    out = list(getattr(dep, kind))
    for sub in dep.dependencies:
        out += _params(sub, kind)
    return out


def _routes(client: TestClient) -> list[typing.Any]:
    app: FastAPI = client.app  # type: ignore[assignment]
    return _api_routes(app.router.routes)


def test_every_input_uses_the_shared_checks(client: TestClient) -> None:
    """A new route cannot take a raw datetime, an unbounded id or a body model without the text check."""
    checked = 0
    for route in _routes(client):
        dep = route.dependant
        path_params = _params(dep, "path_params")
        for field in (*_params(dep, "query_params"), *_params(dep, "header_params"), *path_params):
            annotation = field.field_info.annotation
            args = typing.get_args(annotation) or (annotation,)
            if dt.datetime in args:
                validators = [m for m in field.field_info.metadata if type(m).__name__ == "AfterValidator"]
                assert validators, f"{route.path}: {field.name} takes a datetime without api.inputs.Instant"
                checked += 1
            if int in args and field not in path_params:  # a too large path id is just not found
                highs = [getattr(m, "le", None) for m in field.field_info.metadata]
                assert any(h is not None and h <= MAX_ID for h in highs), f"{route.path}: {field.name} is unbounded"
                checked += 1
        for field in _params(dep, "body_params"):
            model = field.field_info.annotation
            models = [
                a for a in (typing.get_args(model) or (model,)) if isinstance(a, type) and issubclass(a, BaseModel)
            ]
            assert models and all(issubclass(m, RequestBody) for m in models), f"{route.path}: {model} body"
            checked += 1
    assert checked >= 20
