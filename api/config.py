"""Limits of the API beyond its address (``KIPSENSE_API_...``, beside :class:`kipsense.settings.ApiSettings`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiLimits(BaseSettings):
    """Failed-auth throttling, export and stream bounds."""

    model_config = SettingsConfigDict(env_prefix="KIPSENSE_API_", extra="ignore")

    db_pool_size: int = Field(default=16, ge=2, description="database connections of one API process")
    db_request_slots: int = Field(
        default=12, ge=1, description="requests using a connection at once; the rest of the pool serves streams"
    )
    auth_failures: int = Field(default=20, ge=1, description="invalid keys per client IP per window before 429")
    auth_window_s: float = Field(default=60.0, gt=0)
    auth_clients: int = Field(default=10_000, ge=1, description="client IPs remembered (oldest forgotten first)")
    key_cache_s: float = Field(
        default=5.0, ge=0, description="a verified key is trusted this long without a lookup (a revocation's delay)"
    )
    key_cache_size: int = Field(default=10_000, ge=1, description="verified keys remembered per API process")
    export_max_days: float = Field(default=31.0, gt=0)
    export_batch_rows: int = Field(default=50_000, ge=1)
    cycles_max_days: float = Field(default=31.0, gt=0)
    cycles_max_samples: int = Field(default=2_000_000, ge=1)
    track_max_points: int = Field(default=5_000, ge=1)
    stream_poll_s: float = Field(default=1.0, gt=0)
    stream_heartbeat_s: float = Field(default=15.0, gt=0)
    pm10_limit: float = Field(default=50.0, gt=0, description="limit line of the page's PM10 chart (EU daily)")
    stream_max_s: float = Field(default=300.0, gt=0, description="a stream ends after this; clients resume")
