"""``GET /quarantine``: admin only, newest first, raw bytes intact, filters and totals per reason."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from store import apikeys, quarantine
from store.db import connect
from store.quarantine import QuarantineItem
from tests.api.conftest import make_app


def test_quarantine_is_listed_for_admins_only(database_url: str, stack_env: dict[str, str]) -> None:
    now = datetime.now(UTC)
    raw = b"\xff\xfe not utf-8"
    with connect(database_url) as conn:
        quarantine.add_many(
            conn,
            [
                QuarantineItem("sensors/q-1/json", "q-1", "not_utf8", "byte 0", raw, now),
                QuarantineItem("sensors/q-2/json", "q-2", "not_json", "line 1", b"{", now),
                QuarantineItem("sensors/q-2/json", "q-2", "oversized", "big", b"x" * 9000, now, suppressed=True),
                QuarantineItem("sensors/q-2/json", "q-2", "oversized", "big", b"x" * 9000, now, suppressed=True),
            ],
            worker="w0",
        )
        _, admin = apikeys.create(conn, name="admin", role="admin")
        _, operator = apikeys.create(conn, name="op", role="operator")
        conn.commit()
    with TestClient(make_app(database_url, stack_env)) as client:
        assert client.get("/quarantine").status_code == 401
        assert client.get("/quarantine", headers={"Authorization": f"Bearer {operator}"}).status_code == 403
        resp = client.get("/quarantine", headers={"Authorization": f"Bearer {admin}"})
        assert resp.status_code == 200
        body = resp.json()
        assert body["by_reason"] == {"not_utf8": 1, "not_json": 1}
        assert body["suppressed_by_reason"] == {"oversized": 2}
        assert [d["reason"] for d in body["data"]] == ["not_json", "not_utf8"]
        first = body["data"][1]
        assert base64.b64decode(first["payload_b64"]) == raw
        assert first["worker"] == "w0"
        assert first["payload_bytes"] == len(raw)
        assert first["payload_sha256"] == hashlib.sha256(raw).hexdigest() and not first["payload_truncated"]
        only = client.get("/quarantine?reason=not_utf8&limit=5", headers={"Authorization": f"Bearer {admin}"})
        assert [d["device_id"] for d in only.json()["data"]] == ["q-1"]
        assert client.get("/quarantine?limit=0", headers={"Authorization": f"Bearer {admin}"}).status_code == 422
