"""Sparkplug B for process lines: a stateful decoder and the encoder simulators and tests publish with."""

from ingest.decoders.sparkplug.decoder import (
    OFFLINE,
    ONLINE,
    SEQ_GAP,
    NodeState,
    SparkplugDecoder,
    SparkplugResult,
    SparkplugState,
    SparkplugTopic,
    parse_sparkplug_topic,
    platform_device_id,
)
from ingest.decoders.sparkplug.encoder import NAMESPACE, REBIRTH_METRIC, Metric, encode_payload, topic
from ingest.decoders.sparkplug.schema import DataType

__all__ = [
    "NAMESPACE",
    "OFFLINE",
    "ONLINE",
    "REBIRTH_METRIC",
    "SEQ_GAP",
    "DataType",
    "Metric",
    "NodeState",
    "SparkplugDecoder",
    "SparkplugResult",
    "SparkplugState",
    "SparkplugTopic",
    "encode_payload",
    "parse_sparkplug_topic",
    "platform_device_id",
    "topic",
]
