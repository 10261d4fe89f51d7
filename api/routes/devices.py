"""Devices and their readings."""

from __future__ import annotations

import math
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from api.deps import ConnDep, Reader, SettingsDep, site_scope
from api.schemas import BucketPublic, DevicePublic, DevicesPublic, ReadingsPublic
from kipsense.records import DeviceKind
from store import devices as store_devices
from store import readings as store_readings
from store.devices import Device

router = APIRouter(prefix="/devices", tags=["devices"])


def _visible(conn: ConnDep, key: Reader, device_id: str) -> Device:
    device = store_devices.get(conn, device_id=device_id)
    scope = site_scope(key)
    if device is None or (scope is not None and device.site_id not in scope):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no device {device_id!r}")
    return device


def _public(device: Device) -> DevicePublic:
    data = asdict(device)
    data.pop("created_at")
    return DevicePublic(**data)


@router.get("", response_model=DevicesPublic)
def list_devices(conn: ConnDep, key: Reader, kind: DeviceKind | None = None) -> DevicesPublic:
    """Registered devices (a field key sees its own sites only)."""
    rows = store_devices.list_devices(conn, kind=kind, sites=site_scope(key))
    return DevicesPublic(data=[_public(d) for d in rows], count=len(rows))


@router.get("/{device_id}", response_model=DevicePublic)
def get_device(device_id: str, conn: ConnDep, key: Reader) -> DevicePublic:
    """One device with its status."""
    return _public(_visible(conn, key, device_id))


@router.get("/{device_id}/readings", response_model=ReadingsPublic)
def readings(
    device_id: str,
    conn: ConnDep,
    key: Reader,
    settings: SettingsDep,
    metric: str = "pm10",
    start: datetime | None = None,
    end: datetime | None = None,
    bucket_s: Annotated[int | None, Query(ge=1, le=86_400 * 31)] = None,
) -> ReadingsPublic:
    """Time-bucketed aggregates over a bounded range (default: the last hour)."""
    device = _visible(conn, key, device_id)
    end = (end or datetime.now(UTC)).astimezone(UTC)
    start = (start or end - timedelta(hours=1)).astimezone(UTC)
    span = (end - start).total_seconds()
    if span <= 0:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "start must be before end")
    if span > settings.max_range_days * 86_400:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, f"range longer than {settings.max_range_days} days")
    smallest = max(1, math.ceil(span / settings.max_points))
    bucket = max(bucket_s or smallest, smallest)
    try:
        table = store_readings.table_for_kind(device.kind)
        rows = store_readings.bucketed(
            conn, table=table, device_id=device_id, metric=metric, start=start, end=end, bucket_s=bucket
        )
    except (KeyError, ValueError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from None
    return ReadingsPublic(
        device_id=device_id,
        metric=metric,
        bucket_s=bucket,
        start=start,
        end=end,
        data=[BucketPublic(**asdict(r)) for r in rows],
    )
