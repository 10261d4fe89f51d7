"""Acknowledgement from a message: the link in a real e-mail, opened against the real API and database."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from api.main import create_app
from kipsense.settings import ApiSettings, MqttSettings, NotifyLinkSettings
from kipsense.signing import sign_ack
from notify.sender import Sender
from store import alerts, notifications
from store.db import connect
from tests.notify.conftest import LINK_KEY, FakeClock, notify_settings
from tests.notify.receivers import SmtpReceiver


def _alert_for(database_url: str, site: str, *, language: str = "sv") -> tuple[int, int]:
    with connect(database_url) as conn:
        contact = notifications.create_contact(
            conn, name=f"Elsa {site}", language=language, phone="+358409876543", email=f"elsa@{site}.test"
        )
        notifications.create_route(conn, name=f"r-{site}", match_sites=[site], contact_ids=[contact.contact_id])
        alert_id, _ = alerts.raise_alert(
            conn, device_id=f"{site}-d00", site_id=site, type="pm10_limit", severity="major", value=90.0,
            threshold=50.0, at=datetime.now(UTC),
        )  # fmt: skip
        conn.commit()
    return alert_id, contact.contact_id


def test_link_in_the_mail_acknowledges_on_post_only(
    database_url: str, site: str, smtp: SmtpReceiver, api_url: str
) -> None:
    alert_id, _ = _alert_for(database_url, site)
    sender = Sender(
        settings=notify_settings(smtp.port),
        links=NotifyLinkSettings(link_key=SecretStr(LINK_KEY), public_url=api_url),
        database_url=database_url,
        clock=FakeClock(),
    )
    with connect(database_url) as conn:
        sender.step(conn)
    [mail] = smtp.messages
    match = re.search(r"Kvittera \(giltig till [^)]*\): (\S+)", mail.get_content())
    assert match is not None
    link = match.group(1)
    with httpx.Client() as http:
        page = http.get(link)  # what a mail client's link scanner does
        assert page.status_code == 200 and '<form method="post"' in page.text and "Kvittera larm" in page.text
        with connect(database_url) as conn:
            assert alerts.get(conn, alert_id=alert_id).status == "active"  # type: ignore[union-attr]
        done = http.post(link)
        assert done.status_code == 200 and "kvitterat av" in done.text
        again = http.post(link)
        assert again.status_code == 200 and "redan kvitterat" in again.text
    with connect(database_url) as conn:
        alert = alerts.get(conn, alert_id=alert_id)
        events = alerts.events(conn, alert_id=alert_id)
    assert alert is not None and alert.status == "acknowledged"
    assert alert.acknowledged_by == f"Elsa {site} (+358409876543)"
    assert [e.kind for e in events if e.kind == "acknowledged"] == ["acknowledged"]


def test_forged_and_expired_links_are_refused(database_url: str, site: str, api_url: str) -> None:
    alert_id, contact_id = _alert_for(database_url, site, language="fi")
    good = sign_ack(
        LINK_KEY.encode(), alert_id=alert_id, contact_id=contact_id, expires=datetime.now(UTC) + timedelta(hours=1)
    )
    expired = sign_ack(
        LINK_KEY.encode(), alert_id=alert_id, contact_id=contact_id, expires=datetime.now(UTC) - timedelta(seconds=1)
    )
    forged_key = sign_ack(
        b"another-key-" + b"z" * 32,
        alert_id=alert_id,
        contact_id=contact_id,
        expires=datetime.now(UTC) + timedelta(hours=1),
    )
    other_alert = good.split(".", 1)[1]  # the signature of one alert reused for another
    tampered = f"{alert_id + 1}.{other_alert}"
    with httpx.Client(base_url=api_url) as http:
        for token, reason in ((expired, "expired"), (forged_key, "forged"), (tampered, "forged"), ("x.y", "malformed")):
            for method in (http.get, http.post):
                response = method(f"/notify/ack/{token}")
                assert response.status_code == 403 and reason in response.text
    with connect(database_url) as conn:
        assert alerts.get(conn, alert_id=alert_id).status == "active"  # type: ignore[union-attr]


def test_without_a_link_key_the_page_says_so(database_url: str, stack_env: dict[str, str]) -> None:
    from fastapi.testclient import TestClient

    app = create_app(
        settings=ApiSettings(),
        database_url=database_url,
        mqtt=MqttSettings(),
        notify_links=NotifyLinkSettings(link_key=None),
    )
    with TestClient(app) as client:
        assert client.post("/notify/ack/1.1.1.abc").status_code == 503


def test_a_short_or_placeholder_link_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        NotifyLinkSettings(link_key=SecretStr("short"))
    with pytest.raises(ValueError, match="placeholder"):
        NotifyLinkSettings(link_key=SecretStr("changeme"))
