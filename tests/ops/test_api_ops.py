"""The exceedance report and platform metrics over HTTP, with their roles."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from api.main import create_app
from kipsense.metrics import platform_registry
from kipsense.records import DeviceKind, DustReading
from kipsense.settings import ApiSettings, MqttSettings
from store import alerts, apikeys, devices, readings, rollups
from store.db import connect

pytestmark = pytest.mark.stack

ROLES = ("operator", "researcher", "field")


@pytest.fixture(scope="module")
def tokens(database_url: str) -> dict[str, str]:
    with connect(database_url) as conn:
        out = {role: apikeys.create(conn, name=role, role=role, sites=["park"])[1] for role in ROLES}
        devices.create(conn, device_id="api-a", kind=DeviceKind.DUST, expected_interval_s=600, lat=51.5, lon=7.25)
        start = datetime(2023, 6, 1, tzinfo=UTC)
        rows = [DustReading("api-a", start + timedelta(seconds=600 * i), pm10=70.0, pm25=5.0) for i in range(144)]
        now = datetime.now(UTC)
        rows.append(DustReading("api-a", now - timedelta(seconds=5), pm10=12.5, pm25=4.0))
        readings.write_records(conn, rows, received_at=now)
        devices.touch_seen(conn, device_ids=["api-a"], last_times=[now], received=now)
        alerts.raise_alert(
            conn,
            device_id="api-a",
            site_id="park",
            type="pm10_limit",
            severity="warning",
            value=70.0,
            threshold=50.0,
            at=start,
            details={},
        )
        conn.commit()
    with connect(database_url, autocommit=True) as conn:
        rollups.refresh(conn, source="dust_readings")
    return out


@pytest.fixture(scope="module")
def client(database_url: str, stack_env: dict[str, str]) -> Iterator[TestClient]:
    mqtt = MqttSettings(host=stack_env["KIPSENSE_MQTT_HOST"], port=int(stack_env["KIPSENSE_MQTT_PORT"]))
    with TestClient(create_app(settings=ApiSettings(), database_url=database_url, mqtt=mqtt)) as c:
        yield c


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_exceedance_json_and_csv(client: TestClient, tokens: dict[str, str]) -> None:
    for role in ("operator", "researcher"):
        r = client.get("/exceedance", params={"year": 2023, "limits": "2030"}, headers=_auth(tokens[role]))
        assert r.status_code == 200, r.text
        body = r.json()
        got = {(x["metric"], x["valid_days"], x["exceedance_days"]) for x in body["data"] if x["device_id"] == "api-a"}
        assert got == {("pm10", 1, 1), ("pm25", 1, 0)} and body["count"] == len(body["data"])
    r = client.get("/exceedance", params={"year": 2023, "format": "csv"}, headers=_auth(tokens["operator"]))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    # One valid day of 365 is far from the 90 % data capture a verdict needs.
    assert [(x["device_id"], x["limit"], x["exceedance_days"], x["verdict"], x["complies"]) for x in rows] == [
        ("api-a", "50.0", "1", "insufficient data", "")
    ]
    r = client.get("/exceedance", params={"year": 2023}, headers=_auth(tokens["operator"]))
    assert [(x["verdict"], x["complies"], x["min_data_capture"]) for x in r.json()["data"]] == [
        ("insufficient data", None, 0.9)
    ]


def test_exceedance_roles_and_bad_input(client: TestClient, tokens: dict[str, str]) -> None:
    assert client.get("/exceedance", params={"year": 2023}).status_code == 401
    assert client.get("/exceedance", params={"year": 2023}, headers=_auth(tokens["field"])).status_code == 403
    bad = client.get("/exceedance", params={"year": 2023, "limits": "1999"}, headers=_auth(tokens["operator"]))
    assert bad.status_code == 422 and "limit set" in bad.text
    bad_tz = client.get("/exceedance", params={"year": 2023, "tz": "No/Where"}, headers=_auth(tokens["operator"]))
    assert bad_tz.status_code == 422


def _families(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    return {f.name: [(s.labels, s.value) for s in f.samples] for f in text_string_to_metric_families(text)}


def test_metrics_endpoint(client: TestClient, tokens: dict[str, str]) -> None:
    assert client.get("/metrics", headers=_auth(tokens["researcher"])).status_code == 403
    r = client.get("/metrics", headers=_auth(tokens["operator"]))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    fam = _families(r.text)
    assert fam["kipsense_up"] == [({}, 1.0)]
    assert ({"severity": "warning", "status": "active"}, 1.0) in fam["kipsense_alerts_open"]
    pm = {(s["device_id"], s["metric"]): v for s, v in fam["kipsense_dust_latest_ugm3"]}
    assert pm == {("api-a", "pm10"): 12.5, ("api-a", "pm25"): 4.0}
    assert all(set(s) == {"device_id", "site_id", "metric"} for s, _ in fam["kipsense_dust_latest_ugm3"])
    position = {s["axis"]: v for s, v in fam["kipsense_device_position_degrees"] if s["device_id"] == "api-a"}
    assert position == {"lat": 51.5, "lon": 7.25}
    ages = [v for s, v in fam["kipsense_device_last_received_age_seconds"] if s["device_id"] == "api-a"]
    assert len(ages) == 1 and 0 <= ages[0] < 600
    assert any(s["source"] == "dust_readings" for s, _ in fam["kipsense_rollup_pending_buckets"])


def test_unreachable_database_reports_down() -> None:
    def connection() -> AbstractContextManager[psycopg.Connection[Any]]:
        return connect("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1")

    text = generate_latest(platform_registry(connection)).decode()
    assert _families(text) == {"kipsense_up": [({}, 0.0)]}
