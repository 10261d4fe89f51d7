"""Garbage on a device topic lands in quarantine with its reason and bytes; valid messages around it are stored."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

from kipsense.provisioning import create_device
from kipsense.records import DeviceKind
from kipsense.settings import IngestSettings, MqttSettings
from store import quarantine, readings
from store.db import connect
from tests.support import DeviceSession, running_worker, wait_until

BAD = {
    b"this is not json": "not_json",
    b'{"ts": "2026-01-01T00:00:00Z", "pm10": NaN}': "non_finite",
    b'{"seq": 3}': "missing_field",
    b'{"device": "someone-else", "pm10": 10.0}': "device_mismatch",
    b'{"pm10": "ten"}': "wrong_type",
    b"\xff\xfe\x00garbage": "not_utf8",
    b"[" * 5000 + b"]" * 5000: "too_deep",
}


def test_bad_payloads_are_quarantined_and_stream_continues(
    database_url: str, mqtt_settings: MqttSettings, uid: str
) -> None:
    with connect(database_url) as conn:
        creds = create_device(conn, mqtt_settings, device_id=f"{uid}-q", kind=DeviceKind.DUST)
    start = datetime.now(UTC) - timedelta(minutes=10)
    with running_worker(mqtt_settings, database_url, group=uid) as worker:
        device = DeviceSession(creds)
        try:
            for i, bad in enumerate(BAD):
                device.publish(json.dumps({"ts": (start + timedelta(seconds=i)).isoformat(), "pm10": 10.0 + i}))
                device.publish(bad)
            device.publish(json.dumps({"ts": (start + timedelta(seconds=99)).isoformat(), "pm10": 99.0}))
        finally:
            device.close()
        with connect(database_url) as conn:
            wait_until(lambda: len(quarantine.recent(conn, device_id=creds.device_id)) == len(BAD))
            wait_until(lambda: readings.count(conn, table="dust_readings", device_id=creds.device_id) == len(BAD) + 1)
            rows = quarantine.recent(conn, device_id=creds.device_id)
        assert worker.stats.acked == 2 * len(BAD) + 1
    # Each row keeps the payload's first bytes (all of a small one), its full size and SHA-256.
    keep = IngestSettings().quarantine_keep_bytes
    by_hash = {hashlib.sha256(bad).digest(): (bad, reason) for bad, reason in BAD.items()}
    assert {bytes(r.payload_sha256) for r in rows} == set(by_hash)
    for r in rows:
        bad, reason = by_hash[bytes(r.payload_sha256)]
        assert (bytes(r.payload), r.payload_size, r.reason) == (bad[:keep], len(bad), reason)
        assert r.truncated == (len(bad) > keep)
    assert all(r.topic == f"sensors/{creds.device_id}/json" and r.detail for r in rows)


def test_unknown_device_and_format_are_quarantined(database_url: str, mqtt_settings: MqttSettings, uid: str) -> None:
    with connect(database_url) as conn:
        creds = create_device(conn, mqtt_settings, device_id=f"{uid}-f", kind=DeviceKind.DUST)
    with running_worker(mqtt_settings, database_url, group=uid):
        device = DeviceSession(creds)
        try:
            device.publish(b'{"pm10": 5.0}', fmt="xml")
        finally:
            device.close()
        with connect(database_url) as conn:
            rows = wait_until(lambda: quarantine.recent(conn, device_id=creds.device_id))
    assert rows[0].reason == "unknown_format"
