"""Real-world and hostile payloads from ``corpus/``: each good file decodes to the readings its manifest lists,
each bad one is refused with the manifest's reason."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from ingest.decoders import DecodeError, TimeWindow, decode_message
from kipsense.records import DeviceKind

CORPUS = Path(__file__).parent / "corpus"
MANIFEST: dict[str, Any] = json.loads((CORPUS / "manifest.json").read_text())
_FORMAT_OF_PREFIX = {"native": "json", "senml": "senml", "airrohr": "airrohr"}
_DEVICE_OF_PREFIX = {"native": "dust-07", "senml": "dust-07", "airrohr": "esp8266-15464521"}


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize("name", sorted(MANIFEST["good"]))
def test_good_payload_decodes_to_the_listed_readings(name: str) -> None:
    case = MANIFEST["good"][name]
    received_at = _time(case.get("received_at", MANIFEST["received_at"]))
    records = decode_message(
        case["format"],
        (CORPUS / "good" / name).read_bytes(),
        topic_device=case["device"],
        kind=DeviceKind(case["kind"]),
        received_at=received_at,
        window=TimeWindow(),
    )
    assert len(records) == len(case["readings"])
    for record, expected in zip(records, case["readings"], strict=True):
        assert record.device_id == case["device"]
        for attr, value in expected.items():
            got = getattr(record, attr)
            if attr == "time":
                assert got == _time(value)
            elif isinstance(value, float):
                assert got == pytest.approx(value, rel=1e-9), attr
            else:
                assert got == value, attr


@pytest.mark.parametrize("name", sorted(MANIFEST["bad"]))
def test_bad_payload_is_refused_with_its_reason(name: str) -> None:
    prefix = name.split("_", 1)[0]
    with pytest.raises(DecodeError) as caught:
        decode_message(
            _FORMAT_OF_PREFIX[prefix],
            (CORPUS / "bad" / name).read_bytes(),
            topic_device=_DEVICE_OF_PREFIX[prefix],
            kind=DeviceKind.DUST,
            received_at=_time(MANIFEST["received_at"]),
            window=TimeWindow(),
        )
    assert caught.value.reason == MANIFEST["bad"][name]


def test_every_corpus_file_is_in_the_manifest() -> None:
    on_disk = {f"{p.parent.name}/{p.name}" for p in CORPUS.glob("*/*")}
    listed = {f"good/{n}" for n in MANIFEST["good"]} | {f"bad/{n}" for n in MANIFEST["bad"]}
    assert on_disk == listed
