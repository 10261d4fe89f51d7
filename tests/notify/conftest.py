"""Fixtures: receivers, settings, a site with dust sensors, and a sender with an injected clock."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import uvicorn
from pydantic import SecretStr

from api.config import ApiLimits
from api.main import create_app
from kipsense.settings import ApiSettings, MqttSettings, NotifyLinkSettings
from notify.sender import Sender
from notify.settings import NotifySettings
from store.db import connect
from tests.notify.receivers import SmtpReceiver, WebhookReceiver, free_port

WEBHOOK_SECRET = "whsec-" + "k" * 40
LINK_KEY = "link-" + "x" * 40


class FakeClock:
    def __init__(self, at: datetime | None = None) -> None:
        self.at = at or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(WEBHOOK_SECRET.encode()).start()
    yield receiver
    receiver.stop()


def notify_settings(smtp_port: int, **overrides: object) -> NotifySettings:
    values: dict[str, object] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port,
        "smtp_mode": "insecure",
        "smtp_from": "kipsense@test.invalid",
        "webhook_secret": SecretStr(WEBHOOK_SECRET),
        "backoff_s": 10.0,
        "repeat_check_s": 0.001,
        **overrides,
    }
    return NotifySettings.model_validate(values)


def link_settings(public_url: str = "http://127.0.0.1:9") -> NotifyLinkSettings:
    return NotifyLinkSettings(link_key=SecretStr(LINK_KEY), public_url=public_url)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def site(database_url: str) -> str:
    """A fresh site with 30 fixed dust sensors and the routes/contacts emptied (tests build their own)."""
    site_id = "s" + secrets.token_hex(4)
    with connect(database_url) as conn:
        conn.execute("DELETE FROM notify_routes")
        conn.execute("UPDATE notify_messages SET status = 'failed' WHERE status IN ('pending', 'sending')")
        conn.execute("INSERT INTO sites (site_id, name) VALUES (%s, %s)", (site_id, f"Yard {site_id}"))
        for i in range(30):
            conn.execute(
                "INSERT INTO devices (device_id, kind, site_id, name, lat, lon) VALUES (%s, 'dust', %s, %s, %s, %s)",
                (f"{site_id}-d{i:02d}", site_id, f"Dust {i:02d}", 61.0 + i * 1e-3, 25.0),
            )
        conn.commit()
    return site_id


def make_sender(database_url: str, smtp: SmtpReceiver, clock: FakeClock, **overrides: object) -> Sender:
    return Sender(
        settings=notify_settings(smtp.port, **overrides),
        links=link_settings(),
        database_url=database_url,
        clock=clock,
    )


@pytest.fixture(scope="module")
def api_url(database_url: str, stack_env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = create_app(
        settings=ApiSettings(),
        database_url=database_url,
        mqtt=MqttSettings(host=stack_env["KIPSENSE_MQTT_HOST"], port=int(stack_env["KIPSENSE_MQTT_PORT"])),
        limits=ApiLimits(),
        notify_links=NotifyLinkSettings(link_key=SecretStr(LINK_KEY), public_url=url),
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "API server did not start"
        time.sleep(0.05)
    yield url
    server.should_exit = True
    thread.join(timeout=30)
