"""The runtime-built Sparkplug B schema puts fields on the wire numbers of the specification."""

from __future__ import annotations

from ingest.decoders.sparkplug.schema import DataType, payload_class


def test_payload_fields_use_the_specified_wire_numbers() -> None:
    payload = payload_class()(timestamp=1, seq=2, uuid="u")
    payload.metrics.add(name="a", alias=3, datatype=int(DataType.DOUBLE), double_value=1.0)
    # tag byte = field number << 3 | wire type
    wire = payload.SerializeToString()
    assert wire.startswith(bytes([1 << 3 | 0, 1]))  # timestamp = 1, varint
    assert bytes([2 << 3 | 2]) in wire  # metrics = 2, length-delimited
    assert bytes([3 << 3 | 0, 2]) in wire  # seq = 3
    assert bytes([4 << 3 | 2, 1]) + b"u" in wire  # uuid = 4
    metric = payload.metrics[0].SerializeToString()
    assert metric.startswith(bytes([1 << 3 | 2, 1]) + b"a" + bytes([2 << 3 | 0, 3, 4 << 3 | 0, 10]))
    assert bytes([13 << 3 | 1]) in metric  # double_value = 13, 64-bit


def test_undeclared_members_are_kept_as_unknown_fields() -> None:
    cls = payload_class()
    # a metric with a name and an empty dataset_value: field 17, wire type 2, tag 138 as a two-byte varint
    metric = bytes([1 << 3 | 2, 1]) + b"d" + bytes([(17 << 3 | 2) & 0x7F | 0x80, (17 << 3 | 2) >> 7, 0])
    raw = bytes([2 << 3 | 2, len(metric)]) + metric
    parsed = cls.FromString(raw)
    assert parsed.metrics[0].name == "d"
    assert parsed.metrics[0].WhichOneof("value") is None
    assert parsed.SerializeToString() == raw


def test_the_class_is_built_once() -> None:
    assert payload_class() is payload_class()
