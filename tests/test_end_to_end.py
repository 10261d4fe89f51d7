"""The path of one reading, on the real stack: publish -> ingest -> hypertable -> scorer -> alert -> API."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from kipsense.provisioning import create_device
from kipsense.records import DeviceKind
from kipsense.settings import ApiSettings, MqttSettings, ScorerSettings
from models.scorer import Scorer
from store import apikeys, readings
from store.db import connect
from tests.support import DeviceSession, running_worker, wait_until


def _reading(ts: datetime, seq: int, pm10: float) -> bytes:
    return json.dumps(
        {
            "ts": ts.isoformat(),
            "seq": seq,
            "pm1": pm10 * 0.2,
            "pm25": pm10 * 0.4,
            "pm10": pm10,
            "temperature": 1.5,
            "rh": 60.0,
            "lat": 63.84,
            "lon": 23.03,
        }
    ).encode()


def test_episode_becomes_alert_visible_in_api(database_url: str, mqtt_settings: MqttSettings, uid: str) -> None:
    with connect(database_url) as conn:
        quiet = create_device(
            conn, mqtt_settings, device_id=f"{uid}-quiet", kind=DeviceKind.DUST, expected_interval_s=2
        )
        dusty = create_device(
            conn, mqtt_settings, device_id=f"{uid}-dusty", kind=DeviceKind.DUST, expected_interval_s=2
        )
    start = datetime.now(UTC) - timedelta(minutes=3)
    with running_worker(mqtt_settings, database_url, group=uid) as worker:
        devices = [DeviceSession(quiet), DeviceSession(dusty)]
        try:
            for i in range(60):  # two minutes at 2 s; the dusty sensor sees an episode in its second minute
                ts = start + timedelta(seconds=2 * i)
                devices[0].publish(_reading(ts, i, 12.0))
                devices[1].publish(_reading(ts, i, 15.0 if i < 30 else 220.0))
        finally:
            for d in devices:
                d.close()
        with connect(database_url) as conn:
            wait_until(lambda: readings.count(conn, table="dust_readings") == 120)
            assert readings.count(conn, table="dust_readings", device_id=dusty.device_id) == 60
        assert worker.stats.acked == 120

    scorer = Scorer(
        settings=ScorerSettings(pm10_window_s=30, pm10_limit=50.0), database_url=database_url, rules={"pm10_limit"}
    )
    with connect(database_url, autocommit=True) as conn:
        assert scorer.run_once(conn) == 1
        assert scorer.run_once(conn) == 0  # nothing new: no second alert
        # A fresh scorer (restart) replays nothing either: watermarks are stored with the alerts.
        restarted = Scorer(
            settings=ScorerSettings(pm10_window_s=30, pm10_limit=50.0), database_url=database_url, rules={"pm10_limit"}
        )
        assert restarted.run_once(conn) == 0
        _, token = apikeys.create(conn, name="e2e", role="operator")

    app = create_app(settings=ApiSettings(), database_url=database_url, mqtt=mqtt_settings)
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {token}"}
        assert client.get("/alerts").status_code == 401
        body = client.get("/alerts", headers=auth, params={"status": "active"}).json()
        assert [(a["device_id"], a["type"]) for a in body["data"]] == [(dusty.device_id, "pm10_limit")]
        alert = body["data"][0]
        assert alert["value"] > 50.0 and alert["occurrences"] == 1
        acked = client.post(f"/alerts/{alert['alert_id']}/ack", headers=auth, json={"comment": "crew sent"})
        assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
        detail = client.get(f"/alerts/{alert['alert_id']}", headers=auth).json()
        assert [e["kind"] for e in detail["events"]] == ["raised", "acknowledged"]
        assert detail["events"][1]["comment"] == "crew sent"
        series = client.get(
            f"/devices/{dusty.device_id}/readings",
            headers=auth,
            params={"start": start.isoformat(), "end": (start + timedelta(minutes=3)).isoformat(), "bucket_s": 60},
        ).json()
        means = [b["mean"] for b in series["data"]]
        assert means[0] == pytest.approx(15.0) and means[-1] == pytest.approx(220.0)
        health = client.get("/health").json()
        assert health == {"status": "ok", "database": True, "broker": True}
