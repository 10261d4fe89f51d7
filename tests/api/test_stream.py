"""The live feed: events arrive as SSE in id order, a reconnect with Last-Event-ID misses nothing."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from store import alert_stream
from store import alerts as store_alerts
from store.db import connect
from tests.api.conftest import Keys

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
