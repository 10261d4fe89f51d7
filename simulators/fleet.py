"""Provisioned credentials for simulated devices, kept in a private file so restarts reuse them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from kipsense import mqtt_auth
from kipsense.provisioning import create_device, rotate
from kipsense.records import DeviceKind
from kipsense.settings import MqttSettings
from store import devices as store_devices


@dataclass(frozen=True, slots=True)
class SimDevice:
    device_id: str
    kind: DeviceKind
    lat: float | None = None
    lon: float | None = None
    mobile: bool = False
    expected_interval_s: float = 10.0


def ensure_credentials(
    conn: psycopg.Connection[Any], mqtt: MqttSettings, devices: list[SimDevice], store: Path
) -> dict[str, str]:
    """device_id -> password for every simulated device, provisioning or rotating where needed."""
    known: dict[str, str] = json.loads(store.read_text()) if store.exists() else {}
    hashes = store_devices.password_hashes(conn)
    broker = mqtt_auth.read_users(mqtt.password_file) if mqtt.password_file and mqtt.password_file.exists() else {}
    out: dict[str, str] = {}
    for dev in devices:
        password = known.get(dev.device_id)
        hashed = hashes.get(dev.device_id)
        if (
            password is not None
            and hashed is not None
            and mqtt_auth.verify_password(password, hashed)
            and broker.get(dev.device_id) == hashed
        ):
            out[dev.device_id] = password
            continue
        if store_devices.get(conn, device_id=dev.device_id) is None:
            creds = create_device(
                conn,
                mqtt,
                device_id=dev.device_id,
                kind=dev.kind,
                lat=dev.lat,
                lon=dev.lon,
                mobile=dev.mobile,
                expected_interval_s=dev.expected_interval_s,
                name=f"simulated {dev.kind.value}",
            )
        else:
            creds = rotate(conn, mqtt, device_id=dev.device_id)
        out[dev.device_id] = creds.password
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text(json.dumps({**known, **out}, indent=1))
    store.chmod(0o600)
    return out
