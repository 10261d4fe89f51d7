"""One MQTT message -> records to store, or one quarantine item. Runs in the writer thread.

Routing by topic:

- ``sensors/{device}/{format}`` -> ``ingest.decoders.decode_message`` (native JSON, SenML, airrohr), after
  checking that the device is registered, active, and of a kind the decoder is told about;
- ``spBv1.0/...`` -> this worker's ``SparkplugDecoder``, which keeps alias tables and ``seq`` per edge node.
  The edge node must be a registered, active ``process`` device (it is also the MQTT username the ACL lets
  publish there); its devices' values are stored under ``<edge>-<device>`` ids without registration.
  NDEATH/DDEATH and ``seq`` gaps become ``DeviceEvent`` rows (``device_events``).

Readings without a device timestamp get estimated times from the receive time; ``EstimatedClock`` keeps those
of one device strictly increasing across messages (``ingest.estimated``), so none takes another's key.

Every outcome is final: a message is decoded exactly once, and a batch that has to be retried reuses the
outcome, so the Sparkplug state never sees a message twice because of a database retry.

Quarantine is bounded here: the device is always taken from the topic (before the size check, so an
oversized message still names its device), and ``ingest.quarantine_limit`` lets each device have only so
many rows stored per minute; the rest become *suppressed* items, which the store counts instead of keeping.

Sparkplug state survives restarts: the alias tables, ``seq`` and ``bdSeq`` of every edge node touched by a
batch are written with it (``store.sparkplug_nodes``), and loaded before the first Sparkplug message is
decoded. A DATA message the state cannot name (``UNKNOWN_ALIAS``), or DATA from a node or device whose
BIRTH was never seen, sets ``Outcome.rebirth``: the worker then asks that edge node to rebirth (``NCMD``
``Node Control/Rebirth``), as the Sparkplug specification expects of a host application.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Final

import psycopg

from ingest.decoders import DecodeError, Reason, TimeWindow, columnar, decode_message, parse_topic
from ingest.decoders.sparkplug import (
    NAMESPACE,
    NodeState,
    SparkplugDecoder,
    SparkplugTopic,
    parse_sparkplug_topic,
    platform_device_id,
)
from ingest.directory import DeviceDirectory
from ingest.estimated import EstimatedClock
from ingest.quarantine_limit import QuarantineLimiter
from kipsense.records import DeviceKind, Record, is_valid_device_id
from kipsense.settings import IngestSettings
from store import sparkplug_nodes
from store.quarantine import QuarantineItem
from store.readings import Item
from store.row_blocks import RowBlock

log = logging.getLogger(__name__)

#: Quarantine reason for a message a decoder failed on with an unexpected error (a decoder bug).
DECODER_ERROR: Final = "decoder_error"
_BUG_ERRORS: Final = (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError, OverflowError)


@dataclass(slots=True)
class Outcome:
    """What a message becomes: records (possibly none) or a quarantine item.

    A plain native JSON batch comes as ``block`` (binary COPY rows, see ``ingest.decoders.columnar``) instead
    of ``records``; ``items`` gives either for writing, ``all_records`` typed records for the spool.
    """

    records: list[Record] = field(default_factory=list)
    quarantined: QuarantineItem | None = None
    seq_gaps: int = 0
    block: RowBlock | None = None
    #: Sparkplug: the ``group/edge`` key of the edge node whose state this message changed, and whether its
    #: alias tables changed (a BIRTH or DEATH) or only its ``seq``.
    sparkplug_node: str | None = None
    sparkplug_tables: bool = False
    #: Sparkplug: (group, edge node) to send a rebirth request to.
    rebirth: tuple[str, str] | None = None

    @property
    def rows(self) -> int:
        return len(self.records) if self.block is None else len(self.block)

    @property
    def items(self) -> list[Item]:
        return list(self.records) if self.block is None else [self.block]

    def all_records(self) -> list[Record]:
        return self.records if self.block is None else self.block.records()

    @property
    def device_id(self) -> str | None:
        """The device of the first reading (None without readings)."""
        if self.block is not None:
            return self.block.device_id
        return self.records[0].device_id if self.records else None


class MessageDecoder:
    """Decodes messages of one worker; owns the device directory and the Sparkplug state."""

    def __init__(
        self,
        settings: IngestSettings,
        *,
        sparkplug: SparkplugDecoder | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_bytes = settings.max_payload_bytes
        self._window = TimeWindow(
            max_age=timedelta(days=settings.max_age_days), max_future=timedelta(seconds=settings.max_future_s)
        )
        self.directory = DeviceDirectory(settings.device_cache_s)
        self.sparkplug = sparkplug if sparkplug is not None else SparkplugDecoder()
        self._sparkplug_loaded = sparkplug is not None  # a decoder handed in brings its own state
        self._limiter = QuarantineLimiter(per_minute=settings.quarantine_per_minute, burst=settings.quarantine_burst)
        self._clock = clock
        self.estimated = EstimatedClock()

    def decode(
        self, conn: psycopg.Connection[Any] | None, topic: str, payload: bytes, received_at: datetime
    ) -> Outcome:
        """Decode one message; raises only ``psycopg`` errors from the database (the caller retries)."""
        outcome = self._decode(conn, topic, payload, received_at)
        item = outcome.quarantined
        if item is not None and not self._limiter.allow(item.device_id or "", self._clock()):
            outcome.quarantined = replace(item, suppressed=True)
        return outcome

    def sparkplug_snapshot(self, keys: set[str]) -> dict[str, dict[str, Any] | None]:
        """The persisted form of the given edge nodes' state (None: the node has none, e.g. after NDEATH)."""
        nodes = self.sparkplug.state.nodes
        return {key: nodes[key].to_json() if key in nodes else None for key in keys}

    def sparkplug_seqs(self, keys: set[str]) -> dict[str, int | None]:
        """The last ``seq`` of the given edge nodes that have a state."""
        nodes = self.sparkplug.state.nodes
        return {key: nodes[key].last_seq for key in keys if key in nodes}

    def _load_sparkplug(self, conn: psycopg.Connection[Any] | None) -> None:
        if self._sparkplug_loaded:
            return
        if conn is None:
            raise psycopg.OperationalError("Sparkplug state not loaded yet and the database is unreachable")
        for key, doc in sparkplug_nodes.load(conn).items():
            self.sparkplug.state.nodes.setdefault(key, NodeState.from_json(doc))
        self._sparkplug_loaded = True

    def _decode(
        self, conn: psycopg.Connection[Any] | None, topic: str, payload: bytes, received_at: datetime
    ) -> Outcome:
        device_id: str | None = None
        try:
            sparkplug = topic.startswith(NAMESPACE + "/")
            # The device comes from the topic first, so that even an oversized message names it.
            device_id = _edge_node_of(topic) if sparkplug else _topic_device(topic)
            if len(payload) > self._max_bytes:
                raise DecodeError(Reason.OVERSIZED, f"{len(payload)} bytes > {self._max_bytes}")
            if sparkplug:
                return self._sparkplug(conn, topic, payload, received_at)
            device_id, fmt = parse_topic(topic)
            kind = self._device_kind(conn, device_id)
            if fmt == "json":
                oldest, latest = self._window.bounds(received_at)
                block = columnar.decode(
                    payload, topic_device=device_id, kind=kind, received_at=received_at, oldest=oldest, latest=latest
                )
                if block is not None:
                    return Outcome(block=block)
            records = decode_message(
                fmt, payload, topic_device=device_id, kind=kind, received_at=received_at, window=self._window
            )
            # SenML's estimated times are the device's own relative offsets: kept as sent.
            return Outcome(records if fmt == "senml" else self.estimated.place(records))
        except DecodeError as exc:
            outcome = Outcome(
                quarantined=QuarantineItem(topic, device_id, exc.reason.value, exc.detail, payload, received_at)
            )
            if exc.reason is Reason.UNKNOWN_ALIAS:
                outcome.rebirth = _rebirth_target(topic)
            return outcome
        except _BUG_ERRORS as exc:
            log.error("decoder failed on %s; quarantined", topic[:120], exc_info=True)
            detail = f"{type(exc).__name__}: {exc}"[:500]
            return Outcome(quarantined=QuarantineItem(topic, device_id, DECODER_ERROR, detail, payload, received_at))

    def _device_kind(self, conn: psycopg.Connection[Any] | None, device_id: str) -> DeviceKind:
        entry = self.directory.lookup(conn, device_id)
        if entry is None:
            raise DecodeError(Reason.UNKNOWN_DEVICE, f"device {device_id!r} is not registered")
        kind, status = entry
        if status != "active":
            raise DecodeError(Reason.RETIRED_DEVICE, f"device {device_id!r} is {status}")
        return DeviceKind(kind)

    def _sparkplug(
        self, conn: psycopg.Connection[Any] | None, topic: str, payload: bytes, received_at: datetime
    ) -> Outcome:
        parts = parse_sparkplug_topic(topic)
        if parts is None or parts.message_type in ("NCMD", "DCMD"):
            return Outcome()  # host STATE and commands carry no measurements
        node_id = platform_device_id(parts.edge_node)
        kind = self._device_kind(conn, node_id)
        if kind is not DeviceKind.PROCESS:
            raise DecodeError(Reason.KIND_MISMATCH, f"edge node {node_id!r} is a {kind.value} device, not process")
        self._load_sparkplug(conn)
        unborn = self._unborn(parts)
        result = self.sparkplug.decode(topic, payload, received_at=received_at, window=self._window)
        records: list[Record] = [*result.records, *result.events]
        return Outcome(
            self.estimated.place(records),
            seq_gaps=result.seq_gaps,
            sparkplug_node=f"{parts.group}/{parts.edge_node}",
            sparkplug_tables=parts.message_type in ("NBIRTH", "NDEATH", "DBIRTH", "DDEATH"),
            rebirth=(parts.group, parts.edge_node) if unborn else None,
        )

    def _unborn(self, parts: SparkplugTopic) -> bool:
        """True for a message that needs a BIRTH this decoder has not seen (of the node, or of the device)."""
        if parts.message_type in ("NBIRTH", "NDEATH"):
            return False
        node = self.sparkplug.state.nodes.get(f"{parts.group}/{parts.edge_node}")
        if node is None:
            return True
        return parts.message_type in ("DDATA", "DDEATH") and parts.device not in node.device_aliases


def _topic_device(topic: str) -> str | None:
    """The device a ``sensors/<device>/...`` topic names, for the quarantine row; None when there is none."""
    parts = topic.split("/", 2)
    if len(parts) >= 2 and parts[0] == "sensors" and is_valid_device_id(parts[1]):
        return parts[1]
    return None


def _rebirth_target(topic: str) -> tuple[str, str] | None:
    parts = topic.split("/")
    if len(parts) in (4, 5) and parts[0] == NAMESPACE and all(parts[1:4]):
        return parts[1], parts[3]
    return None


def _edge_node_of(topic: str) -> str | None:
    """The platform id of a Sparkplug topic's edge node, for the quarantine row; None when there is none."""
    parts = topic.split("/")
    if len(parts) < 4:
        return None
    try:
        return platform_device_id(parts[3])
    except DecodeError:
        return None
