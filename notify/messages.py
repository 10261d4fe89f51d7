"""The rendering of one message in the recipient's language (texts in ``kipsense.notify_text``).

Times are shown in the park's time zone (Europe/Helsinki); numbers with the recipient's decimal separator.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from kipsense.notify_text import LANGUAGES, t
from store.notifications import AlertView

TZ = ZoneInfo("Europe/Helsinki")


def number(value: float | None, language: str) -> str:
    if value is None:
        return t("value.none", language)
    text = f"{value:.1f}"
    return text.replace(".", ",") if language in ("fi", "sv") else text


def local_time(at: datetime) -> str:
    return at.astimezone(TZ).strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    body: str


def render(
    alerts: list[AlertView],
    *,
    language: str,
    reason: str,
    page_url: str,
    ack_url: str | None,
    ack_until: datetime | None,
    max_lines: int = 10,
) -> Rendered:
    """The subject and text of one message about a group of alerts (one incident, one site and type)."""
    if language not in LANGUAGES:
        language = "en"
    first = max(alerts, key=lambda a: ("info", "warning", "major", "critical").index(a.severity))
    head = {
        "severity": t(f"severity.{first.severity}", language),
        "type": first.type,
        "site": first.site_name or first.site_id,
        "n": len(alerts),
    }
    subject = t("subject.incident" if len(alerts) > 1 else "subject.alert", language, **head)
    if reason in ("repeat", "escalation"):
        subject = t(f"subject.{reason}", language) + subject
    lines = [
        t(
            "line.sensor",
            language,
            device=a.device_name or a.device_id,
            site=a.site_name or a.site_id,
            value=number(a.value, language),
            limit=number(a.threshold, language),
            time=local_time(a.first_time),
        )
        for a in alerts[:max_lines]
    ]
    if len(alerts) > max_lines:
        lines.append(t("line.more", language, n=len(alerts) - max_lines))
    with_source = next((a for a in alerts if a.likely_source or a.wind_dir is not None), None)
    if with_source is not None:
        if with_source.likely_source:
            lines.append(t("line.source", language, source=with_source.likely_source))
        if with_source.wind_dir is not None and with_source.wind_speed is not None:
            lines.append(
                t(
                    "line.wind",
                    language,
                    dir=round(with_source.wind_dir),
                    speed=number(with_source.wind_speed, language),
                )
            )
    lines.append("")
    lines.append(t("line.page", language, url=page_url))
    if ack_url is not None and ack_until is not None:
        lines.append(t("line.ack", language, until=local_time(ack_until), url=ack_url))
    return Rendered(subject=subject, body="\n".join(lines) + "\n")
