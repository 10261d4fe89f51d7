"""The ingest worker: MQTT in, idempotent batched writes out, acknowledgement only after commit.

Two threads with one job each:

- paho's network thread runs the callbacks. ``_on_message`` only stamps the receive time and puts the
  message on a bounded queue (a full queue blocks the network thread, which is the back-pressure we want: the
  broker keeps the rest, and with manual acks it never sends more than ``receive_maximum`` unacknowledged
  messages). No exception escapes a callback: one would stop paho's loop.
- the writer thread owns the database connection: it decodes each message once (``ingest.decoding``),
  batches, flushes on N rows **or** T ms, writes readings, events and quarantine rows in one transaction,
  commits, and only then acknowledges the messages in arrival order.

Delivery: sessions are persistent (MQTT 5, ``clean_start=False``, a session expiry interval, a fixed client id),
so what is not acknowledged survives a worker crash and is redelivered; the unique keys make the redelivery
harmless. Acks are tagged with the connection (generation) they arrived on and never sent on a later one,
where the same packet id may mean another message; the generation moves on disconnect *and* connect, and
acks are sent under the same lock, so none can slip onto a new connection.

Database outages: the writer keeps what it holds, acknowledges nothing, reconnects with backoff (0.5 s
doubling to 10 s) and resumes by itself. The broker's persistent session holds the backlog. For an outage
longer than the broker's queue can hold, the worker can spool (``IngestSettings.spool_dir``): after
``spool_after_s`` of outage each batch is written to a local fsync'd file and only then acknowledged, and the
spool is replayed through the same idempotent write when the database is back (see ``ingest.spool``).

Sparkplug B (``spBv1.0/#``) is decoded statefully, so it is subscribed without a shared group and by one
worker only (``IngestSettings.sparkplug``; the service gives it to slot 0). Its state is stored with each
batch and loaded after a restart; a message that needs a BIRTH the worker has not seen makes it ask the edge
node to rebirth (``NCMD`` ``Node Control/Rebirth``, at most once per ``rebirth_every_s`` per node), the one
topic the ingest account may write.

The shared group's name is derived from a secret (``mqtt_auth.share_group_name``): the broker's ACL cannot
refuse a device's SUBSCRIBE, and a device that joined the workers' group would make the broker drop every
message it handed to that device. On connect the worker also leaves the group names it may have joined
before (the bare label of earlier versions, and the group of ``previous_share_secret`` after a rotation),
since a persistent session keeps its subscriptions.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest import batch as batches
from ingest.batch import OUTAGE_ERRORS, Batch, Message
from ingest.decoders.sparkplug import REBIRTH_METRIC, DataType, Metric, encode_payload
from ingest.decoders.sparkplug import topic as sparkplug_topic
from ingest.decoding import MessageDecoder, Outcome
from ingest.handoff import BufferedClient, Inbox, ack_in_order
from ingest.metrics import MetricsServer, StatsCollector, build_registry
from ingest.spool import Spool, SpoolError, encode_line
from ingest.stats import IngestStats
from kipsense import mqtt_auth
from kipsense.settings import IngestSettings, MqttSettings
from store.db import connect

log = logging.getLogger(__name__)

_MAX_BACKOFF_S = 10.0


def share_groups(settings: IngestSettings, mqtt_settings: MqttSettings) -> tuple[str, list[str]]:
    """(the group to join, groups to leave) for these settings; ``ValueError`` without a secret."""
    secret = settings.share_secret or mqtt_settings.password
    if secret is None:
        raise ValueError(
            "the ingest shared subscription needs a secret: set KIPSENSE_INGEST_SHARE_SECRET or the MQTT password"
        )
    label = settings.share_group
    group = mqtt_auth.share_group_name(label, secret.get_secret_value())
    retired = [label]
    if settings.previous_share_secret is not None:
        previous = mqtt_auth.share_group_name(label, settings.previous_share_secret.get_secret_value())
        if previous != group:
            retired.append(previous)
    return group, retired


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
        metrics_port: int | None = None,
    ) -> None:
        self._settings = settings
        self._mqtt_settings = mqtt_settings
        self._database_url = database_url
        self.client_id = client_id
        self.stats = stats or IngestStats()
        self._on_commit = on_commit
        self._share_group, self._retired_groups = share_groups(settings, mqtt_settings)
        self._inbox: Inbox[Message] = Inbox(settings.queue_size)
        self._decoder = MessageDecoder(settings)
        self._rebirth_sent: dict[tuple[str, str], float] = {}
        self._write_options = batches.WriteOptions(keep_bytes=settings.quarantine_keep_bytes)
        self._spool = (
            Spool(settings.spool_dir / client_id, max_bytes=settings.spool_max_bytes) if settings.spool_dir else None
        )
        self._generation = 0
        self._gen_lock = threading.Lock()
        self._accepting = threading.Event()
        self._stopping = threading.Event()
        self._flush_requested = threading.Event()
        self._flushed = threading.Condition()
        self._flush_count = 0
        self._writer: threading.Thread | None = None
        self._outage_since: float | None = None
        self._oldest_held: float | None = None
        self._client = self._make_client()
        self.connected = threading.Event()
        port = settings.metrics_port if metrics_port is None else metrics_port
        self.metrics: MetricsServer | None = None
        if port > 0:
            collector = StatsCollector(client_id, self.stats, self._gauges())
            self.metrics = MetricsServer(build_registry(collector), host=settings.metrics_host, port=port)

    def _gauges(self) -> dict[str, tuple[str, Callable[[], float]]]:
        return {
            "oldest_unacked_seconds": ("age of the oldest message held but not yet acknowledged", self._held_age),
            "db_outage_seconds": ("how long the database has been unreachable (0 when up)", self._outage_age),
            "queue_depth": ("messages waiting for the writer", lambda: float(len(self._inbox))),
            "spool_bytes": ("bytes in the local spool", self._spool_bytes),
            "connected": ("1 while connected to the broker", lambda: float(self.connected.is_set())),
        }

    def _held_age(self) -> float:
        held = self._oldest_held
        return 0.0 if held is None else time.monotonic() - held

    def _outage_age(self) -> float:
        since = self._outage_since
        return 0.0 if since is None else time.monotonic() - since

    def _spool_bytes(self) -> float:
        return float(self._spool.size_bytes()) if self._spool is not None else 0.0

    # -- MQTT side (network thread) ---------------------------------------------------------------------
    def _make_client(self) -> mqtt.Client:
        client = BufferedClient(
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
        client.on_subscribe = self._on_subscribe
        return client

    @property
    def share_group(self) -> str:
        """The shared-subscription group this worker joins (secret-derived)."""
        return self._share_group

    def _subscriptions(self) -> list[tuple[str, int]]:
        topics = [(f"$share/{self._share_group}/{t}", 1) for t in self._settings.topics]
        if self._settings.sparkplug:
            topics += [(t, 1) for t in self._settings.sparkplug_topics]
        return topics

    def _retired_subscriptions(self) -> list[str]:
        return [f"$share/{g}/{t}" for g in self._retired_groups for t in self._settings.topics]

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        try:
            if reason.is_failure:
                log.error("broker refused %s: %s", self.client_id, reason)
                return
            with self._gen_lock:
                self._generation += 1
            client.subscribe(self._subscriptions())
            if flags.session_present:
                # Joined first, left second: the worker is never without a subscription in between.
                client.unsubscribe(self._retired_subscriptions())
            self.stats.connects += 1
            self.connected.set()
            log.info("%s connected (session present: %s)", self.client_id, flags.session_present)
        except Exception:  # a callback must never raise: it would stop paho's network loop
            log.exception("on_connect failed")

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        try:
            refused = [str(r) for r in reasons if r.is_failure]
            if refused:
                log.error("%s: subscription refused: %s", self.client_id, ", ".join(refused))
        except Exception:  # a callback must never raise
            log.exception("on_subscribe failed")

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        try:
            with self._gen_lock:  # acks of messages from this connection must not reach the next one
                self._generation += 1
            self.connected.clear()
            if not self._stopping.is_set():
                log.warning("%s disconnected: %s", self.client_id, reason)
        except Exception:  # a callback must never raise
            log.exception("on_disconnect failed")

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            if not self._accepting.is_set():
                return  # not acknowledged: the persistent session redelivers it later
            self.stats.messages += 1
            if msg.dup:
                self.stats.redelivered += 1
            item = Message(
                msg.mid,
                msg.qos,
                msg.topic,
                bytes(msg.payload),
                datetime.now(UTC),
                time.monotonic(),
                self._generation,
                bool(msg.dup),
            )
            while not self._stopping.is_set():
                if self._inbox.put(item, timeout=0.5):
                    return
        except Exception:  # a callback must never raise: it would stop paho's network loop
            log.exception("on_message failed")

    # -- life ------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start metrics and the writer, then connect (persistent session: clean_start False, expiry set)."""
        if self.metrics is not None:
            self.metrics.start()
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
            self._inbox.wake()
            return self._flushed.wait_for(lambda: self._flush_count >= target, timeout=timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop taking messages, commit and ack what was taken, then disconnect."""
        self._accepting.clear()
        self._stopping.set()
        self._inbox.wake()
        if self._writer is not None:
            self._writer.join(timeout=timeout)
        self._client.disconnect()
        self._client.loop_stop()
        if self.metrics is not None:
            self.metrics.stop()

    # -- writer thread ---------------------------------------------------------------------------------
    def _write_loop(self) -> None:
        state = _WriterState()
        if self._spool is not None:
            self._spool.discard_partial()
        while True:
            try:
                self._step(state)
            except Exception:  # the writer must survive a bug in one batch: it keeps the batch and retries
                log.exception("writer error; holding %d messages", len(state.batch.messages))
                state.close()
                if self._stopping.wait(1.0):
                    break
                continue
            if self._stopping.is_set() and not state.batch.messages and not len(self._inbox) and not state.retry:
                self._signal_flushed()
                break
        state.close()

    def _step(self, state: _WriterState) -> None:
        if state.conn is None and time.monotonic() >= state.next_attempt:
            self._reconnect(state)
        self._fill(state)
        batch = state.batch
        flushing = self._flush_requested.is_set() or self._stopping.is_set()
        if batch.messages and (flushing or self._due(batch)):
            if state.conn is not None:
                try:
                    self._commit(state.conn, batch.messages)
                    batch.clear()
                    self._oldest_held = None
                except OUTAGE_ERRORS as exc:
                    self._outage(state, exc)
            if batch.messages and state.conn is None:
                if self._spool_due():
                    self._spool_batch(batch)
                elif not self._stopping.is_set():
                    self._stopping.wait(max(min(state.next_attempt - time.monotonic(), 0.5), 0.01))
                else:
                    log.warning("stopping with the database down: %d messages left to the broker", len(batch.messages))
                    batch.clear()  # not acknowledged: the persistent session redelivers them
                    self._oldest_held = None
        if self._flush_requested.is_set() and not batch.messages and not len(self._inbox) and not state.retry:
            self._signal_flushed()

    def _reconnect(self, state: _WriterState) -> None:
        try:
            state.conn = connect(self._database_url, autocommit=True, application_name=f"ingest:{self.client_id}")
        except OUTAGE_ERRORS as exc:
            self._outage(state, exc)
            return
        if self._outage_since is not None:
            log.info("%s: database back after %.1fs", self.client_id, time.monotonic() - self._outage_since)
        self._outage_since = None
        state.backoff = 0.5
        try:
            self._decoder.directory.refresh(state.conn)
            self._replay_spool(state.conn)
        except OUTAGE_ERRORS as exc:
            self._outage(state, exc)

    def _outage(self, state: _WriterState, exc: Exception) -> None:
        self.stats.db_errors += 1
        now = time.monotonic()
        if self._outage_since is None:
            self._outage_since = now
            log.warning(
                "%s: database unavailable (%s); holding %d messages", self.client_id, exc, len(state.batch.messages)
            )
        state.close()
        state.next_attempt = now + state.backoff
        state.backoff = min(state.backoff * 2, _MAX_BACKOFF_S)

    def _window(self) -> int:
        # A batch holding a whole in-flight window is due at once: the broker sends nothing more until we ack.
        return min(self._settings.batch_rows, self._settings.receive_maximum)

    def _due(self, batch: Batch) -> bool:
        return (
            batch.rows >= self._settings.batch_rows
            or len(batch.messages) >= self._window()
            or time.monotonic() - batch.started >= self._settings.flush_ms / 1000.0
        )

    def _fill(self, state: _WriterState) -> None:
        batch = state.batch
        limit = self._settings.batch_rows
        window = self._window()
        while batch.rows < limit and len(batch.messages) < window:
            if not state.retry and not self._take(state, window - len(batch.messages)):
                return
            msg = state.retry[0]
            try:
                msg.outcome = self._decoder.decode(state.conn, msg.topic, msg.payload, msg.received_at)
            except OUTAGE_ERRORS as exc:  # the directory could not be read: decode again once reconnected
                if state.conn is not None:
                    self._outage(state, exc)
                elif self._stopping.is_set():
                    state.retry.clear()  # not acknowledged: the broker redelivers it
                else:
                    self._stopping.wait(0.2)
                return
            state.retry.popleft()
            if not batch.messages:
                # The flush deadline runs from when the oldest message arrived, not from when it was taken.
                batch.started = msg.received_mono
                self._oldest_held = msg.received_mono
            batch.add(msg)
            if msg.outcome.quarantined is not None:
                self.stats.quarantine(msg.outcome.quarantined.reason, suppressed=msg.outcome.quarantined.suppressed)
            if msg.outcome.rebirth is not None:
                self._request_rebirth(*msg.outcome.rebirth)

    def _take(self, state: _WriterState, room: int) -> bool:
        """Move up to ``room`` queued messages to ``state.retry``; False when there is nothing to take now."""
        inbox = self._inbox
        if not len(inbox):
            if self._stopping.is_set() or self._flush_requested.is_set():
                return False  # take what is queued now, wait for nothing more
            if state.batch.messages:
                timeout = state.batch.started + self._settings.flush_ms / 1000.0 - time.monotonic()
                if timeout <= 0:
                    return False
            else:
                timeout = 0.05
            inbox.wait(timeout)
            if not len(inbox):
                return False
        state.retry.extend(inbox.take(room))
        return True

    def _request_rebirth(self, group: str, edge_node: str) -> None:
        """Ask an edge node to publish its BIRTH again (Sparkplug B host application duty), rate-limited."""
        now = time.monotonic()
        last = self._rebirth_sent.get((group, edge_node))
        if last is not None and now - last < self._settings.rebirth_every_s:
            return
        if len(self._rebirth_sent) >= 10_000:  # bounded: forget requests whose interval has passed
            every = self._settings.rebirth_every_s
            self._rebirth_sent = {k: t for k, t in self._rebirth_sent.items() if now - t < every}
        self._rebirth_sent[(group, edge_node)] = now
        payload = encode_payload([Metric(REBIRTH_METRIC, True, DataType.BOOLEAN)], timestamp_ms=int(time.time() * 1000))
        info = self._client.publish(sparkplug_topic(group, "NCMD", edge_node), payload, qos=0)
        self.stats.rebirths_requested += 1
        log.info("%s: asked edge node %s/%s to rebirth (rc %s)", self.client_id, group, edge_node, info.rc)

    def _options(self, messages: Sequence[Message]) -> batches.WriteOptions:
        # A node whose alias tables changed in this batch is stored whole; for the others only ``seq`` moves.
        touched: set[str] = set()
        reborn: set[str] = set()
        for m in messages:
            if m.outcome is not None and (node := m.outcome.sparkplug_node) is not None:
                touched.add(node)
                if m.outcome.sparkplug_tables:
                    reborn.add(node)
        if not touched:
            return self._write_options
        return batches.WriteOptions(
            self._write_options.keep_bytes,
            self._decoder.sparkplug_snapshot(reborn),
            self._decoder.sparkplug_seqs(touched - reborn),
        )

    def _commit(self, conn: psycopg.Connection[Any], messages: Sequence[Message]) -> None:
        started = time.perf_counter()
        result = batches.commit(conn, messages, worker=self.client_id, options=self._options(messages))
        self.stats.observe_commit(len(messages), time.perf_counter() - started)
        self.stats.rows += result.inserted
        self.stats.duplicate_rows += result.duplicates
        self.stats.conflicts += result.conflicts
        if result.rejected:
            self.stats.rejected_batches += 1
            for _ in range(result.rejected):
                self.stats.quarantine(batches.REJECTED)
        self._ack(messages)

    def _ack(self, messages: Sequence[Message]) -> None:
        now = time.monotonic()
        with self._gen_lock:
            generation = self._generation
            acked = ack_in_order(self._client, ((m.mid, m.qos) for m in messages if m.generation == generation))
        self.stats.acked += acked
        self.stats.ack_lag_seconds.observe_many([now - m.received_mono for m in messages if m.generation])
        if self._on_commit is not None:
            self._on_commit(len(messages))

    # -- spool -----------------------------------------------------------------------------------------
    def _spool_due(self) -> bool:
        if self._spool is None or self._outage_since is None:
            return False
        return time.monotonic() - self._outage_since >= self._settings.spool_after_s and self._spool.has_room()

    def _spool_batch(self, batch: Batch) -> None:
        assert self._spool is not None  # noqa: S101 - _spool_due checked it
        lines = []
        for msg in batch.messages:
            outcome = msg.outcome
            assert outcome is not None  # noqa: S101 - every message in a batch is decoded
            records = outcome.all_records()
            lines.append(encode_line(msg.topic, msg.payload, msg.received_at, records, outcome.quarantined))
        try:
            self._spool.append(lines)
        except SpoolError:
            log.error("%s: spool write failed; holding the batch for the broker", self.client_id, exc_info=True)
            self._stopping.wait(1.0)
            return
        self.stats.spooled += len(batch.messages)
        self._ack(batch.messages)
        batch.clear()
        self._oldest_held = None

    def _replay_spool(self, conn: psycopg.Connection[Any]) -> None:
        if self._spool is None:
            return
        for path in self._spool.files():
            messages = []
            for topic, payload, at, records, quarantined in self._spool.read(path):
                msg = Message(0, 0, topic, payload, at, 0.0, 0)
                msg.outcome = Outcome(records, quarantined)
                messages.append(msg)
            started = time.perf_counter()
            result = batches.commit(conn, messages, worker=self.client_id, options=self._write_options)
            self.stats.observe_commit(len(messages), time.perf_counter() - started)
            self.stats.rows += result.inserted
            self.stats.duplicate_rows += result.duplicates
            self.stats.conflicts += result.conflicts
            self._spool.remove(path)
            self.stats.replayed += len(messages)
            log.info("%s: replayed %d spooled messages from %s", self.client_id, len(messages), path.name)

    def _signal_flushed(self) -> None:
        with self._flushed:
            self._flush_requested.clear()
            self._flush_count += 1
            self._flushed.notify_all()


class _WriterState:
    """What the writer thread holds between steps."""

    def __init__(self) -> None:
        self.conn: psycopg.Connection[Any] | None = None
        self.batch = Batch()
        self.retry: deque[Message] = deque()
        self.next_attempt = 0.0
        self.backoff = 0.5

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None
