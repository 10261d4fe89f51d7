"""Settings of the sender process (``KIPSENSE_NOTIFY_...``), built in ``main()`` and passed in."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kipsense.settings import _refuse_placeholder


class NotifySettings(BaseSettings):
    """Channels, retries and limits of ``kipsense notify``. The webhook secret has no default."""

    model_config = SettingsConfigDict(env_prefix="KIPSENSE_NOTIFY_", extra="ignore")

    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65_535)
    smtp_mode: str = Field(default="starttls", pattern="^(insecure|starttls|ssl)$")
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "kipsense@localhost"
    webhook_secret: SecretStr | None = Field(default=None, description="HMAC secret of webhook signatures")
    webhook_timeout_s: float = Field(default=5.0, gt=0)
    poll_s: float = Field(default=1.0, gt=0, description="longest wait between passes (a commit wakes it sooner)")
    batch: int = Field(default=100, ge=1)
    lease_s: float = Field(default=60.0, gt=0, description="a message 'sending' longer than this is retried")
    max_attempts: int = Field(default=8, ge=1)
    backoff_s: float = Field(default=5.0, gt=0, description="first retry delay; doubles per attempt")
    backoff_max_s: float = Field(default=900.0, gt=0)
    rate_per_minute: dict[str, int] = Field(
        default={"email": 10, "webhook": 60, "apprise": 5},
        description="messages per minute to one target on each channel; the rest wait",
    )
    repeat_check_s: float = Field(default=30.0, gt=0)
    keep_days: float = Field(default=90.0, gt=0, description="how long the delivery log and routed outbox stay")

    _check_secret = field_validator("webhook_secret", "smtp_password")(_refuse_placeholder)
