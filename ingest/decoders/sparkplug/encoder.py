"""Building Sparkplug B payloads and topics, for simulators and tests that play an edge node.

Example: an edge node ``line1-plc`` births two metrics with aliases, then sends one by alias only::

    birth = encode_payload([Metric("FIC101.PV", 12.5, alias=1), Metric("bdSeq", 0, DataType.UINT64)],
                           timestamp_ms=now_ms, seq=0)
    client.publish(topic("precursor", "NBIRTH", "line1-plc"), birth)
    data = encode_payload([Metric(None, 12.7, alias=1)], timestamp_ms=now_ms + 1000, seq=1)
    client.publish(topic("precursor", "NDATA", "line1-plc"), data)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from ingest.decoders.sparkplug.schema import DataType, payload_class

NAMESPACE: Final = "spBv1.0"
MESSAGE_TYPES: Final = frozenset({"NBIRTH", "NDEATH", "DBIRTH", "DDEATH", "NDATA", "DDATA", "NCMD", "DCMD"})
#: The NCMD metric a host application sets to true to ask an edge node to publish its BIRTH again.
REBIRTH_METRIC: Final = "Node Control/Rebirth"
_INT32_TYPES: Final = {DataType.INT8: 8, DataType.INT16: 16, DataType.INT32: 32}


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric to encode. ``name=None`` sends the alias only (as in DATA messages after a BIRTH).

    ``datatype`` picks the value field; it goes on the wire only with a named metric, since an alias-only
    metric's type is the one its BIRTH declared.
    """

    name: str | None
    value: float | int | bool | str | None
    datatype: DataType = DataType.DOUBLE
    alias: int | None = None
    timestamp_ms: int | None = None


def topic(group: str, message_type: str, edge_node: str, device: str | None = None) -> str:
    """``spBv1.0/{group}/{message_type}/{edge_node}[/{device}]``."""
    if message_type not in MESSAGE_TYPES:
        raise ValueError(f"unknown Sparkplug message type {message_type!r}")
    parts = [NAMESPACE, group, message_type, edge_node, *([device] if device is not None else [])]
    return "/".join(parts)


def encode_payload(metrics: Sequence[Metric], *, timestamp_ms: int | None = None, seq: int | None = None) -> bytes:
    """Serialise a Sparkplug B ``Payload``; signed integers go in two's complement as the specification says."""
    payload = payload_class()()
    if timestamp_ms is not None:
        payload.timestamp = timestamp_ms
    if seq is not None:
        payload.seq = seq % 256
    for spec in metrics:
        metric = payload.metrics.add()
        if spec.name is not None:
            metric.name = spec.name
            metric.datatype = int(spec.datatype)
        if spec.alias is not None:
            metric.alias = spec.alias
        if spec.timestamp_ms is not None:
            metric.timestamp = spec.timestamp_ms
        _set_value(metric, spec)
    return bytes(payload.SerializeToString())


def _set_value(metric: object, spec: Metric) -> None:
    value, dtype = spec.value, spec.datatype
    if value is None:
        metric.is_null = True  # type: ignore[attr-defined]
    elif dtype in _INT32_TYPES or dtype in (DataType.UINT8, DataType.UINT16, DataType.UINT32):
        metric.int_value = int(value) & 0xFFFF_FFFF  # type: ignore[attr-defined]
    elif dtype in (DataType.INT64, DataType.UINT64, DataType.DATETIME):
        metric.long_value = int(value) & 0xFFFF_FFFF_FFFF_FFFF  # type: ignore[attr-defined]
    elif dtype is DataType.FLOAT:
        metric.float_value = float(value)  # type: ignore[attr-defined]
    elif dtype is DataType.DOUBLE:
        metric.double_value = float(value)  # type: ignore[attr-defined]
    elif dtype is DataType.BOOLEAN:
        metric.boolean_value = bool(value)  # type: ignore[attr-defined]
    elif dtype in (DataType.STRING, DataType.TEXT, DataType.UUID):
        metric.string_value = str(value)  # type: ignore[attr-defined]
    else:
        raise ValueError(f"encoding {dtype.name} metrics is not supported")
