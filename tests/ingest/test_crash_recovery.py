"""Worker crashes and absences lose nothing: kill -9 mid-stream, and a worker that is down while devices publish.

The worker runs as ``kipsense ingest`` in its own process, so SIGKILL hits it exactly as in production: no
flush, no disconnect, unacknowledged messages left in the broker's persistent session.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest

from kipsense.settings import MqttSettings
from tests.ingest.chaos import Audit, Publisher, WorkerProcess, numbered_plan, provision, settle, stored_count


@pytest.mark.slow
def test_kill9_repeatedly_during_20k_messages_loses_and_duplicates_nothing(
    database_url: str, mqtt_settings: MqttSettings, uid: str, tmp_path: Path
) -> None:
    creds = provision(database_url, mqtt_settings, f"{uid}-k", 4)
    ids = [c.device_id for c in creds]
    per_device = 5_000
    # A 400 ms batch window keeps up to receive_maximum messages unacknowledged at any moment, and the paced
    # stream (about 8 s) outlasts the kills, so every kill lands on messages in flight however fast the writer is.
    worker = WorkerProcess(
        mqtt_settings, database_url, group=uid, log_path=tmp_path / "worker.log", KIPSENSE_INGEST_FLUSH_MS="400"
    )
    publisher = Publisher(creds)
    errors: list[BaseException] = []

    def publish() -> None:
        try:
            publisher.publish(numbered_plan(ids, per_device), rate_per_device=600.0)
        except BaseException as exc:  # re-raised by the test below
            errors.append(exc)

    rng = random.Random(8)
    kills = 0
    try:
        worker.start()
        sender = threading.Thread(target=publish)
        sender.start()
        while kills < 4:
            time.sleep(rng.uniform(0.6, 1.5))
            worker.kill9()
            kills += 1
            worker.start()
        sender.join(timeout=120)
        assert not errors, errors
        settle(database_url, ids, 4 * per_device)
        worker.terminate()
    finally:
        worker.terminate()
        publisher.close()
    audit = Audit(database_url, ids)
    assert audit.missing(dict.fromkeys(ids, per_device)) == 0
    assert audit.duplicates() == 0
    assert len(audit.rows) == 4 * per_device
    assert worker.redelivered > 0, "no redelivery was observed: the kills did not hit messages in flight"


@pytest.mark.slow
def test_messages_published_while_the_worker_is_down_are_stored_after_restart(
    database_url: str, mqtt_settings: MqttSettings, uid: str, tmp_path: Path
) -> None:
    creds = provision(database_url, mqtt_settings, f"{uid}-d", 2)
    ids = [c.device_id for c in creds]
    worker = WorkerProcess(mqtt_settings, database_url, group=uid, log_path=tmp_path / "worker.log")
    publisher = Publisher(creds)
    try:
        worker.start()  # creates the persistent session and its subscription
        worker.terminate()
        publisher.publish(numbered_plan(ids, 3_000))
        assert stored_count(database_url, ids) == 0
        worker.start()
        settle(database_url, ids, 6_000)
    finally:
        worker.terminate()
        publisher.close()
    audit = Audit(database_url, ids)
    assert audit.missing(dict.fromkeys(ids, 3_000)) == 0
    assert audit.duplicates() == 0
