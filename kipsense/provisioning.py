"""Provisioning a device: registry row, broker credential and reload, in that order.

The password is generated here, shown once to the caller and never stored in clear: the registry and the
broker's password file both keep only its ``$7$`` hash. ``revoke`` takes a device's credential away (a lost
unit; ``rotate`` or a claim code gives it a new one later); ``retire`` removes the device from service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg

from kipsense import mqtt_auth
from kipsense.records import DeviceKind, is_valid_device_id
from kipsense.settings import MqttSettings
from store import claims as store_claims
from store import devices as store_devices
from store.claims import Claim, ClaimState
from store.devices import Device


class ProvisioningError(ValueError):
    """The device cannot be provisioned as asked (bad id, unknown site, ...)."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a device needs to connect; ``password`` is shown once."""

    device_id: str
    username: str
    password: str
    host: str
    port: int
    topic: str
    reloaded: bool


def _credentials(mqtt: MqttSettings, device_id: str, password: str, reloaded: bool) -> Credentials:
    return Credentials(device_id, device_id, password, mqtt.host, mqtt.port, f"sensors/{device_id}/json", reloaded)


def _apply_broker(mqtt: MqttSettings, users: dict[str, str]) -> bool:
    if mqtt.password_file is None:
        return False
    mqtt_auth.upsert_users(mqtt.password_file, users)
    return mqtt_auth.reload_broker(mqtt.pid_file)


def check_device_id(device_id: str) -> None:
    """``ProvisioningError`` unless ``device_id`` is safe as MQTT username, client id and topic level."""
    if not is_valid_device_id(device_id):
        raise ProvisioningError(
            f"device id {device_id!r} must be 1-63 characters of a-z, 0-9, '-' or '_' and start with a letter or"
            " digit (it becomes the MQTT username, client id and topic level: no '+', '#', '/' or spaces)"
        )
    if mqtt_auth.is_reserved_username(device_id):
        raise ProvisioningError(f"device id {device_id!r} uses the prefix reserved for the platform's own accounts")


def register_device(
    conn: psycopg.Connection[Any],
    *,
    device_id: str,
    kind: DeviceKind,
    site_id: str = "park",
    name: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    mobile: bool = False,
    expected_interval_s: float = 10.0,
    firmware: str | None = None,
    mqtt_password_hash: str | None = None,
) -> Device:
    """Add the registry row, without a broker credential unless a hash is given.

    Runs in a transaction block: a savepoint inside the caller's transaction, else its own committed one.
    """
    check_device_id(device_id)
    if expected_interval_s <= 0:
        raise ProvisioningError("the expected interval must be positive")
    try:
        with conn.transaction():
            return store_devices.create(
                conn,
                device_id=device_id,
                kind=kind,
                site_id=site_id,
                name=name,
                lat=lat,
                lon=lon,
                mobile=mobile,
                expected_interval_s=expected_interval_s,
                firmware=firmware,
                mqtt_password_hash=mqtt_password_hash,
            )
    except psycopg.errors.ForeignKeyViolation:
        raise ProvisioningError(f"unknown site {site_id!r}") from None


def create_device(
    conn: psycopg.Connection[Any],
    mqtt: MqttSettings,
    *,
    device_id: str,
    kind: DeviceKind,
    site_id: str = "park",
    name: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    mobile: bool = False,
    expected_interval_s: float = 10.0,
    firmware: str | None = None,
) -> Credentials:
    """Register the device and give it broker credentials; commits."""
    check_device_id(device_id)
    password = mqtt_auth.generate_password()
    hashed = mqtt_auth.hash_password(password)
    register_device(
        conn,
        device_id=device_id,
        kind=kind,
        site_id=site_id,
        name=name,
        lat=lat,
        lon=lon,
        mobile=mobile,
        expected_interval_s=expected_interval_s,
        firmware=firmware,
        mqtt_password_hash=hashed,
    )
    conn.commit()
    reloaded = _apply_broker(mqtt, {device_id: hashed})
    return _credentials(mqtt, device_id, password, reloaded)


def rotate(conn: psycopg.Connection[Any], mqtt: MqttSettings, *, device_id: str) -> Credentials:
    """A new password for an active device (with or without one now); the old one stops working after the reload.

    Commits.
    """
    device = store_devices.get(conn, device_id=device_id)
    if device is None or device.status != "active":
        raise ProvisioningError(f"no active device {device_id!r}")
    password = mqtt_auth.generate_password()
    hashed = mqtt_auth.hash_password(password)
    store_devices.set_password_hash(conn, device_id=device_id, mqtt_password_hash=hashed)
    conn.commit()
    reloaded = _apply_broker(mqtt, {device_id: hashed})
    return _credentials(mqtt, device_id, password, reloaded)


def update_device(conn: psycopg.Connection[Any], *, device_id: str, changes: dict[str, Any]) -> Device:
    """Change registry fields of an active device (see ``store.devices.UPDATABLE``); commits."""
    try:
        device = store_devices.update(conn, device_id=device_id, changes=changes)
    except ValueError as exc:
        conn.rollback()
        raise ProvisioningError(str(exc)) from None
    if device is None:
        conn.rollback()
        raise ProvisioningError(f"no active device {device_id!r}")
    conn.commit()
    return device


def _remove_from_broker(mqtt: MqttSettings, device_id: str) -> None:
    if mqtt.password_file is not None:
        mqtt_auth.remove_users(mqtt.password_file, [device_id])
        mqtt_auth.reload_broker(mqtt.pid_file)


def revoke(conn: psycopg.Connection[Any], mqtt: MqttSettings, *, device_id: str) -> bool:
    """Take the device's credential away (the device stays registered); False when there is no such device.

    After the reload the broker refuses the old password and disconnects a session still using it.
    """
    if not store_devices.set_password_hash(conn, device_id=device_id, mqtt_password_hash=None):
        conn.rollback()
        return False
    conn.commit()
    _remove_from_broker(mqtt, device_id)
    return True


def retire(conn: psycopg.Connection[Any], mqtt: MqttSettings, *, device_id: str) -> bool:
    """Retire the device and remove its broker credential; False when there is no such device."""
    if not store_devices.retire(conn, device_id=device_id):
        conn.rollback()
        return False
    conn.commit()
    _remove_from_broker(mqtt, device_id)
    return True


def create_claim(
    conn: psycopg.Connection[Any],
    *,
    device_id: str,
    kind: DeviceKind,
    site_id: str,
    created_by: str,
    valid_for: timedelta,
    name: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    mobile: bool = False,
    expected_interval_s: float = 10.0,
    firmware: str | None = None,
) -> tuple[Claim, str]:
    """A single-use claim code for a device, registering the device (without credential) if it is new; commits.

    For a device already registered the code hands over a fresh credential (a replaced or re-flashed unit); its
    registry fields are left as they are.
    """
    existing = store_devices.get(conn, device_id=device_id)
    if existing is None:
        register_device(
            conn,
            device_id=device_id,
            kind=kind,
            site_id=site_id,
            name=name,
            lat=lat,
            lon=lon,
            mobile=mobile,
            expected_interval_s=expected_interval_s,
            firmware=firmware,
        )
    elif existing.status != "active":
        raise ProvisioningError(f"device {device_id!r} is retired")
    elif existing.site_id != site_id:
        raise ProvisioningError(f"device {device_id!r} belongs to site {existing.site_id!r}")
    try:
        claim, code = store_claims.create(
            conn, device_id=device_id, site_id=site_id, created_by=created_by, valid_for=valid_for
        )
    except ValueError as exc:
        conn.rollback()
        raise ProvisioningError(str(exc)) from None
    conn.commit()
    return claim, code


def redeem_claim(
    conn: psycopg.Connection[Any], mqtt: MqttSettings, *, code: str, client: str
) -> tuple[ClaimState, Credentials | None]:
    """Exchange a claim code for the device's new credentials, once, inside the code's window; commits.

    The returned state says why nothing was handed out (unknown, expired or already used code).
    """
    state, claim = store_claims.redeem(conn, code=code, by=client)
    device = store_devices.get(conn, device_id=claim.device_id) if claim is not None else None
    if state is not ClaimState.REDEEMED or device is None or device.status != "active":
        conn.rollback()
        store_claims.record_attempt(conn, client=client, ok=False)
        conn.commit()
        return (state if state is not ClaimState.REDEEMED else ClaimState.UNKNOWN), None
    password = mqtt_auth.generate_password()
    hashed = mqtt_auth.hash_password(password)
    store_devices.set_password_hash(conn, device_id=device.device_id, mqtt_password_hash=hashed)
    store_claims.record_attempt(conn, client=client, ok=True)
    conn.commit()
    reloaded = _apply_broker(mqtt, {device.device_id: hashed})
    return state, _credentials(mqtt, device.device_id, password, reloaded)


def sync_broker(conn: psycopg.Connection[Any], mqtt: MqttSettings) -> int:
    """Make the broker's device entries equal the registry's (service users are kept) and its ACL the current
    one; returns the device count."""
    if mqtt.password_file is None:
        raise ProvisioningError("KIPSENSE_MQTT_PASSWORD_FILE is not set")
    hashes = store_devices.password_hashes(conn)
    current = mqtt_auth.read_users(mqtt.password_file)
    services = {u: h for u, h in current.items() if u.startswith(mqtt_auth.INGEST_USER_PREFIX)}
    mqtt_auth.replace_all(mqtt.password_file, {**services, **hashes})
    if mqtt.acl_file is not None:
        mqtt_auth.write_acl(mqtt.acl_file)  # the ACL rules of this version (an upgrade may have changed them)
    mqtt_auth.reload_broker(mqtt.pid_file)
    return len(hashes)
