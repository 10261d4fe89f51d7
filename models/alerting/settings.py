"""Settings of escalation and incident grouping (``KIPSENSE_ALERTING_...``)."""

from __future__ import annotations

import itertools

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class AlertingSettings(BaseSettings):
    """Escalation schedule and incident grouping."""

    model_config = SettingsConfigDict(env_prefix="KIPSENSE_ALERTING_", extra="ignore")

    escalate_after_s: list[float] = Field(
        default=[900.0, 3600.0, 14_400.0],
        description="alert age (s) at which an unacknowledged alert escalates to level 1, 2, ...",
    )
    escalation_every_s: float = Field(default=30.0, gt=0)
    incident_radius_m: float = Field(default=900.0, gt=0, description="sensors this close are neighbours")
    incident_gap_s: float = Field(default=1800.0, gt=0, description="alerts this close in time are one episode")
    incident_lookback_s: float = Field(default=6 * 3600.0, gt=0)
    incident_min_alerts: int = Field(default=2, ge=1)
    incident_every_s: float = Field(default=20.0, gt=0)
    wind_margin_s: float = Field(default=600.0, ge=0, description="wind is averaged from this long before")

    @field_validator("escalate_after_s")
    @classmethod
    def _increasing(cls, value: list[float]) -> list[float]:
        if any(v <= 0 for v in value) or any(b <= a for a, b in itertools.pairwise(value)):
            raise ValueError("escalation steps must be positive and increasing")
        return value
