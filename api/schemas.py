"""Response and request bodies, named by role (``AlertPublic``, ``AlertsPublic``, ``AlertAction``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class HealthPublic(BaseModel):
    status: str
    database: bool
    broker: bool


class DevicePublic(BaseModel):
    device_id: str
    kind: str
    site_id: str
    name: str | None
    lat: float | None
    lon: float | None
    mobile: bool
    expected_interval_s: float
    firmware: str | None
    status: str
    last_seen: datetime | None
    last_received: datetime | None


class DevicesPublic(BaseModel):
    data: list[DevicePublic]
    count: int


class AlertPublic(BaseModel):
    alert_id: int
    device_id: str
    site_id: str
    type: str
    severity: str
    status: str
    value: float | None
    threshold: float | None
    details: dict[str, Any]
    occurrences: int
    first_time: datetime
    last_time: datetime
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    cleared_at: datetime | None
    cleared_by: str | None
    assignee: str | None


class AlertsPublic(BaseModel):
    data: list[AlertPublic]
    next_cursor: int | None = Field(description="pass as `cursor` to get the next page; null on the last page")


class AlertEventPublic(BaseModel):
    event_id: int
    at: datetime
    kind: str
    actor: str
    comment: str | None
    data: dict[str, Any]


class AlertDetailPublic(AlertPublic):
    events: list[AlertEventPublic]


class AlertAction(BaseModel):
    comment: str | None = Field(default=None, max_length=2000)


class AlertComment(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


class AlertAssign(BaseModel):
    assignee: str | None = Field(default=None, max_length=200)


class BucketPublic(BaseModel):
    time: datetime
    mean: float | None
    min: float | None
    max: float | None
    count: int


class ReadingsPublic(BaseModel):
    device_id: str
    metric: str
    bucket_s: int
    start: datetime
    end: datetime
    data: list[BucketPublic]
