"""``GET /conflicts``: operators and researchers see refused readings with both values; field keys do not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from prometheus_client import generate_latest

from kipsense.metrics import platform_registry
from kipsense.records import MetReading
from store import apikeys, readings
from store.db import connect
from tests.api.conftest import make_app


class _Msg:
    topic = "sensors/api-m/json"
    received_at = datetime(2026, 12, 1, tzinfo=UTC)
    payload = b'{"wind_speed": 3.5}'


def test_conflicts_are_listed_for_operators_and_researchers(database_url: str, stack_env: dict[str, str]) -> None:
    t = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    with connect(database_url) as conn:
        readings.write_records(conn, [MetReading("api-m", t, wind_speed=3.0)], received_at=t)
        readings.write_records(conn, [MetReading("api-m", t, wind_speed=3.5)], received_at=t, sources=[_Msg()])
        _, operator = apikeys.create(conn, name="op", role="operator")
        _, researcher = apikeys.create(conn, name="re", role="researcher")
        _, field = apikeys.create(conn, name="fi", role="field", sites=[])
        conn.commit()
    with TestClient(make_app(database_url, stack_env)) as client:
        assert client.get("/conflicts").status_code == 401
        assert client.get("/conflicts", headers={"Authorization": f"Bearer {field}"}).status_code == 403
        for key in (operator, researcher):
            resp = client.get("/conflicts?device_id=api-m", headers={"Authorization": f"Bearer {key}"})
            assert resp.status_code == 200
            body = resp.json()
            assert body["by_table"] == {"met_readings": 1}
            [row] = body["data"]
            assert (row["stored"]["wind_speed"], row["offered"]["wind_speed"]) == (3.0, 3.5)
            assert (row["topic"], row["repeats"]) == (_Msg.topic, 1)
            assert len(row["payload_sha256"]) == 64
        later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
        resp = client.get("/conflicts", params={"since": later}, headers={"Authorization": f"Bearer {operator}"})
        assert resp.json()["data"] == []
        assert client.get("/conflicts?limit=0", headers={"Authorization": f"Bearer {operator}"}).status_code == 422
        for bad in (
            {"since": "0001-01-01T00:00:00+14:00"},
            {"since": "9999-12-31T23:59:59-14:00"},
            {"device_id": "a\0b"},
        ):
            resp = client.get("/conflicts", params=bad, headers={"Authorization": f"Bearer {operator}"})
            assert resp.status_code == 422, bad
    text = generate_latest(platform_registry(lambda: connect(database_url))).decode()
    assert 'kipsense_reading_conflicts_recent{table="met_readings"} 1.0' in text
