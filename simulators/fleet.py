"""The simulated fleet as registered devices: who they are, and their broker credentials across restarts.

Passwords are shown once at provisioning, so the simulator keeps them in a private file (mode 0600) and
reuses them on the next start. A password that no longer matches the registry or the broker (rotated by an
operator, database or broker rebuilt) is replaced by rotating the device's credentials. Several simulator
processes may share one file (``make run`` starts three); a lock file serialises their updates.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from kipsense import mqtt_auth
from kipsense.provisioning import ProvisioningError, create_device, rotate
from kipsense.records import DeviceKind
from kipsense.settings import MqttSettings
from simulators.dust import DustNetwork
from store import devices as store_devices


@dataclass(frozen=True, slots=True)
class SimDevice:
    """A simulated device as the registry should know it."""

    device_id: str
    kind: DeviceKind
    lat: float | None = None
    lon: float | None = None
    mobile: bool = False
    expected_interval_s: float = 10.0


def dust_devices(network: DustNetwork, interval_s: float) -> list[SimDevice]:
    """The network's fixed and mobile dust sensors and its met stations."""
    layout = network.layout
    fixed = {s.device_id: s for s in layout.sensors}
    out = [
        SimDevice(d, DeviceKind.DUST, lat=s.lat, lon=s.lon, expected_interval_s=interval_s)
        if (s := fixed.get(d)) is not None
        else SimDevice(d, DeviceKind.DUST, mobile=True, expected_interval_s=interval_s)
        for d in network.device_ids
    ]
    out += [
        SimDevice(m.device_id, DeviceKind.MET, lat=m.lat, lon=m.lon, expected_interval_s=interval_s)
        for m in layout.met_stations
    ]
    return out


def devices_of_kind(device_ids: Sequence[str], kind: DeviceKind, interval_s: float) -> list[SimDevice]:
    """Cycler channels or process lines: devices without a position."""
    return [SimDevice(d, kind, expected_interval_s=interval_s) for d in device_ids]


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_name(path.name + ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _valid(password: str, hashed: str | None, broker: dict[str, str], device_id: str, check_broker: bool) -> bool:
    if hashed is None or not mqtt_auth.verify_password(password, hashed):
        return False
    return not check_broker or broker.get(device_id) == hashed


def ensure_credentials(
    conn: psycopg.Connection[Any], mqtt: MqttSettings, devices: Sequence[SimDevice], store: Path
) -> dict[str, str]:
    """device_id -> password for every simulated device, provisioning or rotating where needed.

    Raises ``ProvisioningError`` when a device id belongs to a retired device (it cannot be reused).
    """
    with _locked(store):
        known: dict[str, str] = json.loads(store.read_text()) if store.exists() else {}
        hashes = store_devices.password_hashes(conn)
        check_broker = mqtt.password_file is not None and mqtt.password_file.exists()
        broker = mqtt_auth.read_users(mqtt.password_file) if check_broker and mqtt.password_file else {}
        out: dict[str, str] = {}
        for dev in devices:
            password = known.get(dev.device_id)
            if password is not None and _valid(
                password, hashes.get(dev.device_id), broker, dev.device_id, check_broker
            ):
                out[dev.device_id] = password
                continue
            existing = store_devices.get(conn, device_id=dev.device_id)
            if existing is None:
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
            elif existing.status != "active":
                raise ProvisioningError(f"simulated device {dev.device_id!r} is {existing.status}; use another prefix")
            else:
                creds = rotate(conn, mqtt, device_id=dev.device_id)
            out[dev.device_id] = creds.password
        tmp = store.with_name(store.name + ".tmp")
        tmp.write_text(json.dumps({**known, **out}, indent=1, sort_keys=True))
        tmp.chmod(0o600)
        tmp.replace(store)
    return out
