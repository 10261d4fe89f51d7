"""Database outages: nothing acknowledged while TimescaleDB is down, writes resume by themselves, and with a
spool the backlog moves to local disk (acknowledged only after fsync) and is replayed when the database returns.

These tests stop the TEST stack's PostgreSQL; a ``finally`` starts it again whatever happens.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kipsense.settings import MqttSettings
from tests.ingest.chaos import (
    Audit,
    CuttableProxy,
    Publisher,
    background,
    local_test_stack,
    numbered_plan,
    provision,
    settle,
    start_postgres,
    stop_postgres,
    stored_count,
)
from tests.support import running_worker, wait_until


@pytest.mark.slow
def test_database_down_30s_under_load_nothing_acked_nothing_lost_writes_resume(
    database_url: str, mqtt_settings: MqttSettings, uid: str
) -> None:
    creds = provision(database_url, mqtt_settings, f"{uid}-o", 4)
    ids = [c.device_id for c in creds]
    per_device = 1_500  # 4 devices x 40 msg/s for ~37 s
    stack = local_test_stack()
    with running_worker(mqtt_settings, database_url, group=uid, slot=11) as worker:
        publisher = Publisher(creds)
        try:
            sender, errors = background(publisher, numbered_plan(ids, per_device), rate_per_device=40.0)
            wait_until(lambda: worker.stats.rows > 100, timeout=20)
            try:
                stop_postgres(stack)
                acked_at_stop = worker.stats.acked
                received_at_stop = worker.stats.messages
                samples = []
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    samples.append(worker.stats.acked)
                    time.sleep(0.5)
                received_during = worker.stats.messages - received_at_stop
            finally:
                start_postgres(stack)
            sender.join(timeout=120)
            assert not errors, errors
            settle(database_url, ids, 4 * per_device)
        finally:
            publisher.close()
        assert received_during > 500, "the worker should have kept receiving while the database was down"
        assert set(samples) == {acked_at_stop}, "a message was acknowledged while the database was down"
        assert worker.stats.db_errors >= 1
        wait_until(lambda: worker.stats.acked == 4 * per_device, timeout=20)
    audit = Audit(database_url, ids)
    assert audit.missing(dict.fromkeys(ids, per_device)) == 0
    assert audit.duplicates() == 0


@pytest.mark.slow
def test_long_outage_spools_to_disk_acks_after_fsync_and_replays_after_restart(
    database_url: str, mqtt_settings: MqttSettings, uid: str, tmp_path: Path
) -> None:
    """The worker reaches the database through a proxy this test cuts: an outage for this worker only."""
    creds = provision(database_url, mqtt_settings, f"{uid}-s", 2)
    ids = [c.device_id for c in creds]
    proxy = CuttableProxy(int(database_url.rsplit(":", 1)[1].split("/", 1)[0]))
    proxy.restore()
    spool_dir = tmp_path / "spool"
    options = {"spool_dir": spool_dir, "spool_after_s": 1.0}
    try:
        with running_worker(mqtt_settings, proxy.url(database_url), group=uid, slot=11, **options) as worker:
            wait_until(lambda: worker.flush(timeout=5), timeout=10)
            publisher = Publisher(creds)
            try:
                proxy.cut()
                publisher.publish(numbered_plan(ids, 2_000))
                # Beyond spool_after_s the backlog moves to disk: all acknowledged with the database unreachable.
                wait_until(lambda: worker.stats.acked == 4_000, timeout=30)
            finally:
                publisher.close()
            assert worker.stats.spooled == 4_000
            assert worker.stats.rows == 0
        # The worker is gone and the broker has nothing left: only the spool holds the readings now.
        assert list(spool_dir.rglob("*.spool"))
        assert stored_count(database_url, ids) == 0
        proxy.restore()
        with running_worker(mqtt_settings, proxy.url(database_url), group=uid, slot=11, **options) as worker:
            settle(database_url, ids, 4_000)
            wait_until(lambda: worker.stats.replayed == 4_000, timeout=10)
    finally:
        proxy.cut()
    assert not list(spool_dir.rglob("*.spool"))
    audit = Audit(database_url, ids)
    assert audit.missing(dict.fromkeys(ids, 2_000)) == 0
    assert audit.duplicates() == 0
