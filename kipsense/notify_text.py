"""Texts of notifications and of the acknowledgement page in Finnish, Swedish and English.

A small catalogue module rather than gettext ``.po`` files: a couple of dozen short strings kept in one
place, shared by the sender (messages) and the API (the acknowledgement page) from the ground floor. A
test fails when any string lacks one of the three languages or uses different placeholders in them.
"""

from __future__ import annotations

LANGUAGES = ("fi", "sv", "en")

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
    "status.active": {"en": "active", "fi": "aktiivinen", "sv": "aktivt"},
    "status.acknowledged": {"en": "acknowledged", "fi": "kuitattu", "sv": "kvitterat"},
    "status.cleared": {"en": "cleared", "fi": "poistunut", "sv": "avslutat"},
    "status.gone": {"en": "removed", "fi": "poistettu", "sv": "borttaget"},
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
