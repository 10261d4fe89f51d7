"""Running ingest workers as a service: one per process, each with its own slot (username, client id, session)."""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time

from ingest.worker import IngestWorker
from kipsense import mqtt_auth
from kipsense.settings import IngestSettings, MqttSettings
from store import migrate

log = logging.getLogger(__name__)


def slot_identity(mqtt_settings: MqttSettings, settings: IngestSettings, slot: int) -> tuple[str | None, str]:
    """(username, client id) of worker ``slot``.

    On the local broker client id = username, so each slot has its own service username
    (``kipsense-ingest-<slot>``); elsewhere the configured username is shared and the client id gets the slot.
    """
    username = mqtt_settings.username
    if username and username.startswith(mqtt_auth.INGEST_USER_PREFIX):
        username = f"{mqtt_auth.INGEST_USER_PREFIX}{slot}"
        return username, username
    base = settings.client_id or username or "kipsense-ingest"
    return username, f"{base}-{slot}"


def run_worker(
    *, settings: IngestSettings, mqtt_settings: MqttSettings, database_url: str, slot: int, stop: threading.Event
) -> None:
    """One worker until ``stop`` is set; logs its counters every 10 s."""
    username, client_id = slot_identity(mqtt_settings, settings, slot)
    worker = IngestWorker(
        settings=settings,
        mqtt_settings=mqtt_settings.model_copy(update={"username": username}),
        database_url=database_url,
        client_id=client_id,
    )
    worker.start()
    last = time.monotonic()
    while not stop.wait(1.0):
        if time.monotonic() - last >= 10:
            s = worker.stats
            log.info(
                "%s: %d messages, %d rows, %d quarantined, %d db errors",
                client_id,
                s.messages,
                s.rows,
                sum(s.quarantined.values()),
                s.db_errors,
            )
            last = time.monotonic()
    worker.stop()


def _child(settings: IngestSettings, mqtt_settings: MqttSettings, database_url: str, slot: int) -> None:
    import signal

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    run_worker(settings=settings, mqtt_settings=mqtt_settings, database_url=database_url, slot=slot, stop=stop)


def run_workers(
    *, settings: IngestSettings, mqtt_settings: MqttSettings, database_url: str, workers: int, stop: threading.Event
) -> int:
    """Apply migrations, then run ``workers`` workers (separate processes when more than one)."""
    if workers < 1 or workers > mqtt_auth.INGEST_SLOTS:
        raise ValueError(f"workers must be within 1..{mqtt_auth.INGEST_SLOTS}")
    migrate.apply(database_url)
    if workers == 1:
        run_worker(settings=settings, mqtt_settings=mqtt_settings, database_url=database_url, slot=0, stop=stop)
        return 0
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_child, args=(settings, mqtt_settings, database_url, slot), name=f"ingest-{slot}")
        for slot in range(workers)
    ]
    for proc in procs:
        proc.start()
    stop.wait()
    for proc in procs:
        proc.terminate()  # SIGTERM: each child flushes, acks and disconnects
    for proc in procs:
        proc.join(timeout=30)
    return 0
