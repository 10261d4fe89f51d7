"""A device flooding quarantine through the real broker costs a bounded prefix per row and a bounded number of
rows; everything over the rate is counted, and every row names the device from the topic."""

from __future__ import annotations

import hashlib
import time

from kipsense.provisioning import create_device
from kipsense.records import DeviceKind
from kipsense.settings import IngestSettings, MqttSettings
from store import admin, quarantine
from store.db import connect
from tests.support import DeviceSession, running_worker, wait_until

N = 200
SIZE = 300_000  # over the 256 KiB payload limit: every message is quarantined as oversized


def test_oversized_flood_is_bounded_and_counted(database_url: str, mqtt_settings: MqttSettings, uid: str) -> None:
    with connect(database_url) as conn:
        creds = create_device(conn, mqtt_settings, device_id=f"{uid}-flood", kind=DeviceKind.DUST)
    payloads = [i.to_bytes(2, "big") * (SIZE // 2) for i in range(N)]
    defaults = IngestSettings()
    with running_worker(mqtt_settings, database_url, group=uid) as worker:
        device = DeviceSession(creds)
        started = time.monotonic()
        try:
            device.publish_many(payloads)
        finally:
            device.close()
        wait_until(lambda: worker.stats.acked >= N, timeout=60)
        elapsed = time.monotonic() - started
        with connect(database_url) as conn:
            rows = quarantine.recent(conn, device_id=creds.device_id, limit=1000)
            summary = quarantine.suppressed(conn, device_id=creds.device_id)
            size = admin.hypertable_bytes(conn, "quarantine")
            unnamed = [r for r in quarantine.recent(conn, limit=1000) if r.device_id is None]
        suppressed = sum(s.messages for s in summary)
        assert worker.stats.suppressed_snapshot().get("oversized", 0) == suppressed
    assert unnamed == []
    assert len(rows) + suppressed == N
    # The burst, plus what the rate refilled while the flood lasted.
    refilled = defaults.quarantine_per_minute / 60.0 * elapsed
    assert defaults.quarantine_burst <= len(rows) <= defaults.quarantine_burst + refilled + 1
    assert sum(s.bytes for s in summary) == suppressed * SIZE
    hashes = {hashlib.sha256(p).digest(): p for p in payloads}
    for r in rows:
        assert r.reason == "oversized" and r.payload_size == SIZE
        assert bytes(r.payload) == hashes[bytes(r.payload_sha256)][: defaults.quarantine_keep_bytes]
    assert size < 4 * 1024 * 1024, f"quarantine grew by {size} bytes"
