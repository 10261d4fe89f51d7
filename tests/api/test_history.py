"""History and export: bounded bucketed readings, streamed CSV/Parquet, per-cycle summaries, status and track."""

from __future__ import annotations

import csv
import io
import socket
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest
from fastapi.testclient import TestClient

from kipsense.records import DeviceKind
from store import devices as store_devices
from store import synthetic
from store.db import connect
from tests.api.conftest import Keys, make_app, serving
from tests.api.seed import Seeded, seed
from tests.support import wait_until

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def data(database_url: str) -> Seeded:
    with connect(database_url) as conn:
        return seed(conn, "hi")


def _range(data: Seeded) -> dict[str, str]:
    return {"start": (data.now - timedelta(hours=2)).isoformat(), "end": (data.now + timedelta(seconds=1)).isoformat()}


def test_csv_and_parquet_export_hold_every_row(client: TestClient, keys: Keys, data: Seeded) -> None:
    h = keys.headers("researcher")
    params = {"device_id": data.park_dust, **_range(data)}
    r = client.get("/export/readings", params=params, headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 360 and rows[0]["device_id"] == data.park_dust
    assert float(rows[0]["pm10"]) == 20.0 and rows[0]["battery"] == "3.9" and rows[0]["lat"] == ""
    assert rows == sorted(rows, key=lambda x: x["time"])

    p = client.get("/export/readings", params={**params, "format": "parquet"}, headers=h)
    assert p.status_code == 200 and "attachment" in p.headers["content-disposition"]
    table = pq.read_table(io.BytesIO(p.content))
    assert table.num_rows == 360 and table.column("pm10").to_pylist()[:3] == [20.0, 21.0, 22.0]
    assert str(table.schema.field("time").type) == "timestamp[us, tz=UTC]"


def test_export_is_bounded_and_for_researchers(client: TestClient, keys: Keys, data: Seeded) -> None:
    h = keys.headers("researcher")
    too_long = {
        "device_id": data.park_dust,
        "start": (data.now - timedelta(days=40)).isoformat(),
        "end": data.now.isoformat(),
    }
    assert client.get("/export/readings", params=too_long, headers=h).status_code == 422
    backwards = {
        "device_id": data.park_dust,
        "start": data.now.isoformat(),
        "end": (data.now - timedelta(hours=1)).isoformat(),
    }
    assert client.get("/export/readings", params=backwards, headers=h).status_code == 422
    params = {"device_id": data.park_dust, **_range(data)}
    assert client.get("/export/readings", params=params, headers=keys.headers("operator")).status_code == 403
    assert client.get("/export/readings", params={**params, "device_id": "nope"}, headers=h).status_code == 404


def test_readings_are_bucketed_within_point_limit(client: TestClient, keys: Keys, data: Seeded) -> None:
    h = keys.headers("operator")
    r = client.get(
        f"/devices/{data.park_dust}/readings", params={"metric": "pm10", "bucket_s": 60, **_range(data)}, headers=h
    )
    body = r.json()
    assert r.status_code == 200 and body["bucket_s"] == 60 and sum(b["count"] for b in body["data"]) == 360
    # asking for 1 s buckets over 30 days is raised to the point limit (5000 buckets)
    month: dict[str, str | int] = {
        "start": (data.now - timedelta(days=30)).isoformat(),
        "end": data.now.isoformat(),
        "bucket_s": 1,
    }
    wide = client.get(f"/devices/{data.park_dust}/readings", params=month, headers=h).json()
    assert wide["bucket_s"] >= 30 * 86_400 / 5_000
    year = {"start": (data.now - timedelta(days=500)).isoformat(), "end": data.now.isoformat()}
    assert client.get(f"/devices/{data.park_dust}/readings", params=year, headers=h).status_code == 422
    bad = client.get(f"/devices/{data.park_dust}/readings", params={"metric": "drop table"}, headers=h)
    assert bad.status_code == 422


def test_cycle_summaries(client: TestClient, keys: Keys, data: Seeded) -> None:
    r = client.get(
        f"/devices/{data.cycler}/cycles",
        params=_range(data) | {"start": (data.now - timedelta(hours=3)).isoformat()},
        headers=keys.headers("researcher"),
    )
    body = r.json()
    assert r.status_code == 200 and body["samples"] == 600 and not body["truncated"]
    assert [c["cycle_index"] for c in body["data"]] == [1, 2, 3]
    first = body["data"][0]
    assert first["charge_capacity"] == pytest.approx(1.0) and first["coulombic_efficiency"] == pytest.approx(
        0.98, abs=0.01
    )
    assert [c["complete"] for c in body["data"]] == [True, True, False]
    not_cycler = client.get(f"/devices/{data.park_dust}/cycles", headers=keys.headers("researcher"))
    assert not_cycler.status_code == 422


def test_device_status_and_track(client: TestClient, keys: Keys, data: Seeded) -> None:
    h = keys.headers("operator")
    dev = client.get(f"/devices/{data.park_dust}", headers=h).json()
    health = dev["health"]
    assert dev["firmware"] == "1.2" and health["battery"] == 3.9 and health["rssi"] == -71.0
    assert health["rate_per_min"] == pytest.approx(6.0, abs=0.2) and health["pm10"] is not None
    assert health["lat"] == pytest.approx(dev["lat"])
    listed = {d["device_id"]: d for d in client.get("/devices", headers=h).json()["data"]}
    assert listed[data.met]["health"] is None and listed[data.park_dust]["health"]["battery"] == 3.9
    track = client.get(f"/devices/{data.mobile}/track", params=_range(data), headers=h).json()
    points = track["data"]
    assert len(points) == 360 and points[0]["lat"] < points[-1]["lat"] and points[0]["lon"] > points[-1]["lon"]
    short = client.get(f"/devices/{data.mobile}/track", params=_range(data), headers=h)
    assert short.status_code == 200
    assert client.get(f"/devices/{data.met}/track", headers=h).status_code == 422


def test_park_plan_has_sources_and_wind(client: TestClient, keys: Keys, data: Seeded) -> None:
    body = client.get("/park", headers=keys.headers("operator")).json()
    assert {s["name"] for s in body["sources"]} >= {"stack-roaster", "haul-road"}
    assert body["wind"] is not None and body["wind"]["dir_from"] == pytest.approx(225.0, abs=0.5)
    assert body["pm10_limit"] == 50.0


def test_exports_are_bounded_and_leave_requests_their_connections(
    database_url: str, stack_env: dict[str, str], keys: Keys
) -> None:
    """An export whose client stops reading keeps its one connection; a second is refused, requests go on."""
    device, start = "hi-big", datetime(2026, 1, 1, tzinfo=UTC)
    with connect(database_url, autocommit=True) as conn:
        store_devices.create(conn, device_id=device, kind=DeviceKind.DUST)
        synthetic.fill_dust(conn, devices=[device], start=start, step_s=1, per_device=150_000)  # ~15 MB of CSV
    app = make_app(
        database_url, stack_env, db_pool_size=4, db_request_slots=2, db_auth_slots=1, export_concurrency=1,
        export_batch_rows=1_000,
    )  # fmt: skip
    query = f"/export/readings?device_id={device}&start=2026-01-01T00:00:00Z&end=2026-01-03T00:00:00Z"
    with serving(app) as url:
        parts = urlsplit(url)
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a client that reads nothing more
        slow.settimeout(15)
        slow.connect((parts.hostname, parts.port))
        try:
            token = keys.tokens["researcher"]
            slow.sendall(f"GET {query} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
            assert slow.recv(4096).startswith(b"HTTP/1.1 200")
            second = httpx.get(f"{url}{query}", headers=keys.headers("researcher"), timeout=10)
            assert second.status_code == 503 and "Retry-After" in second.headers
            for _ in range(5):  # more than the request slots, one after another: none waits for the export
                assert httpx.get(f"{url}/alerts", headers=keys.headers("operator"), timeout=10).status_code == 200
        finally:
            slow.close()
        # the abandoned export gives its slot back
        wait_until(
            lambda: httpx.get(f"{url}{query}", headers=keys.headers("researcher"), timeout=30).status_code == 200
        )
