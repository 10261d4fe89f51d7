"""Field work on devices: provision, update, rotate, revoke, retire; health, tracks and co-location checks.

A field key acts only on devices of its own sites: another site's device is reported as absent (404), and
provisioning into or moving a device to another site is forbidden (403). Device ids are global, so creating a
device whose id is taken anywhere is refused (409) with "not available" and nothing about where it is.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, Field

from api.deps import ConnDep, Reader, require, site_scope
from api.inputs import Instant, RequestBody
from kipsense import provisioning
from kipsense.provisioning import Credentials, ProvisioningError
from kipsense.records import DeviceKind
from kipsense.settings import MqttSettings
from store import devices as store_devices
from store import health as store_health
from store import tracks as store_tracks
from store.apikeys import ApiKey
from store.devices import Device, DeviceExistsError

router = APIRouter(prefix="/field", tags=["field"])
FieldKey = Annotated[ApiKey, Depends(require("field"))]


def get_mqtt(request: Request) -> MqttSettings:
    mqtt: MqttSettings = request.app.state.mqtt
    return mqtt


MqttDep = Annotated[MqttSettings, Depends(get_mqtt)]


class DeviceCreate(RequestBody):
    device_id: str = Field(description="becomes the MQTT username: 1-63 of a-z, 0-9, '-', '_'", max_length=200)
    kind: DeviceKind
    site_id: str = "park"
    name: str | None = Field(default=None, max_length=200)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    mobile: bool = False
    expected_interval_s: float = Field(default=10.0, gt=0, le=86_400)
    firmware: str | None = Field(default=None, max_length=100)


class DeviceUpdate(RequestBody):
    """Only the fields sent are changed; ``null`` clears an optional one."""

    site_id: str | None = None
    name: str | None = Field(default=None, max_length=200)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    mobile: bool | None = None
    expected_interval_s: float | None = Field(default=None, gt=0, le=86_400)
    firmware: str | None = Field(default=None, max_length=100)


class FieldDevicePublic(BaseModel):
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


class CredentialsPublic(BaseModel):
    """A device's broker credentials; the password is shown this once."""

    device_id: str
    username: str
    password: str
    host: str
    port: int
    topic: str
    broker_reloaded: bool


class DeviceHealthPublic(BaseModel):
    device_id: str
    state: str
    checked_at: datetime
    silence_s: float | None
    rate_ratio: float | None
    battery: float | None
    rssi: float | None
    clock_skew_s: float | None
    quarantined: int
    reasons: list[str]


class HealthListPublic(BaseModel):
    data: list[DeviceHealthPublic]
    count: int


class TrackPointPublic(BaseModel):
    time: datetime
    lat: float
    lon: float
    zone_id: str | None
    pm10: float | None


class TrackPublic(BaseModel):
    device_id: str
    start: datetime
    end: datetime
    data: list[TrackPointPublic]


class ColocationPublic(BaseModel):
    mobile_id: str
    fixed_id: str
    start_time: datetime
    end_time: datetime
    samples: int
    distance_m: float
    mobile_mean: float
    fixed_mean: float
    difference: float
    agree: bool


class ColocationListPublic(BaseModel):
    data: list[ColocationPublic]


def credentials_public(creds: Credentials) -> CredentialsPublic:
    return CredentialsPublic(
        device_id=creds.device_id,
        username=creds.username,
        password=creds.password,
        host=creds.host,
        port=creds.port,
        topic=creds.topic,
        broker_reloaded=creds.reloaded,
    )


def device_public(d: Device) -> FieldDevicePublic:
    return FieldDevicePublic(
        device_id=d.device_id,
        kind=d.kind,
        site_id=d.site_id,
        name=d.name,
        lat=d.lat,
        lon=d.lon,
        mobile=d.mobile,
        expected_interval_s=d.expected_interval_s,
        firmware=d.firmware,
        status=d.status,
        last_seen=d.last_seen,
        last_received=d.last_received,
    )


def check_site(key: ApiKey, site_id: str) -> None:
    """403 unless the key may manage devices of ``site_id``."""
    scope = site_scope(key)
    if scope is not None and site_id not in scope:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this key may not manage devices of site {site_id!r}")


def visible_device(conn: ConnDep, key: ApiKey, device_id: str) -> Device:
    """The device if the key may see it; 404 otherwise (another site's device is not revealed)."""
    device = store_devices.get(conn, device_id=device_id)
    scope = site_scope(key)
    if device is None or (scope is not None and device.site_id not in scope):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no device {device_id!r}")
    return device


def id_not_available(device_id: str) -> HTTPException:
    """409 for an id that is taken: ids are global, so this much shows, but never where or by whom."""
    return HTTPException(status.HTTP_409_CONFLICT, f"device id {device_id!r} is not available")


def _refused(exc: Exception, device_id: str) -> HTTPException:
    if isinstance(exc, DeviceExistsError):
        return id_not_available(device_id)
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc))


@router.post("/devices", response_model=CredentialsPublic, status_code=status.HTTP_201_CREATED)
def create_device(body: DeviceCreate, conn: ConnDep, key: FieldKey, mqtt: MqttDep) -> CredentialsPublic:
    """Register a device and issue its broker credentials (password shown once)."""
    check_site(key, body.site_id)
    try:
        creds = provisioning.create_device(conn, mqtt, **body.model_dump())
    except (ProvisioningError, DeviceExistsError) as exc:
        conn.rollback()
        raise _refused(exc, body.device_id) from None
    return credentials_public(creds)


@router.patch("/devices/{device_id}", response_model=FieldDevicePublic)
def update_device(device_id: str, body: DeviceUpdate, conn: ConnDep, key: FieldKey) -> FieldDevicePublic:
    """Change a device's site, name, position, mobility, expected rate or firmware."""
    visible_device(conn, key, device_id)
    changes = body.model_dump(exclude_unset=True)
    for required in ("site_id", "mobile", "expected_interval_s"):
        if required in changes and changes[required] is None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{required} cannot be null")
    if "site_id" in changes:
        check_site(key, changes["site_id"])
    try:
        return device_public(provisioning.update_device(conn, device_id=device_id, changes=changes))
    except ProvisioningError as exc:
        raise _refused(exc, device_id) from None


@router.post("/devices/{device_id}/rotate", response_model=CredentialsPublic)
def rotate(device_id: str, conn: ConnDep, key: FieldKey, mqtt: MqttDep) -> CredentialsPublic:
    """Issue a new password; the old one is refused once the broker has reloaded."""
    visible_device(conn, key, device_id)
    try:
        return credentials_public(provisioning.rotate(conn, mqtt, device_id=device_id))
    except ProvisioningError as exc:
        raise _refused(exc, device_id) from None


@router.post("/devices/{device_id}/revoke", response_model=FieldDevicePublic)
def revoke(device_id: str, conn: ConnDep, key: FieldKey, mqtt: MqttDep) -> FieldDevicePublic:
    """Take the device's credential away (a lost unit); it stays registered and can be re-issued one."""
    device = visible_device(conn, key, device_id)
    provisioning.revoke(conn, mqtt, device_id=device_id)
    return device_public(device)


@router.post("/devices/{device_id}/retire", response_model=FieldDevicePublic)
def retire(device_id: str, conn: ConnDep, key: FieldKey, mqtt: MqttDep) -> FieldDevicePublic:
    """Retire the device: its credential is removed and its further messages are quarantined."""
    visible_device(conn, key, device_id)
    provisioning.retire(conn, mqtt, device_id=device_id)
    retired = store_devices.get(conn, device_id=device_id)
    if retired is None:  # pragma: no cover - the device was just seen
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no device {device_id!r}")
    return device_public(retired)


@router.get("/health", response_model=HealthListPublic)
def health_list(conn: ConnDep, key: Reader, state: str | None = None) -> HealthListPublic:
    """The latest health of every visible device, optionally of one state (ok, degraded, offline, unknown)."""
    rows = store_health.list_health(conn, sites=site_scope(key), state=state)
    return HealthListPublic(data=[DeviceHealthPublic(**_health(h)) for h in rows], count=len(rows))


def _health(h: store_health.Health) -> dict[str, object]:
    return {
        "device_id": h.device_id,
        "state": h.state,
        "checked_at": h.checked_at,
        "silence_s": h.silence_s,
        "rate_ratio": h.rate_ratio,
        "battery": h.battery,
        "rssi": h.rssi,
        "clock_skew_s": h.clock_skew_s,
        "quarantined": h.quarantined,
        "reasons": h.reasons,
    }


@router.get("/devices/{device_id}/health", response_model=DeviceHealthPublic)
def device_health(device_id: str, conn: ConnDep, key: Reader) -> DeviceHealthPublic:
    """A device's latest health assessment."""
    visible_device(conn, key, device_id)
    h = store_health.get(conn, device_id=device_id)
    if h is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"device {device_id!r} has not been assessed yet")
    return DeviceHealthPublic(**_health(h))


@router.get("/devices/{device_id}/track", response_model=TrackPublic)
def track(
    device_id: str,
    conn: ConnDep,
    key: Reader,
    start: Instant | None = None,
    end: Instant | None = None,
    limit: Annotated[int, Query(ge=1, le=50_000)] = 10_000,
) -> TrackPublic:
    """A mobile sensor's positions with their zones (default: the last hour)."""
    visible_device(conn, key, device_id)
    end = (end or datetime.now(UTC)).astimezone(UTC)
    start = (start or end - timedelta(hours=1)).astimezone(UTC)
    if start >= end:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "start must be before end")
    points = store_tracks.track(conn, device_id=device_id, start=start, end=end, limit=limit)
    return TrackPublic(
        device_id=device_id,
        start=start,
        end=end,
        data=[TrackPointPublic(time=p.time, lat=p.lat, lon=p.lon, zone_id=p.zone_id, pm10=p.pm10) for p in points],
    )


@router.get("/devices/{device_id}/colocation", response_model=ColocationListPublic)
def colocation(device_id: str, conn: ConnDep, key: Reader, since: Instant | None = None) -> ColocationListPublic:
    """Co-location checks the device took part in, newest first."""
    visible_device(conn, key, device_id)
    rows = store_tracks.checks(conn, device_id=device_id, since=since)
    return ColocationListPublic(
        data=[
            ColocationPublic(
                mobile_id=c.mobile_id,
                fixed_id=c.fixed_id,
                start_time=c.start_time,
                end_time=c.end_time,
                samples=c.samples,
                distance_m=c.distance_m,
                mobile_mean=c.mobile_mean,
                fixed_mean=c.fixed_mean,
                difference=c.difference,
                agree=c.agree,
            )
            for c in rows
        ]
    )
