"""Provisioning a device: registry row, broker credential and reload, in that order.

The password is generated here, shown once to the caller and never stored in clear: the registry and the
broker's password file both keep only its ``$7$`` hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from kipsense import mqtt_auth
from kipsense.records import DeviceKind, is_valid_device_id
from kipsense.settings import MqttSettings
from store import devices as store_devices


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


def _apply_broker(mqtt: MqttSettings, users: dict[str, str]) -> bool:
    if mqtt.password_file is None:
        return False
    mqtt_auth.upsert_users(mqtt.password_file, users)
    return mqtt_auth.reload_broker(mqtt.pid_file)


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
    if not is_valid_device_id(device_id):
        raise ProvisioningError(
            f"device id {device_id!r} must be 1-63 characters of a-z, 0-9, '-' or '_' (it becomes the MQTT username)"
        )
    password = mqtt_auth.generate_password()
    hashed = mqtt_auth.hash_password(password)
    try:
        store_devices.create(
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
    except psycopg.errors.ForeignKeyViolation:
        conn.rollback()
        raise ProvisioningError(f"unknown site {site_id!r}") from None
    conn.commit()
    reloaded = _apply_broker(mqtt, {device_id: hashed})
    return Credentials(device_id, device_id, password, mqtt.host, mqtt.port, f"sensors/{device_id}/json", reloaded)


def rotate(conn: psycopg.Connection[Any], mqtt: MqttSettings, *, device_id: str) -> Credentials:
    """A new password for an existing active device; the old one stops working after the reload."""
    device = store_devices.get(conn, device_id=device_id)
    if device is None or device.status != "active":
        raise ProvisioningError(f"no active device {device_id!r}")
    password = mqtt_auth.generate_password()
    hashed = mqtt_auth.hash_password(password)
    store_devices.set_password_hash(conn, device_id=device_id, mqtt_password_hash=hashed)
    conn.commit()
    reloaded = _apply_broker(mqtt, {device_id: hashed})
    return Credentials(device_id, device_id, password, mqtt.host, mqtt.port, f"sensors/{device_id}/json", reloaded)


def revoke(conn: psycopg.Connection[Any], mqtt: MqttSettings, *, device_id: str) -> bool:
    """Retire the device and remove its broker credential; False when there is no such device."""
    if not store_devices.retire(conn, device_id=device_id):
        return False
    conn.commit()
    if mqtt.password_file is not None:
        mqtt_auth.remove_users(mqtt.password_file, [device_id])
        mqtt_auth.reload_broker(mqtt.pid_file)
    return True


def sync_broker(conn: psycopg.Connection[Any], mqtt: MqttSettings) -> int:
    """Make the broker's device entries equal the registry's (service users are kept); returns device count."""
    if mqtt.password_file is None:
        raise ProvisioningError("KIPSENSE_MQTT_PASSWORD_FILE is not set")
    hashes = store_devices.password_hashes(conn)
    current = mqtt_auth.read_users(mqtt.password_file)
    services = {u: h for u, h in current.items() if u.startswith(mqtt_auth.INGEST_USER_PREFIX)}
    mqtt_auth.replace_all(mqtt.password_file, {**services, **hashes})
    mqtt_auth.reload_broker(mqtt.pid_file)
    return len(hashes)
