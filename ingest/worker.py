"""The ingest worker: MQTT in, idempotent batched writes out, acknowledgement only after commit.

Two threads with one job each:

- paho's network thread runs ``_on_message``, which only stamps the receive time and puts the message on a
  bounded queue (a full queue blocks the network thread, which is the back-pressure we want: the broker keeps
  the rest, and with manual acks it never sends more than ``receive_maximum`` unacknowledged messages);
- the writer thread owns the database connection: it decodes, batches, flushes on N rows **or** T ms, writes
  readings and quarantine rows in one transaction, commits, and only then acknowledges the messages in
  arrival order. Acks are tagged with the connection they arrived on and never sent on a later connection,
  where the same packet id may mean another message.

If the database is unreachable the writer keeps its batch, retries with backoff and acknowledges nothing, so
the broker's persistent session keeps everything not yet committed.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.decoders import DecodeError, Reason, TimeWindow, decode_message, parse_topic
from ingest.stats import IngestStats
from kipsense.records import DeviceKind, Record
from kipsense.settings import IngestSettings, MqttSettings
from store import devices as store_devices
from store import quarantine as store_quarantine
from store import readings as store_readings
from store.db import connect
from store.quarantine import QuarantineItem

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Message:
    mid: int
    qos: int
    topic: str
    payload: bytes
    received_at: datetime
    generation: int


@dataclass(slots=True)
class _Batch:
    messages: list[_Message] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    quarantined: list[QuarantineItem] = field(default_factory=list)
    started: float = 0.0

    def clear(self) -> None:
        self.messages.clear()
        self.records.clear()
        self.quarantined.clear()


class DeviceDirectory:
    """device_id -> (kind, status), refreshed from the store periodically and on a miss (rate-limited)."""

    def __init__(self, max_age_s: float) -> None:
        self._max_age_s = max_age_s
        self._table: dict[str, tuple[str, str]] = {}
        self._loaded = float("-inf")

    def lookup(self, conn: psycopg.Connection[Any], device_id: str) -> tuple[str, str] | None:
        now = time.monotonic()
        stale = now - self._loaded > self._max_age_s
        miss = device_id not in self._table and now - self._loaded > 1.0
        if stale or miss:
            self._table = store_devices.kinds(conn)
            self._loaded = now
        return self._table.get(device_id)


class IngestWorker:
    """One MQTT session and one writer. ``start()``, ``flush()``, ``stop()``."""

    def __init__(
        self,
        *,
        settings: IngestSettings,
        mqtt_settings: MqttSettings,
        database_url: str,
        client_id: str,
        stats: IngestStats | None = None,
        on_commit: Callable[[int], None] | None = None,
    ) -> None:
        self._settings = settings
        self._mqtt_settings = mqtt_settings
        self._database_url = database_url
        self.client_id = client_id
        self.stats = stats or IngestStats()
        self._on_commit = on_commit
        self._queue: queue.Queue[_Message] = queue.Queue(maxsize=settings.queue_size)
        self._window = TimeWindow(
            max_age=timedelta(days=settings.max_age_days), max_future=timedelta(seconds=settings.max_future_s)
        )
        self._generation = 0
        self._gen_lock = threading.Lock()
        self._accepting = threading.Event()
        self._stopping = threading.Event()
        self._flush_requested = threading.Event()
        self._flushed = threading.Condition()
        self._flush_count = 0
        self._writer: threading.Thread | None = None
        self._client = self._make_client()
        self.connected = threading.Event()

    # -- MQTT side (network thread) ---------------------------------------------------------------------
    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if self._mqtt_settings.username:
            password = self._mqtt_settings.password.get_secret_value() if self._mqtt_settings.password else None
            client.username_pw_set(self._mqtt_settings.username, password)
        if self._mqtt_settings.tls_ca:
            client.tls_set(ca_certs=str(self._mqtt_settings.tls_ca))
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        try:
            if reason.is_failure:
                log.error("broker refused %s: %s", self.client_id, reason)
                return
            with self._gen_lock:
                self._generation += 1
            topics = [(f"$share/{self._settings.share_group}/{t}", 1) for t in self._settings.topics]
            client.subscribe(topics)
            self.stats.reconnects += 1
            self.connected.set()
            log.info("%s connected (session present: %s)", self.client_id, flags.session_present)
        except Exception:  # a callback must never raise: it would stop paho's network loop
            log.exception("on_connect failed")

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.connected.clear()
        if not self._stopping.is_set():
            log.warning("%s disconnected: %s", self.client_id, reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            if not self._accepting.is_set():
                return  # not acknowledged: the persistent session redelivers it later
            self.stats.messages += 1
            item = _Message(msg.mid, msg.qos, msg.topic, bytes(msg.payload), datetime.now(UTC), self._generation)
            while not self._stopping.is_set():
                try:
                    self._queue.put(item, timeout=0.5)
                    return
                except queue.Full:
                    continue
        except Exception:  # a callback must never raise: it would stop paho's network loop
            log.exception("on_message failed")

    # -- life ------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the writer, then connect (persistent session: clean_start False, session expiry set)."""
        self._accepting.set()
        self._writer = threading.Thread(target=self._write_loop, name=f"writer-{self.client_id}", daemon=True)
        self._writer.start()
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self._settings.session_expiry_s
        props.ReceiveMaximum = self._settings.receive_maximum
        self._client.connect_async(
            self._mqtt_settings.host,
            self._mqtt_settings.port,
            keepalive=30,
            clean_start=False,
            properties=props,
        )
        self._client.loop_start()

    def flush(self, timeout: float = 30.0) -> bool:
        """Ask the writer to commit and ack what it holds now; True when done within ``timeout``."""
        with self._flushed:
            target = self._flush_count + 1
            self._flush_requested.set()
            return self._flushed.wait_for(lambda: self._flush_count >= target, timeout=timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop taking messages, commit and ack what was taken, then disconnect."""
        self._accepting.clear()
        self._stopping.set()
        if self._writer is not None:
            self._writer.join(timeout=timeout)
        self._client.disconnect()
        self._client.loop_stop()

    # -- writer thread ---------------------------------------------------------------------------------
    def _write_loop(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        batch = _Batch()
        directory = DeviceDirectory(self._settings.device_cache_s)
        flush_s = self._settings.flush_ms / 1000.0
        backoff = 0.5
        while True:
            try:
                if conn is None or conn.closed:
                    conn = connect(self._database_url, autocommit=True, application_name=f"ingest:{self.client_id}")
                    backoff = 0.5
                self._fill(conn, batch, directory, flush_s)
                if batch.messages and (
                    self._due(batch, flush_s) or self._flush_requested.is_set() or self._stopping.is_set()
                ):
                    self._commit(conn, batch)
                if self._flush_requested.is_set() and not batch.messages and self._queue.empty():
                    self._signal_flushed()
                if self._stopping.is_set() and not batch.messages and self._queue.empty():
                    self._signal_flushed()
                    break
            except psycopg.OperationalError as exc:
                self.stats.db_errors += 1
                log.warning(
                    "database unavailable (%s); holding %d messages, retry in %.1fs", exc, len(batch.messages), backoff
                )
                if conn is not None:
                    conn.close()
                conn = None
                if self._stopping.wait(backoff):
                    break  # stopping with the DB down: nothing acked, the broker keeps it all
                backoff = min(backoff * 2, 10.0)
            except Exception:
                log.exception("writer error; holding %d messages", len(batch.messages))
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(1.0)
        if conn is not None:
            conn.close()

    def _due(self, batch: _Batch, flush_s: float) -> bool:
        return len(batch.records) >= self._settings.batch_rows or time.monotonic() - batch.started >= flush_s

    def _fill(self, conn: psycopg.Connection[Any], batch: _Batch, directory: DeviceDirectory, flush_s: float) -> None:
        while len(batch.records) < self._settings.batch_rows:
            if batch.messages:
                remaining = batch.started + flush_s - time.monotonic()
                if remaining <= 0 or self._flush_requested.is_set():
                    return
                timeout = remaining
            else:
                timeout = 0.05
            try:
                msg = self._queue.get(timeout=timeout)
            except queue.Empty:
                return
            if not batch.messages:
                batch.started = time.monotonic()
            batch.messages.append(msg)
            self._decode_into(conn, batch, directory, msg)

    def _decode_into(
        self, conn: psycopg.Connection[Any], batch: _Batch, directory: DeviceDirectory, msg: _Message
    ) -> None:
        device_id: str | None = None
        try:
            if len(msg.payload) > self._settings.max_payload_bytes:
                raise DecodeError(Reason.OVERSIZED, f"{len(msg.payload)} bytes > {self._settings.max_payload_bytes}")
            device_id, fmt = parse_topic(msg.topic)
            entry = directory.lookup(conn, device_id)
            if entry is None:
                raise DecodeError(Reason.UNKNOWN_DEVICE, f"device {device_id!r} is not registered")
            kind, status = entry
            if status != "active":
                raise DecodeError(Reason.RETIRED_DEVICE, f"device {device_id!r} is {status}")
            records = decode_message(
                fmt,
                msg.payload,
                topic_device=device_id,
                kind=DeviceKind(kind),
                received_at=msg.received_at,
                window=self._window,
            )
            batch.records.extend(records)
        except DecodeError as exc:
            self.stats.quarantine(exc.reason.value)
            batch.quarantined.append(
                QuarantineItem(msg.topic, device_id, exc.reason.value, exc.detail, msg.payload, msg.received_at)
            )

    def _commit(self, conn: psycopg.Connection[Any], batch: _Batch) -> None:
        started = time.perf_counter()
        now = datetime.now(UTC)
        with conn.transaction():
            if batch.records:
                written = store_readings.write_records(conn, batch.records, received_at=now)
                self.stats.rows += written.inserted
                self.stats.duplicate_rows += written.offered - written.inserted
                last: dict[str, datetime] = {}
                for rec in batch.records:
                    if rec.time > last.get(rec.device_id, rec.time - timedelta(seconds=1)):
                        last[rec.device_id] = rec.time
                store_devices.touch_seen(conn, device_ids=list(last), last_times=list(last.values()), received=now)
                store_readings.notify_new(conn)
            store_quarantine.add_many(conn, batch.quarantined, worker=self.client_id)
        self.stats.observe_commit(len(batch.messages), time.perf_counter() - started)
        with self._gen_lock:
            generation = self._generation
        for msg in batch.messages:  # arrival order
            if msg.generation == generation and msg.qos > 0:
                self._client.ack(msg.mid, msg.qos)
                self.stats.acked += 1
        if self._on_commit is not None:
            self._on_commit(len(batch.messages))
        batch.clear()

    def _signal_flushed(self) -> None:
        with self._flushed:
            self._flush_requested.clear()
            self._flush_count += 1
            self._flushed.notify_all()
