"""Decoders turn one MQTT message into typed records, or raise ``DecodeError`` with a reason.

``decode_message`` dispatches on the topic: ``sensors/{device_id}/{format}`` with ``format`` one of the keys of
``FORMATS`` (``json``, ``senml``, ``airrohr``). Every decoder has the same keyword-only signature (see
``Decoder``) and is stateless. Sparkplug B (``spBv1.0/...`` topics) is stateful and has its own entry point,
``ingest.decoders.sparkplug.SparkplugDecoder``.

Decoders refuse what they cannot store faithfully (``Reason`` says why, for the quarantine table); whether
the device is known, retired or of the claimed kind is decided by the worker, which passes ``kind`` in.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from ingest.decoders import airrohr, native_json, senml
from ingest.decoders.common import MAX_PAYLOAD_BYTES, TimeWindow
from ingest.decoders.errors import DecodeError, Reason
from kipsense.records import DeviceKind, Record, is_valid_device_id


class Decoder(Protocol):
    def __call__(
        self,
        payload: bytes,
        *,
        topic_device: str,
        kind: DeviceKind,
        received_at: datetime,
        window: TimeWindow,
    ) -> list[Record]: ...


FORMATS: dict[str, Decoder] = {
    "json": native_json.decode,
    "senml": senml.decode,
    "airrohr": airrohr.decode,
}


def parse_topic(topic: str) -> tuple[str, str]:
    """``sensors/{device_id}/{format}`` -> (device_id, format); anything else is a ``BAD_TOPIC`` error."""
    parts = topic.split("/")
    if len(parts) != 3 or parts[0] != "sensors" or not is_valid_device_id(parts[1]):
        raise DecodeError(Reason.BAD_TOPIC, f"topic {topic[:120]!r} is not sensors/<device>/<format>")
    return parts[1], parts[2]


def decode_message(
    fmt: str,
    payload: bytes,
    *,
    topic_device: str,
    kind: DeviceKind,
    received_at: datetime,
    window: TimeWindow,
) -> list[Record]:
    """Decode a payload published on ``sensors/<topic_device>/<fmt>`` by a device of ``kind``."""
    decoder = FORMATS.get(fmt)
    if decoder is None:
        raise DecodeError(Reason.UNKNOWN_FORMAT, f"format {fmt[:32]!r} is not one of {sorted(FORMATS)}")
    return decoder(payload, topic_device=topic_device, kind=kind, received_at=received_at, window=window)


__all__ = [
    "FORMATS",
    "MAX_PAYLOAD_BYTES",
    "DecodeError",
    "Decoder",
    "Reason",
    "TimeWindow",
    "decode_message",
    "parse_topic",
]
