"""The live feed: events arrive as SSE in id order, a reconnect with Last-Event-ID misses nothing."""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from store import alert_stream
from store import alerts as store_alerts
from store.db import connect
from tests.api.conftest import Keys, make_app, serving

pytestmark = pytest.mark.stack


def _read_events(url: str, headers: dict[str, str], want: int, timeout: float = 15.0) -> list[dict[str, Any]]:
    """Parse SSE messages until ``want`` alert/incident events arrived (the ``ready`` message is kept too)."""
    out: list[dict[str, Any]] = []
    with httpx.stream("GET", url, headers=headers, timeout=timeout) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        block: dict[str, str] = {}
        for line in resp.iter_lines():
            if line == "":
                if "data" in block:
                    out.append({"id": int(block["id"]), "event": block["event"], "data": json.loads(block["data"])})
                block = {}
                if sum(e["event"] != "ready" for e in out) >= want:
                    return out
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(": ")
            block[field] = value
    return out


def _raise(database_url: str, device: str, site: str = "park") -> int:
    with connect(database_url) as conn:
        alert_id, _ = store_alerts.raise_alert(
            conn,
            device_id=device,
            site_id=site,
            type="pm10_limit",
            severity="warning",
            value=70.0,
            threshold=50.0,
            at=datetime.now(UTC),
        )
        conn.commit()
    return alert_id


def test_live_events_and_resume(database_url: str, live_url: str, keys: Keys) -> None:
    h = keys.headers("operator")
    with connect(database_url) as conn:
        after = alert_stream.last_id(conn)
    got: list[dict[str, Any]] = []
    url = f"{live_url}/stream?after={after}"
    reader = threading.Thread(target=lambda: got.extend(_read_events(url, h, want=2)))
    reader.start()
    time.sleep(0.3)  # raise while the stream is open, so the events arrive live
    first = _raise(database_url, "st-a")
    with connect(database_url) as conn:
        store_alerts.acknowledge(conn, alert_id=first, user="op", comment="seen")
        conn.commit()
    reader.join(timeout=20)
    events = [e for e in got if e["event"] != "ready"]
    assert [(e["event"], e["data"]["kind"], e["data"]["ref_id"]) for e in events] == [
        ("alert", "raised", first),
        ("alert", "acknowledged", first),
    ]
    assert events[1]["data"]["data"]["comment"] == "seen" and events[1]["data"]["data"]["status"] == "acknowledged"
    ids = [e["id"] for e in events]
    assert ids == sorted(ids)

    # while "disconnected", two more things happen; resuming after the last id seen gets exactly those
    second = _raise(database_url, "st-b")
    third = _raise(database_url, "st-c")
    resumed = _read_events(f"{live_url}/stream", {**h, "Last-Event-ID": str(ids[-1])}, want=2)
    later = [e for e in resumed if e["event"] != "ready"]
    assert [e["data"]["ref_id"] for e in later] == [second, third]
    assert all(e["id"] > ids[-1] for e in later)


def test_field_key_stream_is_limited_to_its_sites(database_url: str, live_url: str, keys: Keys) -> None:
    with connect(database_url) as conn:
        conn.execute("INSERT INTO sites (site_id, name) VALUES ('north', 'North') ON CONFLICT DO NOTHING")
        conn.commit()
    _raise(database_url, "st-start")
    with connect(database_url) as conn:
        after = alert_stream.last_id(conn)
    park_alert = _raise(database_url, "st-park")
    north_alert = _raise(database_url, "st-north", site="north")
    events = _read_events(f"{live_url}/stream?after={after}", keys.headers("field"), want=1)
    refs = [e["data"]["ref_id"] for e in events if e["event"] == "alert"]
    assert refs == [north_alert] and park_alert not in refs


def test_stream_needs_a_key(live_url: str) -> None:
    assert httpx.get(f"{live_url}/stream", timeout=5).status_code == 401


def test_fresh_subscriber_starts_at_the_newest_event(database_url: str, live_url: str, keys: Keys) -> None:
    _raise(database_url, "st-old")
    with connect(database_url) as conn:
        newest = alert_stream.last_id(conn)
    ready = _read_events(f"{live_url}/stream", keys.headers("operator"), want=0)
    assert ready[0]["event"] == "ready" and ready[0]["id"] == newest


class _RawStream:
    """A /stream request on its own socket, read only when asked (like a browser tab left open)."""

    def __init__(self, url: str, token: str) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=15)
        self.sock.sendall(f"GET /stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
        self.data = b""

    def read_until(self, marker: bytes) -> None:
        while marker not in self.data:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError(f"stream closed before {marker!r}: {self.data[-300:]!r}")
            self.data += chunk

    def close(self) -> None:
        self.sock.close()


def _api_connections(database_url: str) -> list[tuple[str, str]]:
    with connect(database_url) as conn:
        rows = conn.execute(
            "SELECT application_name, state FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name LIKE 'api%%'"
        ).fetchall()
    return [(r["application_name"], r["state"]) for r in rows]


def test_open_streams_hold_no_connection(database_url: str, stack_env: dict[str, str], keys: Keys) -> None:
    """Five times as many open streams as the pool has connections: requests are served, every stream is fed."""
    app = make_app(database_url, stack_env, db_pool_size=6, db_request_slots=3, db_auth_slots=1, export_concurrency=1)
    before = _api_connections(database_url)  # the module's other server is on this database too
    with serving(app) as url:
        streams = [_RawStream(url, keys.tokens["operator" if i % 2 else "field"]) for i in range(30)]
        try:
            for s in streams:
                s.read_until(b"event: ready")
            answer = httpx.get(f"{url}/alerts", headers=keys.headers("operator"), timeout=10)
            assert answer.status_code == 200
            held = _api_connections(database_url)
            names = [name for name, _ in held]
            old = [name for name, _ in before]
            assert names.count("api-events") == old.count("api-events") + 1  # one listener for all 30 streams
            assert ("api", "idle in transaction") not in held
            assert names.count("api") <= old.count("api") + 6
            north = _raise(database_url, "st-many", site="north")  # seen by both roles' streams
            park = _raise(database_url, "st-many-park")  # seen by the operator streams only
            for i, s in enumerate(streams):
                s.read_until(f'"ref_id":{north}'.encode())
                if i % 2:
                    s.read_until(f'"ref_id":{park}'.encode())
            assert all(f'"ref_id":{park}'.encode() not in s.data for s in streams[::2])
        finally:
            for s in streams:
                s.close()


def test_the_listener_reconnects_and_misses_nothing(
    database_url: str, live_url: str, keys: Keys, stack_env: dict[str, str]
) -> None:
    """The database drops the listener's connection: an event raised meanwhile still reaches an open stream."""
    stream = _RawStream(live_url, keys.tokens["operator"])
    try:
        stream.read_until(b"event: ready")
        with connect(stack_env["KIPSENSE_ADMIN_DATABASE_URL"], autocommit=True) as admin:
            ended = admin.execute(
                "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity"
                " WHERE application_name = 'api-events' AND datname = %s",
                (database_url.rsplit("/", 1)[-1],),
            ).fetchall()
        assert ended and all(r["ok"] for r in ended)
        during = _raise(database_url, "st-reconnect")
        stream.read_until(f'"ref_id":{during}'.encode())
    finally:
        stream.close()
