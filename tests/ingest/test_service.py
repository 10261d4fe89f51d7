"""How the service configures each worker slot."""

from __future__ import annotations

from ingest.service import slot_settings
from ingest.worker import IngestWorker
from kipsense.settings import IngestSettings, MqttSettings
from tests.ingest.chaos import Audit, numbered_plan, provision
from tests.support import DeviceSession, running_worker, wait_until


def test_a_worker_running_alone_subscribes_directly_several_share() -> None:
    settings = IngestSettings(share_group="g")
    assert slot_settings(settings, 0, workers=1).shared is False
    assert all(slot_settings(settings, slot, workers=3).shared for slot in range(3))
    assert slot_settings(settings, 2).shared is True  # a slot started on its own keeps the configured setting


def test_a_worker_switched_from_shared_to_direct_gets_each_message_once(
    database_url: str, mqtt_settings: MqttSettings, uid: str
) -> None:
    """Its persistent session still holds the shared subscription from before: the worker leaves it on connect."""
    (creds,) = provision(database_url, mqtt_settings, f"{uid}-w", 1)
    with running_worker(mqtt_settings, database_url, group=uid, slot=13, sparkplug=False) as shared:
        assert shared.connected.is_set()
    username = "kipsense-ingest-13"
    worker = IngestWorker(
        settings=IngestSettings(share_group=uid, session_expiry_s=30, sparkplug=False, shared=False),
        mqtt_settings=mqtt_settings.model_copy(update={"username": username}),
        database_url=database_url,
        client_id=username,
    )
    worker.start()
    try:
        wait_until(worker.connected.is_set, timeout=30)
        # SUBSCRIBE and UNSUBSCRIBE are queued in on_connect, before the device below has even connected.
        device = DeviceSession(creds)
        try:
            device.publish_many(numbered_plan([creds.device_id], 200)[creds.device_id])
        finally:
            device.close()
        wait_until(lambda: worker.stats.acked >= 200, timeout=60, interval=0.2)
        assert worker.flush()
    finally:
        worker.stop()
    assert worker.stats.messages == 200
    assert worker.stats.duplicate_rows == 0
    assert Audit(database_url, [creds.device_id]).missing({creds.device_id: 200}) == 0
