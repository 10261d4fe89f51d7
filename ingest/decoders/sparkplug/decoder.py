"""Stateful Sparkplug B decoding for process lines: births, deaths, aliases, sequence numbers.

Topics are ``spBv1.0/{group}/{NBIRTH|NDATA|NDEATH|DBIRTH|DDATA|DDEATH}/{edge}[/{device}]``. Commands (NCMD,
DCMD) and host STATE messages carry no measurements and decode to an empty result.

Platform device ids: the edge node's metrics belong to ``<edge>`` and a device's metrics to
``<edge>-<device>``, each part lowercased with every run of characters outside ``[a-z0-9_-]`` replaced by
``-`` (``Line1/PLC 3`` -> ``line1-plc-3``); an id longer than 63 characters keeps 54 and gets 8 hex digits
of a hash. The group id is not part of the device id, so edge node ids must be unique across groups; names
differing only in case or punctuation collide. Every numeric or boolean metric becomes a
``ProcessValue(tag=<metric name>)``; ``bdSeq``, ``Node Control/*``, ``Device Control/*``, ``Properties/*``,
transient, null, string and byte metrics are not stored.

State (``SparkplugState``) is explicit: per edge node the alias tables of the node and its devices (set by
NBIRTH/DBIRTH), the last ``seq`` and ``bdSeq``. A DATA metric sent by alias before any BIRTH was seen cannot
be named: the whole message is refused with ``UNKNOWN_ALIAS`` (the caller may then ask the node to rebirth).
A ``seq`` that is not the previous one plus one (mod 256) counts the missing messages in ``seq_gaps`` and
adds a ``seq_gap`` event; a repeated ``seq`` (a redelivery) counts nothing. Because the state lives in one
process, all Sparkplug topics of one edge node must reach the same decoder (no shared subscription).
A message is decoded completely before the state changes, so a refused message leaves the state as it was.
"""

from __future__ import annotations

import hashlib
import math
import re
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from google.protobuf.message import (  # type: ignore[import-untyped,unused-ignore]
    DecodeError as ProtobufDecodeError,
)

from ingest.decoders.common import MAX_PAYLOAD_BYTES, TimeWindow, check_bounds
from ingest.decoders.errors import DecodeError, Reason
from ingest.decoders.sparkplug.encoder import MESSAGE_TYPES, NAMESPACE
from ingest.decoders.sparkplug.schema import DataType, payload_class
from kipsense.records import DeviceEvent, ProcessValue, is_valid_device_id

ONLINE: Final = "online"
OFFLINE: Final = "offline"
SEQ_GAP: Final = "seq_gap"
MAX_METRICS: Final = 10_000
_SKIPPED_PREFIXES: Final = ("Node Control/", "Device Control/", "Properties/")
_SIGNED_BITS: Final = {DataType.INT8: 8, DataType.INT16: 16, DataType.INT32: 32, DataType.INT64: 64}
_UNSAFE: Final = re.compile(r"[^a-z0-9_-]+")
_MAX_MS: Final = 1e14

#: alias -> (metric name, datatype)
AliasTable = dict[int, tuple[str, int]]


@dataclass(frozen=True, slots=True)
class SparkplugTopic:
    """The parts of a Sparkplug B topic."""

    group: str
    message_type: str
    edge_node: str
    device: str | None = None


@dataclass(slots=True)
class NodeState:
    """What the decoder remembers about one edge node between messages."""

    aliases: AliasTable = field(default_factory=dict)
    device_aliases: dict[str, AliasTable] = field(default_factory=dict)
    last_seq: int | None = None
    bd_seq: int | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-able copy, for the store (a restarted decoder goes on where this one stopped)."""
        return {
            "aliases": _table_to_json(self.aliases),
            "devices": {device: _table_to_json(table) for device, table in self.device_aliases.items()},
            "seq": self.last_seq,
            "bd_seq": self.bd_seq,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> NodeState:
        """Inverse of ``to_json``."""
        return cls(
            aliases=_table_from_json(doc.get("aliases", [])),
            device_aliases={str(d): _table_from_json(t) for d, t in doc.get("devices", {}).items()},
            last_seq=None if doc.get("seq") is None else int(doc["seq"]),
            bd_seq=None if doc.get("bd_seq") is None else int(doc["bd_seq"]),
        )


def _table_to_json(table: AliasTable) -> list[list[Any]]:
    return [[alias, name, datatype] for alias, (name, datatype) in sorted(table.items())]


def _table_from_json(rows: list[list[Any]]) -> AliasTable:
    return {int(alias): (str(name), int(datatype)) for alias, name, datatype in rows}


@dataclass(slots=True)
class SparkplugState:
    """Per edge node (key ``group/edge``) state; plain data, so it can be inspected or persisted."""

    nodes: dict[str, NodeState] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SparkplugResult:
    """Tag values, device events (online/offline/seq_gap) and the number of messages missing before this one."""

    records: list[ProcessValue]
    events: list[DeviceEvent]
    seq_gaps: int = 0


def parse_sparkplug_topic(topic: str) -> SparkplugTopic | None:
    """Parts of a Sparkplug topic; ``None`` for a host STATE topic; ``BAD_TOPIC`` for anything else."""
    parts = topic.split("/")
    if len(parts) >= 2 and parts[0] == NAMESPACE and parts[1] == "STATE":
        return None
    if len(parts) not in (4, 5) or parts[0] != NAMESPACE or parts[2] not in MESSAGE_TYPES or not all(parts[1:]):
        raise DecodeError(Reason.BAD_TOPIC, f"topic {topic[:120]!r} is not spBv1.0/<group>/<type>/<edge>[/<device>]")
    device = parts[4] if len(parts) == 5 else None
    if (device is None) == parts[2].startswith("D"):
        raise DecodeError(Reason.BAD_TOPIC, f"{parts[2]} {'needs' if device is None else 'takes no'} device id")
    return SparkplugTopic(parts[1], parts[2], parts[3], device)


def _safe(part: str) -> str:
    return _UNSAFE.sub("-", part.lower()).strip("-_")


def platform_device_id(edge_node: str, device: str | None = None) -> str:
    """The platform device id of an edge node (``<edge>``) or of one of its devices (``<edge>-<device>``)."""
    safe = _safe(edge_node) if device is None else f"{_safe(edge_node)}-{_safe(device)}".strip("-_")
    if len(safe) > 63:
        digest = hashlib.sha256(safe.encode()).hexdigest()[:8]
        safe = f"{safe[:54].rstrip('-_')}-{digest}"
    if not is_valid_device_id(safe):
        raise DecodeError(Reason.BAD_TOPIC, f"no device id can be made from {edge_node[:40]!r}/{str(device)[:40]!r}")
    return safe


def _from_ms(ms: int, what: str) -> datetime:
    if not 0 <= ms < _MAX_MS:
        raise DecodeError(Reason.BAD_TIMESTAMP, f"{what} {ms} is not epoch milliseconds")
    return datetime.fromtimestamp(ms / 1e3, tz=UTC)


def _value(metric: Any, datatype: int) -> float | None:
    """A metric's numeric value, or None when it has none the platform stores."""
    which = metric.WhichOneof("value")
    if metric.is_null or which is None:
        return None
    if which == "int_value" or which == "long_value":
        if datatype == DataType.DATETIME:
            return None
        raw = int(getattr(metric, which))
        bits = _SIGNED_BITS.get(datatype)  # type: ignore[call-overload]
        if bits is not None:
            raw &= (1 << bits) - 1
            if raw >= 1 << (bits - 1):
                raw -= 1 << bits
        return float(raw)
    if which == "float_value" or which == "double_value":
        number = float(getattr(metric, which))
        if not math.isfinite(number):
            raise DecodeError(Reason.NON_FINITE, f"metric {metric.name!r} is {number}")
        return _shortest_float32(number) if which == "float_value" else number
    if which == "boolean_value":
        return float(metric.boolean_value)
    return None


def _shortest_float32(number: float) -> float:
    """The shortest decimal that is the same float32 (a PLC's 11.2f is 11.2, not 11.199999809265137)."""
    packed = struct.pack("<f", number)
    for digits in range(6, 10):
        candidate = float(f"{number:.{digits}g}")
        try:
            if struct.pack("<f", candidate) == packed:
                return candidate
        except OverflowError:  # rounding up past the largest float32
            break
    return number


def _name(metric: Any) -> str | None:
    if not metric.HasField("name"):
        return None
    name = metric.name
    if not isinstance(name, str):  # proto2 hands back bytes for invalid UTF-8
        raise DecodeError(Reason.NOT_UTF8, "metric name is not UTF-8")
    return name


class SparkplugDecoder:
    """Decodes Sparkplug B messages, keeping alias tables and sequence numbers in ``state``.

    One instance per consumer of the ``spBv1.0/#`` topics::

        decoder = SparkplugDecoder()
        result = decoder.decode(msg.topic, msg.payload, received_at=now, window=TimeWindow())
        # result.records -> store, result.events -> device log, result.seq_gaps -> metrics
    """

    def __init__(self, state: SparkplugState | None = None) -> None:
        self.state = state if state is not None else SparkplugState()

    def decode(self, topic: str, payload: bytes, *, received_at: datetime, window: TimeWindow) -> SparkplugResult:
        """Decode one message; raise ``DecodeError`` (state unchanged) for one that cannot be stored."""
        parts = parse_sparkplug_topic(topic)
        if parts is None or parts.message_type in ("NCMD", "DCMD"):
            return SparkplugResult([], [])
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise DecodeError(Reason.OVERSIZED, f"{len(payload)} bytes, more than {MAX_PAYLOAD_BYTES}")
        try:
            message = payload_class().FromString(payload)
        except ProtobufDecodeError as exc:
            raise DecodeError(Reason.BAD_PROTOBUF, str(exc)[:200]) from None
        if len(message.metrics) > MAX_METRICS:
            raise DecodeError(Reason.OVERSIZED, f"more than {MAX_METRICS} metrics")
        return _Message(self.state, parts, message, received_at, window).apply()


class _Message:
    """One message being decoded: everything is checked first, then the state is updated in ``apply``."""

    def __init__(
        self, state: SparkplugState, parts: SparkplugTopic, message: Any, received_at: datetime, window: TimeWindow
    ) -> None:
        self.state = state
        self.parts = parts
        self.message = message
        self.received_at = received_at
        self.oldest, self.latest = window.bounds(received_at)
        self.node_key = f"{parts.group}/{parts.edge_node}"
        self.node_id = platform_device_id(parts.edge_node)
        self.device_id = platform_device_id(parts.edge_node, parts.device) if parts.device is not None else None
        self.node = state.nodes.get(self.node_key)

    def _time(self, ms: int | None) -> tuple[datetime, bool]:
        if ms is None:
            return self.received_at, True
        return check_bounds(_from_ms(ms, "timestamp"), self.oldest, self.latest), False

    def _message_time(self) -> tuple[datetime, bool]:
        return self._time(self.message.timestamp if self.message.HasField("timestamp") else None)

    def _seq(self) -> int | None:
        if not self.message.HasField("seq"):
            return None
        seq = int(self.message.seq)
        if seq > 255:
            raise DecodeError(Reason.OUT_OF_RANGE, f"seq {seq} is not 0-255")
        return seq

    def _birth_table(self) -> AliasTable:
        table: AliasTable = {}
        for metric in self.message.metrics:
            name = _name(metric)
            if name is None:
                raise DecodeError(Reason.MISSING_FIELD, "a BIRTH metric must have a name")
            if metric.HasField("alias"):
                if metric.alias in table:
                    raise DecodeError(Reason.DUPLICATE_KEY, f"alias {metric.alias} used twice in BIRTH")
                table[int(metric.alias)] = (name, int(metric.datatype))
        return table

    def _records(self, table: AliasTable, device_id: str) -> list[ProcessValue]:
        out: list[ProcessValue] = []
        for metric in self.message.metrics:
            name = _name(metric)
            datatype = int(metric.datatype) if metric.HasField("datatype") else DataType.UNKNOWN
            if metric.HasField("alias"):
                known = table.get(int(metric.alias))
                if known is None and name is None:
                    raise DecodeError(Reason.UNKNOWN_ALIAS, f"alias {metric.alias} was not declared in a BIRTH")
                if known is not None:
                    name = name or known[0]
                    datatype = datatype or known[1]
            if name is None:
                raise DecodeError(Reason.MISSING_FIELD, "metric has neither name nor alias")
            if name == "bdSeq" or name.startswith(_SKIPPED_PREFIXES) or metric.is_transient:
                continue
            value = _value(metric, datatype)
            if value is None:
                continue
            if not 0 < len(name) <= 128:
                raise DecodeError(Reason.OUT_OF_RANGE, "metric name must be 1-128 characters")
            if metric.HasField("timestamp"):
                ts, estimated = self._time(metric.timestamp)
            else:
                ts, estimated = self._message_time()
            out.append(ProcessValue(device_id, ts, name, value, time_estimated=estimated))
        return out

    def _bd_seq(self) -> int | None:
        for metric in self.message.metrics:
            if _name(metric) == "bdSeq" and metric.WhichOneof("value") in ("int_value", "long_value"):
                return int(getattr(metric, metric.WhichOneof("value")))
        return None

    def apply(self) -> SparkplugResult:
        kind = self.parts.message_type
        if kind == "NDEATH":
            # The death certificate is the MQTT will, written when the node connected: its timestamp is stale.
            return self._node_death(self.received_at)
        when, _ = self._message_time()
        seq = self._seq()
        node = self.node if self.node is not None else NodeState()
        events: list[DeviceEvent] = []
        device = self.parts.device
        if kind == "NBIRTH":
            table = self._birth_table()
            records = self._records(table, self.node_id)
            node = NodeState(aliases=table, last_seq=seq, bd_seq=self._bd_seq())
            events.append(DeviceEvent(self.node_id, when, ONLINE, "NBIRTH"))
            self.state.nodes[self.node_key] = node
            return SparkplugResult(records, events)
        gaps = self._gap(node, seq, when, events)
        if kind == "NDATA":
            records = self._records(node.aliases, self.node_id)
        elif kind == "DBIRTH" and device is not None and self.device_id is not None:
            table = self._birth_table()
            records = self._records(table, self.device_id)
            node.device_aliases[device] = table
            events.append(DeviceEvent(self.device_id, when, ONLINE, "DBIRTH"))
        elif kind == "DDATA" and device is not None and self.device_id is not None:
            records = self._records(node.device_aliases.get(device, {}), self.device_id)
        elif kind == "DDEATH" and device is not None and self.device_id is not None:
            records = []
            node.device_aliases.pop(device, None)
            events.append(DeviceEvent(self.device_id, when, OFFLINE, "DDEATH"))
        else:  # pragma: no cover - parse_sparkplug_topic admits no other type
            raise DecodeError(Reason.BAD_TOPIC, f"unexpected message type {kind}")
        if seq is not None:
            node.last_seq = seq if gaps >= 0 else node.last_seq
        self.state.nodes[self.node_key] = node
        return SparkplugResult(records, events, max(gaps, 0))

    def _gap(self, node: NodeState, seq: int | None, when: datetime, events: list[DeviceEvent]) -> int:
        """Messages missing before this one; -1 for a repeat of the last one (a redelivery)."""
        if seq is None or node.last_seq is None:
            return 0
        if seq == node.last_seq:
            return -1
        missing = (seq - node.last_seq - 1) % 256
        if missing:
            detail = f"expected seq {(node.last_seq + 1) % 256}, got {seq}: {missing} missing"
            events.append(DeviceEvent(self.node_id, when, SEQ_GAP, detail))
        return missing

    def _node_death(self, when: datetime) -> SparkplugResult:
        node = self.node
        bd_seq = self._bd_seq()
        if node is not None and node.bd_seq is not None and bd_seq is not None and bd_seq != node.bd_seq:
            return SparkplugResult([], [])  # the will of an older session: this node is still online
        events = [DeviceEvent(self.node_id, when, OFFLINE, "NDEATH")]
        if node is not None:
            events.extend(
                DeviceEvent(platform_device_id(self.parts.edge_node, device), when, OFFLINE, "NDEATH")
                for device in node.device_aliases
            )
        self.state.nodes.pop(self.node_key, None)
        return SparkplugResult([], events)
