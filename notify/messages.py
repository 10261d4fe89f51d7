"""Message texts in Finnish, Swedish and English, and the rendering of one message.

A small catalogue module rather than gettext ``.po`` files: about twenty short strings, kept next to the
code that formats them, and a test fails when any string lacks one of the three languages. Times are shown
in the park's time zone (Europe/Helsinki); numbers with the recipient's decimal separator.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from store.notifications import LANGUAGES, AlertView

TZ = ZoneInfo("Europe/Helsinki")

CATALOGUE: dict[str, dict[str, str]] = {
    "subject.alert": {
        "en": "[{severity}] {type} at {site}",
        "fi": "[{severity}] {type}: {site}",
        "sv": "[{severity}] {type} vid {site}",
    },
    "subject.incident": {
        "en": "[{severity}] {type} at {site}: {n} sensors",
        "fi": "[{severity}] {type}: {site}, {n} anturia",
        "sv": "[{severity}] {type} vid {site}: {n} sensorer",
    },
    "subject.repeat": {"en": "Still unacknowledged: ", "fi": "Yhä kuittaamatta: ", "sv": "Fortfarande okvitterat: "},
    "subject.escalation": {"en": "Escalated: ", "fi": "Eskaloitu: ", "sv": "Eskalerat: "},
    "line.sensor": {
        "en": "{device} ({site}): {value} (limit {limit}) since {time}",
        "fi": "{device} ({site}): {value} (raja {limit}) klo {time} alkaen",
        "sv": "{device} ({site}): {value} (gräns {limit}) sedan {time}",
    },
    "line.source": {
        "en": "Likely source: {source}",
        "fi": "Todennäköinen lähde: {source}",
        "sv": "Trolig källa: {source}",
    },
    "line.wind": {
        "en": "Wind: from {dir}° at {speed} m/s",
        "fi": "Tuuli: {dir}° suunnasta, {speed} m/s",
        "sv": "Vind: från {dir}° med {speed} m/s",
    },
    "line.more": {"en": "… and {n} more sensors", "fi": "… ja {n} muuta anturia", "sv": "… och {n} sensorer till"},
    "line.page": {"en": "Operator page: {url}", "fi": "Valvontasivu: {url}", "sv": "Operatörssida: {url}"},
    "line.ack": {
        "en": "Acknowledge (valid until {until}): {url}",
        "fi": "Kuittaa (voimassa {until} asti): {url}",
        "sv": "Kvittera (giltig till {until}): {url}",
    },
    "severity.info": {"en": "info", "fi": "tiedote", "sv": "info"},
    "severity.warning": {"en": "warning", "fi": "varoitus", "sv": "varning"},
    "severity.major": {"en": "major", "fi": "vakava", "sv": "allvarlig"},
    "severity.critical": {"en": "critical", "fi": "kriittinen", "sv": "kritisk"},
    "value.none": {"en": "n/a", "fi": "ei tiedossa", "sv": "okänt"},
    "ack.title": {"en": "Acknowledge alert", "fi": "Kuittaa hälytys", "sv": "Kvittera larm"},
    "ack.confirm": {
        "en": "Acknowledge alert {alert} ({type}, {device}) as {who}?",
        "fi": "Kuitataanko hälytys {alert} ({type}, {device}) nimellä {who}?",
        "sv": "Kvittera larm {alert} ({type}, {device}) som {who}?",
    },
    "ack.button": {"en": "Acknowledge", "fi": "Kuittaa", "sv": "Kvittera"},
    "ack.done": {
        "en": "Alert {alert} acknowledged by {who}.",
        "fi": "{who} kuittasi hälytyksen {alert}.",
        "sv": "Larm {alert} kvitterat av {who}.",
    },
    "ack.already": {
        "en": "Alert {alert} is already {status}.",
        "fi": "Hälytys {alert} on jo tilassa {status}.",
        "sv": "Larm {alert} är redan {status}.",
    },
    "ack.invalid": {
        "en": "This link is not valid ({reason}).",
        "fi": "Linkki ei kelpaa ({reason}).",
        "sv": "Länken är ogiltig ({reason}).",
    },
}


def t(key: str, language: str, **values: object) -> str:
    """One catalogue string in ``language`` (English when the language is unknown), formatted."""
    texts = CATALOGUE[key]
    return texts.get(language, texts["en"]).format(**values)


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
