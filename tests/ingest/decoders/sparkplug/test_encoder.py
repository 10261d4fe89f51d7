"""The encoder writes what the specification says and round-trips through the schema."""

from __future__ import annotations

import pytest

from ingest.decoders.sparkplug import DataType, Metric, encode_payload, topic
from ingest.decoders.sparkplug.schema import payload_class


def test_topic_layout() -> None:
    assert topic("g", "NBIRTH", "e") == "spBv1.0/g/NBIRTH/e"
    assert topic("g", "DDATA", "e", "d") == "spBv1.0/g/DDATA/e/d"
    with pytest.raises(ValueError, match="unknown Sparkplug message type"):
        topic("g", "BIRTH", "e")


@pytest.mark.parametrize(
    ("datatype", "value", "field", "wire"),
    [
        (DataType.INT8, -1, "int_value", 0xFFFF_FFFF),
        (DataType.INT32, -2, "int_value", 0xFFFF_FFFE),
        (DataType.UINT16, 65535, "int_value", 65535),
        (DataType.INT64, -1, "long_value", 0xFFFF_FFFF_FFFF_FFFF),
        (DataType.DOUBLE, 2.5, "double_value", 2.5),
        (DataType.FLOAT, 0.5, "float_value", 0.5),
        (DataType.BOOLEAN, True, "boolean_value", True),
        (DataType.STRING, "auto", "string_value", "auto"),
    ],
)
def test_values_go_in_the_field_of_their_type(datatype: DataType, value: object, field: str, wire: object) -> None:
    raw = encode_payload([Metric("m", value, datatype, alias=9)], timestamp_ms=5, seq=300)  # type: ignore[arg-type]
    parsed = payload_class().FromString(raw)
    metric = parsed.metrics[0]
    assert (parsed.timestamp, parsed.seq) == (5, 300 % 256)
    assert (metric.name, metric.alias, metric.datatype) == ("m", 9, datatype)
    assert metric.WhichOneof("value") == field
    assert getattr(metric, field) == wire


def test_alias_only_metrics_carry_no_name_or_datatype_and_null_is_explicit() -> None:
    parsed = payload_class().FromString(encode_payload([Metric(None, None, DataType.DOUBLE, alias=3)]))
    metric = parsed.metrics[0]
    assert not metric.HasField("name") and not metric.HasField("datatype")
    assert metric.is_null and metric.WhichOneof("value") is None
    assert not parsed.HasField("seq") and not parsed.HasField("timestamp")


def test_unsupported_types_are_refused() -> None:
    with pytest.raises(ValueError, match="DATASET"):
        encode_payload([Metric("m", 1, DataType.DATASET)])
