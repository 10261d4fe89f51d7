"""Delivery channels. E-mail and any other service go through apprise (one maintained library speaking SMTP,
Teams, Slack, Telegram, SMS gateways, ...); the signed webhook is a plain HTTP POST with ``requests``,
because its signature must cover the exact bytes sent and apprise's JSON webhook sends its own envelope
with fixed headers.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import apprise
import requests

from kipsense.signing import sign_body
from notify.messages import Rendered
from notify.settings import NotifySettings


class DeliveryError(RuntimeError):
    """A delivery attempt failed; the message is retried with backoff."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    idempotency_key: str
    target: str
    rendered: Rendered
    payload: dict[str, Any]  # the structured form the webhook carries


class Channel(Protocol):
    def send(self, out: Outgoing) -> None: ...


def _notify(url: str, out: Outgoing) -> None:
    # A fresh Apprise object per message: it holds no state worth keeping and cannot leak one target's URL
    # into another's delivery.
    sender = apprise.Apprise()
    if not sender.add(url):
        raise DeliveryError("apprise does not understand the configured URL")
    ok = sender.notify(title=out.rendered.subject, body=out.rendered.body, body_format=apprise.NotifyFormat.TEXT)
    if not ok:
        raise DeliveryError("apprise reported a failed delivery")


class EmailChannel:
    """SMTP through apprise's ``mailto://``; the idempotency key travels as ``X-KipSense-Idempotency-Key``."""

    def __init__(self, settings: NotifySettings) -> None:
        self._s = settings

    def url(self, out: Outgoing) -> str:
        s = self._s
        auth = ""
        if s.smtp_user:
            password = s.smtp_password.get_secret_value() if s.smtp_password else ""
            auth = f"{quote(s.smtp_user, safe='')}:{quote(password, safe='')}@"
        query = {
            "smtp": s.smtp_host,
            "from": s.smtp_from,
            "to": out.target,
            "mode": s.smtp_mode,
            "+X-KipSense-Idempotency-Key": out.idempotency_key,
        }
        scheme = "mailtos" if s.smtp_mode != "insecure" else "mailto"
        return f"{scheme}://{auth}{s.smtp_host}:{s.smtp_port}?{urlencode(query)}"

    def send(self, out: Outgoing) -> None:
        _notify(self.url(out), out)


class AppriseChannel:
    """Any apprise URL a contact has (``msteams://``, ``tgram://``, an SMS gateway, ...)."""

    def send(self, out: Outgoing) -> None:
        _notify(out.target, out)


class WebhookChannel:
    """JSON POST signed with HMAC-SHA256 over ``<timestamp>.<body>``.

    Headers: ``X-KipSense-Timestamp``, ``X-KipSense-Signature: sha256=<hex>``, ``Idempotency-Key``. A
    receiver checks the signature, refuses an old timestamp, and handles each idempotency key once.
    """

    def __init__(self, settings: NotifySettings, session: requests.Session | None = None) -> None:
        if settings.webhook_secret is None:
            raise ValueError("KIPSENSE_NOTIFY_WEBHOOK_SECRET is not set")
        self._secret = settings.webhook_secret.get_secret_value().encode()
        self._timeout = settings.webhook_timeout_s
        self._session = session or requests.Session()

    def send(self, out: Outgoing) -> None:
        body = json.dumps(
            {"subject": out.rendered.subject, "text": out.rendered.body, **out.payload}, ensure_ascii=False
        ).encode()
        stamp = int(time.time())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-KipSense-Timestamp": str(stamp),
            "X-KipSense-Signature": sign_body(self._secret, timestamp=stamp, body=body),
            "Idempotency-Key": out.idempotency_key,
        }
        try:
            response = self._session.post(out.target, data=body, headers=headers, timeout=self._timeout)
        except requests.RequestException as exc:
            raise DeliveryError(f"webhook: {type(exc).__name__}: {exc}") from exc
        if not 200 <= response.status_code < 300:
            raise DeliveryError(f"webhook answered HTTP {response.status_code}")
