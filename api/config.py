"""Limits of the API beyond its address (``KIPSENSE_API_...``, beside :class:`kipsense.settings.ApiSettings`)."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiLimits(BaseSettings):
    """Failed-auth throttling, body, export and stream bounds, and how the database pool is shared out.

    The pool's connections are split into budgets that never borrow from each other: request handlers
    (``db_request_slots``), key lookups (``db_auth_slots``) and running exports (``export_concurrency``). A long
    export or a burst of unknown keys therefore cannot leave an ordinary request waiting for a connection, and
    live streams hold none at all (they take one for a moment when they start or catch up).
    """

    model_config = SettingsConfigDict(env_prefix="KIPSENSE_API_", extra="ignore")

    db_pool_size: int = Field(default=16, ge=3, description="database connections of one API process")
    db_request_slots: int = Field(default=12, ge=1, description="request handlers using a connection at once")
    db_auth_slots: int = Field(default=2, ge=1, description="API key lookups at once (a cache miss)")
    export_concurrency: int = Field(
        default=2, ge=1, description="exports streaming at once per process; more are refused with 503"
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="largest request body; larger ones get 413 before being read"
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
    stream_poll_s: float = Field(
        default=1.0, gt=0, description="the event listener also looks for new events this often without a NOTIFY"
    )
    stream_heartbeat_s: float = Field(default=15.0, gt=0)
    stream_max_clients: int = Field(default=2_000, ge=1, description="open streams per process; more get 503")
    stream_queue: int = Field(
        default=1_000, ge=1, description="events waiting for one slow stream before it catches up from the database"
    )
    pm10_limit: float = Field(default=50.0, gt=0, description="limit line of the page's PM10 chart (EU daily)")
    stream_max_s: float = Field(default=300.0, gt=0, description="a stream ends after this; clients resume")

    @model_validator(mode="after")
    def _budgets_fit_the_pool(self) -> Self:
        wanted = self.db_request_slots + self.db_auth_slots + self.export_concurrency
        if wanted > self.db_pool_size:
            raise ValueError(
                f"db_request_slots + db_auth_slots + export_concurrency = {wanted} exceeds db_pool_size"
                f" {self.db_pool_size}"
            )
        return self
