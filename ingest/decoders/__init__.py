"""Decoders turn one MQTT message into typed records, or raise ``DecodeError`` with a reason.

``decode_message`` dispatches on the topic: ``sensors/{device_id}/{format}`` with ``format`` one of the keys of
``FORMATS``. Every decoder has the same keyword-only signature (see ``Decoder``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from ingest.decoders import native_json
from ingest.decoders.common import TimeWindow
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


__all__ = ["FORMATS", "DecodeError", "Decoder", "Reason", "TimeWindow", "decode_message", "parse_topic"]
