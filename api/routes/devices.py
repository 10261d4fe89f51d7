"""Devices and their readings."""

from __future__ import annotations

import math
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status

from api.deps import ConnDep, LimitsDep, Reader, SettingsDep, site_scope
from api.fastjson import check_same_fields, json_response
from api.inputs import Instant
from api.schemas import (
    BucketPublic,
    DeviceHealthPublic,
    DevicePublic,
    DevicesPublic,
    ReadingsPublic,
    TrackPointPublic,
    TrackPublic,
)
from kipsense.records import DeviceKind
from store import device_status
from store import devices as store_devices
from store import readings as store_readings
from store.device_status import DeviceStatus
from store.devices import Device

router = APIRouter(prefix="/devices", tags=["devices"])
check_same_fields(store_readings.Bucket, BucketPublic)  # readings are written as the store returns them


def _visible(conn: ConnDep, key: Reader, device_id: str) -> Device:
    device = store_devices.get(conn, device_id=device_id)
    scope = site_scope(key)
    if device is None or (scope is not None and device.site_id not in scope):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no device {device_id!r}")
    return device


def _public(device: Device, status_: DeviceStatus | None) -> DevicePublic:
    data = asdict(device)
    data.pop("created_at")
    health = None
    if status_ is not None:
        health = DeviceHealthPublic(
            last_time=status_.last_time,
            rate_per_min=status_.readings_10min / 10.0,
            battery=status_.battery,
            rssi=status_.rssi,
            lat=status_.lat if status_.lat is not None else device.lat,
            lon=status_.lon if status_.lon is not None else device.lon,
            pm10=status_.pm10,
            pm25=status_.pm25,
        )
    return DevicePublic(**data, health=health)


def _with_status(conn: ConnDep, devices: list[Device]) -> list[DevicePublic]:
    dust = [d.device_id for d in devices if d.kind == DeviceKind.DUST]
    latest = device_status.latest(conn, device_ids=dust, now=datetime.now(UTC)) if dust else {}
    return [_public(d, latest.get(d.device_id)) for d in devices]


@router.get("", response_model=DevicesPublic)
def list_devices(conn: ConnDep, key: Reader, kind: DeviceKind | None = None) -> DevicesPublic:
    """Registered devices with their status (a field key sees its own sites only)."""
    rows = store_devices.list_devices(conn, kind=kind, sites=site_scope(key))
    return DevicesPublic(data=_with_status(conn, rows), count=len(rows))


@router.get("/{device_id}", response_model=DevicePublic)
def get_device(device_id: str, conn: ConnDep, key: Reader) -> DevicePublic:
    """One device with its status: last seen, rate, battery, signal, position, firmware."""
    return _with_status(conn, [_visible(conn, key, device_id)])[0]


def _range(
    start: datetime | None, end: datetime | None, default: timedelta, max_days: float
) -> tuple[datetime, datetime]:
    """[start, end) in UTC, end defaulting to now and start to ``default`` before it; 422 when out of bounds."""
    try:
        end = (end or datetime.now(UTC)).astimezone(UTC)
        start = (start or end - default).astimezone(UTC)
    except (OverflowError, ValueError):
        raise HTTPException(422, "time out of range") from None
    span = (end - start).total_seconds()
    if span <= 0:
        raise HTTPException(422, "start must be before end")
    if span > max_days * 86_400:
        raise HTTPException(422, f"range longer than {max_days} days")
    return start, end


@router.get("/{device_id}/track", response_model=TrackPublic)
def track(
    device_id: str,
    conn: ConnDep,
    key: Reader,
    settings: SettingsDep,
    limits: LimitsDep,
    start: Instant | None = None,
    end: Instant | None = None,
) -> TrackPublic:
    """Positions of a mobile sensor over a bounded range (default: the last hour), averaged to a point limit."""
    device = _visible(conn, key, device_id)
    if device.kind != DeviceKind.DUST:
        raise HTTPException(422, "only dust sensors report positions")
    start, end = _range(start, end, timedelta(hours=1), settings.max_range_days)
    bucket = max(1, math.ceil((end - start).total_seconds() / limits.track_max_points))
    points = device_status.track(conn, device_id=device_id, start=start, end=end, bucket_s=bucket)
    return TrackPublic(
        device_id=device_id,
        bucket_s=bucket,
        start=start,
        end=end,
        data=[TrackPointPublic.model_validate(p) for p in points],
    )


@router.get("/{device_id}/readings", response_model=ReadingsPublic)
def readings(
    device_id: str,
    conn: ConnDep,
    key: Reader,
    settings: SettingsDep,
    metric: str = "pm10",
    start: Instant | None = None,
    end: Instant | None = None,
    bucket_s: Annotated[int | None, Query(ge=1, le=86_400 * 31)] = None,
) -> Response:
    """Time-bucketed aggregates over a bounded range (default: the last hour)."""
    device = _visible(conn, key, device_id)
    start, end = _range(start, end, timedelta(hours=1), settings.max_range_days)
    span = (end - start).total_seconds()
    smallest = max(1, math.ceil(span / settings.max_points))
    bucket = max(bucket_s or smallest, smallest)
    try:
        table = store_readings.table_for_kind(device.kind)
        rows = store_readings.bucketed(
            conn, table=table, device_id=device_id, metric=metric, start=start, end=end, bucket_s=bucket
        )
    except (KeyError, ValueError) as exc:
        raise HTTPException(422, str(exc)) from None
    # up to max_points buckets: written as they are, not validated one by one
    return json_response(
        {"device_id": device_id, "metric": metric, "bucket_s": bucket, "start": start, "end": end, "data": rows},
        lambda: ReadingsPublic(
            device_id=device_id,
            metric=metric,
            bucket_s=bucket,
            start=start,
            end=end,
            data=[BucketPublic.model_validate(r) for r in rows],
        ),
    )
