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
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import psycopg

from ingest.decoders import DecodeError, Reason, TimeWindow, columnar, decode_message, parse_topic
from ingest.decoders.sparkplug import NAMESPACE, SparkplugDecoder, parse_sparkplug_topic, platform_device_id
from ingest.directory import DeviceDirectory
from ingest.estimated import EstimatedClock
from kipsense.records import DeviceKind, Record
from kipsense.settings import IngestSettings
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

    def __init__(self, settings: IngestSettings, *, sparkplug: SparkplugDecoder | None = None) -> None:
        self._max_bytes = settings.max_payload_bytes
        self._window = TimeWindow(
            max_age=timedelta(days=settings.max_age_days), max_future=timedelta(seconds=settings.max_future_s)
        )
        self.directory = DeviceDirectory(settings.device_cache_s)
        self.sparkplug = sparkplug if sparkplug is not None else SparkplugDecoder()
        self.estimated = EstimatedClock()

    def decode(
        self, conn: psycopg.Connection[Any] | None, topic: str, payload: bytes, received_at: datetime
    ) -> Outcome:
        """Decode one message; raises only ``psycopg`` errors from the directory (the caller retries)."""
        device_id: str | None = None
        try:
            if len(payload) > self._max_bytes:
                raise DecodeError(Reason.OVERSIZED, f"{len(payload)} bytes > {self._max_bytes}")
            if topic.startswith(NAMESPACE + "/"):
                device_id = _edge_node_of(topic)
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
            return Outcome(
                quarantined=QuarantineItem(topic, device_id, exc.reason.value, exc.detail, payload, received_at)
            )
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
        result = self.sparkplug.decode(topic, payload, received_at=received_at, window=self._window)
        records: list[Record] = [*result.records, *result.events]
        return Outcome(self.estimated.place(records), seq_gaps=result.seq_gaps)


def _edge_node_of(topic: str) -> str | None:
    """The platform id of a Sparkplug topic's edge node, for the quarantine row; None when there is none."""
    parts = topic.split("/")
    if len(parts) < 4:
        return None
    try:
        return platform_device_id(parts[3])
    except DecodeError:
        return None
