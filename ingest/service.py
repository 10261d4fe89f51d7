"""Running ingest workers as a service: one per process, each with its own slot (username, client id, session).

All slots join one MQTT 5 shared subscription (``$share/<group>/sensors/+/+``), so the broker spreads device
traffic over them and redelivers a dead worker's unacknowledged messages to the others. A single worker
subscribes directly instead, since Mosquitto 2.0 does not keep shared subscriptions over its restart (see
``ingest.worker``); a slot started on its own takes ``KIPSENSE_INGEST_SHARED`` (default on). Sparkplug B topics go
to slot 0 only (their decoding is stateful per edge node). ``python -m ingest.service --slot N`` runs one
slot on its own, for supervisors (systemd, containers) that start the N processes themselves. Worker ``slot``
serves ``/metrics`` on ``metrics_port + slot`` when a metrics port is set. The parent restarts a worker
process that dies.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import signal
import threading
import time
from multiprocessing.process import BaseProcess

from ingest.worker import IngestWorker
from kipsense import mqtt_auth
from kipsense.settings import DatabaseSettings, IngestSettings, MqttSettings
from store import migrate

log = logging.getLogger(__name__)

_RESTART_DELAY_S = 2.0


def slot_identity(mqtt_settings: MqttSettings, settings: IngestSettings, slot: int) -> tuple[str | None, str]:
    """(username, client id) of worker ``slot``.

    On the local broker client id = username, so each slot has its own service username
    (``kipsense-ingest-<slot>``); elsewhere the configured username is shared and the client id gets the slot.
    With ``client_id`` set (one per container in production) the id is ``<client_id>-<slot>`` in both cases,
    so several containers can use the same slot accounts without taking each other's sessions.
    """
    username = mqtt_settings.username
    if username and username.startswith(mqtt_auth.INGEST_USER_PREFIX):
        username = f"{mqtt_auth.INGEST_USER_PREFIX}{slot}"
        return username, f"{settings.client_id}-{slot}" if settings.client_id else username
    base = settings.client_id or username or "kipsense-ingest"
    return username, f"{base}-{slot}"


def slot_settings(settings: IngestSettings, slot: int, *, workers: int | None = None) -> IngestSettings:
    """The settings of worker ``slot``: Sparkplug on slot 0 only, its own metrics port; a worker known to run
    alone (``workers == 1``) subscribes directly, which survives a broker restart (see ``ingest.worker``)."""
    update: dict[str, object] = {
        "sparkplug": settings.sparkplug and slot == 0,
        "metrics_port": settings.metrics_port + slot if settings.metrics_port else 0,
    }
    if workers == 1:
        update["shared"] = False
    return settings.model_copy(update=update)


def run_worker(
    *,
    settings: IngestSettings,
    mqtt_settings: MqttSettings,
    database_url: str,
    slot: int,
    stop: threading.Event,
    workers: int | None = None,
) -> None:
    """One worker until ``stop`` is set; logs its counters every 10 s."""
    username, client_id = slot_identity(mqtt_settings, settings, slot)
    worker = IngestWorker(
        settings=slot_settings(settings, slot, workers=workers),
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
                "%s: %d messages, %d rows, %d quarantined, %d db errors, %d spooled",
                client_id,
                s.messages,
                s.rows,
                sum(s.quarantined_snapshot().values()),
                s.db_errors,
                s.spooled,
            )
            last = time.monotonic()
    worker.stop()


def _child(settings: IngestSettings, mqtt_settings: MqttSettings, database_url: str, slot: int) -> None:
    from kipsense.logging_setup import configure_logging

    configure_logging()  # a spawned process starts without the parent's handlers: same format (text or JSON)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    run_worker(settings=settings, mqtt_settings=mqtt_settings, database_url=database_url, slot=slot, stop=stop)


def run_workers(
    *, settings: IngestSettings, mqtt_settings: MqttSettings, database_url: str, workers: int, stop: threading.Event
) -> int:
    """Apply migrations, then run ``workers`` workers (separate processes when more than one) until ``stop``."""
    if workers < 1 or workers > mqtt_auth.INGEST_SLOTS:
        raise ValueError(f"workers must be within 1..{mqtt_auth.INGEST_SLOTS}")
    migrate.apply(database_url)
    if workers == 1:
        run_worker(
            settings=settings, mqtt_settings=mqtt_settings, database_url=database_url, slot=0, stop=stop, workers=1
        )
        return 0
    ctx = multiprocessing.get_context("spawn")

    def spawn(slot: int) -> BaseProcess:
        proc = ctx.Process(target=_child, args=(settings, mqtt_settings, database_url, slot), name=f"ingest-{slot}")
        proc.start()
        return proc

    procs = {slot: spawn(slot) for slot in range(workers)}
    while not stop.wait(_RESTART_DELAY_S):
        for slot, proc in procs.items():
            if not proc.is_alive():
                log.error("ingest worker %d exited with %s; restarting it", slot, proc.exitcode)
                procs[slot] = spawn(slot)
    for proc in procs.values():
        proc.terminate()  # SIGTERM: each child commits, acks and disconnects
    for proc in procs.values():
        proc.join(timeout=30)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m ingest.service --slot N``: one worker slot, settings from the environment, until SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m ingest.service", description="run one ingest worker slot")
    parser.add_argument("--slot", type=int, default=0, help=f"0..{mqtt_auth.INGEST_SLOTS - 1}")
    args = parser.parse_args(argv)
    if not 0 <= args.slot < mqtt_auth.INGEST_SLOTS:
        parser.error(f"--slot must be within 0..{mqtt_auth.INGEST_SLOTS - 1}")
    _child(IngestSettings(), MqttSettings(), DatabaseSettings().database_url, args.slot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
