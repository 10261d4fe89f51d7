"""``parse_topic`` and ``decode_message``: the entry points the ingest worker calls."""

from __future__ import annotations

from datetime import datetime

import pytest

from ingest.decoders import FORMATS, DecodeError, Reason, TimeWindow, decode_message, parse_topic
from kipsense.records import DeviceKind, DustReading


@pytest.mark.parametrize("fmt", ["json", "senml", "airrohr"])
def test_each_documented_format_has_a_decoder(fmt: str) -> None:
    assert fmt in FORMATS
    assert parse_topic(f"sensors/dust-07/{fmt}") == ("dust-07", fmt)


@pytest.mark.parametrize(
    "topic",
    ["sensors/dust-07", "sensors/dust-07/json/extra", "sensor/dust-07/json", "sensors/Dust-07/json", "sensors//json",
     "sensors/+/json", "spBv1.0/g/NDATA/e"],
)  # fmt: skip
def test_other_topics_are_bad(topic: str) -> None:
    with pytest.raises(DecodeError) as caught:
        parse_topic(topic)
    assert caught.value.reason is Reason.BAD_TOPIC


def test_unknown_format_is_refused(received_at: datetime, window: TimeWindow) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_message(
            "csv", b"1,2", topic_device="dust-07", kind=DeviceKind.DUST, received_at=received_at, window=window
        )
    assert caught.value.reason is Reason.UNKNOWN_FORMAT


def test_dispatch_reaches_the_format_decoder(received_at: datetime, window: TimeWindow) -> None:
    payload = b'{"pm25": 7.9}'
    records = decode_message(
        "json", payload, topic_device="dust-07", kind=DeviceKind.DUST, received_at=received_at, window=window
    )
    assert records == [DustReading("dust-07", received_at, pm25=7.9, time_estimated=True)]
    senml = decode_message(
        "senml", b'[{"n": "pm25", "v": 7.9}]', topic_device="dust-07", kind=DeviceKind.DUST,
        received_at=received_at, window=window,
    )  # fmt: skip
    assert senml == records


def test_decode_error_carries_reason_and_detail() -> None:
    error = DecodeError(Reason.NOT_JSON, "line 1")
    assert (error.reason, error.detail, str(error)) == (Reason.NOT_JSON, "line 1", "not_json: line 1")
    assert isinstance(error, ValueError)
