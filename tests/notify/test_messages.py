"""The message catalogue is complete in all three languages, and a message says what the recipient needs."""

from __future__ import annotations

import string
from datetime import UTC, datetime

import pytest

from kipsense.notify_text import CATALOGUE, LANGUAGES
from notify.messages import render
from store.notifications import AlertView


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("key", sorted(CATALOGUE))
def test_every_string_has_every_language_with_the_same_placeholders(key: str) -> None:
    texts = CATALOGUE[key]
    assert set(texts) == set(LANGUAGES), f"{key} lacks {set(LANGUAGES) - set(texts)}"
    assert all(texts[lang].strip() for lang in LANGUAGES)
    assert len({frozenset(_fields(texts[lang])) for lang in LANGUAGES}) == 1, f"{key}: placeholders differ"


def _view(i: int, **extra: object) -> AlertView:
    values: dict[str, object] = {
        "alert_id": 100 + i,
        "device_id": f"dust-{i:02d}",
        "device_name": f"Fence {i}",
        "site_id": "park",
        "site_name": "Industrial park",
        "type": "pm10_limit",
        "severity": "major",
        "status": "active",
        "value": 72.25 + i,
        "threshold": 50.0,
        "first_time": datetime(2025, 3, 1, 22, 5, tzinfo=UTC),
        "incident_id": 7,
        "likely_source": "crusher",
        "wind_dir": 225.4,
        "wind_speed": 4.25,
        **extra,
    }
    return AlertView(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "fi",
            [
                "Todennäköinen lähde: crusher",
                "Tuuli: 225° suunnasta, 4,2 m/s",
                "72,2 (raja 50,0)",
                "klo 2025-03-02 00:05",
            ],
        ),
        ("sv", ["Trolig källa: crusher", "Vind: från 225° med 4,2 m/s", "72,2 (gräns 50,0)", "sedan 2025-03-02 00:05"]),
        ("en", ["Likely source: crusher", "Wind: from 225° at 4.2 m/s", "72.2 (limit 50.0)", "since 2025-03-02 00:05"]),
    ],
)
def test_a_message_names_site_sensor_value_limit_source_wind_and_links(language: str, expected: list[str]) -> None:
    out = render(
        [_view(i) for i in range(12)],
        language=language,
        reason="alert",
        page_url="https://kip.example/#alert-100",
        ack_url="https://kip.example/notify/ack/t",
        ack_until=datetime(2025, 3, 4, 22, 5, tzinfo=UTC),
    )
    assert "Industrial park" in out.subject and "12" in out.subject
    for text in [*expected, "Fence 0", "https://kip.example/#alert-100", "https://kip.example/notify/ack/t"]:
        assert text in out.body, text
    assert "Fence 10" not in out.body and "2" in out.body.splitlines()[10]  # ten lines, then "... and 2 more"
