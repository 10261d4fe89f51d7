"""The Sparkplug B payload schema, built at run time from a descriptor (no generated code, no protoc).

Field numbers follow the Sparkplug B specification (Eclipse Sparkplug 3.0, ``Payload`` / ``Payload.Metric``).
Only what the platform reads or writes is declared: a metric's ``metadata``, ``properties``, ``dataset_value``,
``template_value`` and ``extension_value`` (fields 8, 9, 17-19) are left undeclared, so the parser keeps them
as unknown fields and a metric carrying one of them has no readable value.
"""

from __future__ import annotations

from enum import IntEnum
from functools import cache
from typing import Any

# No stubs for protobuf are installed; the runtime classes are used as Any.
from google.protobuf import (  # type: ignore[import-untyped,unused-ignore]
    descriptor_pb2,
    descriptor_pool,
    message_factory,
)

_F = descriptor_pb2.FieldDescriptorProto


class DataType(IntEnum):
    """Sparkplug B metric data types (specification §6.4.16)."""

    UNKNOWN = 0
    INT8 = 1
    INT16 = 2
    INT32 = 3
    INT64 = 4
    UINT8 = 5
    UINT16 = 6
    UINT32 = 7
    UINT64 = 8
    FLOAT = 9
    DOUBLE = 10
    BOOLEAN = 11
    STRING = 12
    DATETIME = 13
    TEXT = 14
    UUID = 15
    DATASET = 16
    BYTES = 17
    FILE = 18
    TEMPLATE = 19


_METRIC_FIELDS: tuple[tuple[str, int, int], ...] = (
    ("name", 1, _F.TYPE_STRING),
    ("alias", 2, _F.TYPE_UINT64),
    ("timestamp", 3, _F.TYPE_UINT64),
    ("datatype", 4, _F.TYPE_UINT32),
    ("is_historical", 5, _F.TYPE_BOOL),
    ("is_transient", 6, _F.TYPE_BOOL),
    ("is_null", 7, _F.TYPE_BOOL),
)
#: The metric's ``oneof value`` members the platform reads.
_VALUE_FIELDS: tuple[tuple[str, int, int], ...] = (
    ("int_value", 10, _F.TYPE_UINT32),
    ("long_value", 11, _F.TYPE_UINT64),
    ("float_value", 12, _F.TYPE_FLOAT),
    ("double_value", 13, _F.TYPE_DOUBLE),
    ("boolean_value", 14, _F.TYPE_BOOL),
    ("string_value", 15, _F.TYPE_STRING),
    ("bytes_value", 16, _F.TYPE_BYTES),
)
_PAYLOAD_FIELDS: tuple[tuple[str, int, int], ...] = (
    ("timestamp", 1, _F.TYPE_UINT64),
    ("seq", 3, _F.TYPE_UINT64),
    ("uuid", 4, _F.TYPE_STRING),
    ("body", 5, _F.TYPE_BYTES),
)
_PACKAGE = "kipsense.sparkplug_b"


def _add(message: Any, name: str, number: int, ftype: int) -> Any:
    return message.field.add(name=name, number=number, type=ftype, label=_F.LABEL_OPTIONAL)


def _file() -> Any:
    proto = descriptor_pb2.FileDescriptorProto(name="kipsense/sparkplug_b.proto", package=_PACKAGE, syntax="proto2")
    payload = proto.message_type.add(name="Payload")
    metric = payload.nested_type.add(name="Metric")
    for name, number, ftype in _METRIC_FIELDS:
        _add(metric, name, number, ftype)
    metric.oneof_decl.add(name="value")
    for name, number, ftype in _VALUE_FIELDS:
        _add(metric, name, number, ftype).oneof_index = 0
    for name, number, ftype in _PAYLOAD_FIELDS:
        _add(payload, name, number, ftype)
    payload.field.add(
        name="metrics", number=2, type=_F.TYPE_MESSAGE, label=_F.LABEL_REPEATED, type_name=f".{_PACKAGE}.Payload.Metric"
    )
    payload.extension_range.add(start=6, end=536_870_912)
    return proto


@cache
def payload_class() -> Any:
    """The ``Payload`` message class (built once per process, in a pool of its own)."""
    pool = descriptor_pool.DescriptorPool()
    pool.Add(_file())
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.Payload"))
