"""Settings, one class per process kind, each built in ``main()`` and passed explicitly.

Shared connection settings read the same variables everywhere (``KIPSENSE_DATABASE_URL``,
``KIPSENSE_MQTT_HOST``, ...); process-specific ones have their own prefix (``KIPSENSE_INGEST_...``).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Bytes of a refused message's payload kept in quarantine (the full size and SHA-256 are always kept).
QUARANTINE_KEEP_BYTES = 4096

_PLACEHOLDERS = {"", "changeme", "password", "secret", "admin", "mosquitto", "postgres"}


def _refuse_placeholder(value: SecretStr | None) -> SecretStr | None:
    if value is not None and value.get_secret_value().lower() in _PLACEHOLDERS:
        raise ValueError("a placeholder secret is not allowed; generate a real one")
    return value


class DatabaseSettings(BaseSettings):
    """Where TimescaleDB is."""

    model_config = SettingsConfigDict(env_prefix="KIPSENSE_", extra="ignore")

    database_url: str = Field(description="libpq URL, e.g. postgresql://user:pw@127.0.0.1:15432/kipsense")


class MqttSettings(BaseSettings):
    """Where the broker is and who this process is on it."""

    model_config = SettingsConfigDict(env_prefix="KIPSENSE_MQTT_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 11883
    username: str | None = None
    password: SecretStr | None = None
    tls_ca: Path | None = None
    password_file: Path | None = Field(default=None, description="broker password file the platform maintains")
    acl_file: Path | None = None
    pid_file: Path | None = Field(default=None, description="broker pid, signalled with SIGHUP to reload auth")

    _check_password = field_validator("password")(_refuse_placeholder)


class IngestSettings(BaseSettings):
    """The ingest worker."""

    model_config = SettingsConfigDict(env_prefix="KIPSENSE_INGEST_", extra="ignore")

    topics: list[str] = ["sensors/+/+"]
    share_group: str = Field(
        default="ingest",
        description="label of the workers' shared subscription; the group joined is <label>-<HMAC of the secret>",
    )
    share_secret: SecretStr | None = Field(
        default=None, description="secret the group name is derived from; default: the ingest MQTT password"
    )
    previous_share_secret: SecretStr | None = Field(
        default=None, description="after rotating the secret: the old one, whose group the workers leave"
    )
    shared: bool = Field(
        default=True,
        description="join the workers' shared subscription; off: subscribe directly (one worker only, see"
        " ingest.worker: Mosquitto 2.0 keeps a direct subscription over its restart, not a shared one)",
    )
    client_id: str | None = Field(default=None, description="fixed id of this worker's persistent session")
    batch_rows: int = Field(default=5_000, ge=1)
    flush_ms: int = Field(default=50, ge=1)
    queue_size: int = Field(default=20_000, ge=1)
    session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)
    receive_maximum: int = Field(default=1_000, ge=1, le=65_535)
    max_payload_bytes: int = Field(default=256 * 1024, ge=1)
    max_age_days: float = Field(default=400.0, gt=0)
    max_future_s: float = Field(default=300.0, ge=0)
    device_cache_s: float = Field(default=5.0, ge=0)
    sparkplug: bool = Field(default=True, description="subscribe spBv1.0/# (one worker only: decoding is stateful)")
    sparkplug_topics: list[str] = ["spBv1.0/#"]
    rebirth_every_s: float = Field(
        default=10.0, gt=0, description="at most one Sparkplug rebirth request per edge node in this time"
    )
    quarantine_keep_bytes: int = Field(default=QUARANTINE_KEEP_BYTES, ge=0, description="payload prefix kept")
    quarantine_per_minute: float = Field(
        default=60.0, gt=0, description="quarantine rows stored per device per minute; the rest are counted"
    )
    quarantine_burst: int = Field(default=120, ge=1, description="rows a device may have stored in a burst")
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=0, ge=0, le=65_535, description="Prometheus /metrics; 0 = off; +slot each")
    spool_dir: Path | None = Field(default=None, description="local spool for long DB outages; None = off")
    spool_after_s: float = Field(default=60.0, ge=0, description="outage length before batches are spooled")
    spool_max_bytes: int = Field(default=10 * 1024**3, ge=1)

    _check_secrets = field_validator("share_secret", "previous_share_secret")(_refuse_placeholder)


class ScorerSettings(BaseSettings):
    """The streaming scorer."""

    model_config = SettingsConfigDict(env_prefix="KIPSENSE_SCORER_", extra="ignore")

    pm10_window_s: float = Field(default=86_400.0, gt=0)
    pm10_limit: float = Field(default=50.0, gt=0)
    min_capture: float = Field(default=0.75, ge=0, le=1)
    poll_s: float = Field(default=1.0, gt=0)
    batch_limit: int = Field(default=50_000, ge=1)


class ApiSettings(BaseSettings):
    """The HTTP API."""

    model_config = SettingsConfigDict(env_prefix="KIPSENSE_API_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    cors_origins: list[str] = []
    max_points: int = Field(default=5_000, ge=1)
    max_range_days: float = Field(default=400.0, gt=0)
    trusted_proxies: list[str] = Field(
        default=[],
        description="addresses (or networks) of reverse proxies whose X-Forwarded-For/-Proto are believed;"
        " none by default, so a client cannot choose the address its failed attempts are counted under",
    )


class LakeSettings(BaseSettings):
    """Where the analytics lake lives and how far behind the database its export stays."""

    model_config = SettingsConfigDict(env_prefix="KIPSENSE_LAKE_", extra="ignore")

    root: Path = Path(".local/lake")
    lag_s: float = Field(default=60.0, ge=0, description="the export leaves rows younger than this for the next run")


class NotifyLinkSettings(BaseSettings):
    """Acknowledgement links in notifications: shared by the sender (signs) and the API (checks).

    The key has no default: without it the sender refuses to start and the API's acknowledgement page
    answers 503. ``kipsense run`` (the development profile) generates one under ``.local/``.
    """

    model_config = SettingsConfigDict(env_prefix="KIPSENSE_NOTIFY_", extra="ignore")

    link_key: SecretStr | None = Field(default=None, description="HMAC key of acknowledgement links (32+ chars)")
    public_url: str = Field(default="http://127.0.0.1:8000", description="where recipients reach the API")
    link_ttl_h: float = Field(default=72.0, gt=0, description="how long an acknowledgement link stays valid")

    @field_validator("link_key")
    @classmethod
    def _strong_key(cls, value: SecretStr | None) -> SecretStr | None:
        _refuse_placeholder(value)
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("the link key must be at least 32 characters")
        return value
