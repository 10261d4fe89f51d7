"""Signed, expiring acknowledgement links: ``<alert>.<contact>.<expires>.<hmac>``.

Standard library only (HMAC-SHA256, base64url), so the sender that writes the links and the API that checks
them share one definition from the ground floor. The token names the contact, so an acknowledgement made
from a phone records who it was.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime


class LinkError(ValueError):
    """A link that is malformed, forged (bad signature) or expired; ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class AckClaim:
    alert_id: int
    contact_id: int
    expires: int  # unix seconds


def _mac(key: bytes, payload: str) -> str:
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign_ack(key: bytes, *, alert_id: int, contact_id: int, expires: datetime) -> str:
    payload = f"{alert_id}.{contact_id}.{int(expires.timestamp())}"
    return f"{payload}.{_mac(key, 'ack.' + payload)}"


def verify_ack(key: bytes, token: str, *, now: datetime) -> AckClaim:
    """The claim of a valid token; ``LinkError('malformed' | 'forged' | 'expired')`` otherwise."""
    parts = token.split(".")
    if len(parts) != 4 or not all(p.isdigit() for p in parts[:3]) or len(token) > 200:
        raise LinkError("malformed")
    payload = ".".join(parts[:3])
    if not hmac.compare_digest(_mac(key, "ack." + payload), parts[3]):
        raise LinkError("forged")
    claim = AckClaim(alert_id=int(parts[0]), contact_id=int(parts[1]), expires=int(parts[2]))
    if now.timestamp() >= claim.expires:
        raise LinkError("expired")
    return claim


def sign_body(secret: bytes, *, timestamp: int, body: bytes) -> str:
    """Webhook signature header value: ``sha256=<hex>`` over ``<timestamp>.<body>`` (as Stripe/Slack do)."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={mac}"


def check_body(secret: bytes, *, timestamp: int, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign_body(secret, timestamp=timestamp, body=body), signature)
