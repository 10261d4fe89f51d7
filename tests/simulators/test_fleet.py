"""Simulated devices' credentials: provisioned once, reused across restarts, rotated when no longer valid."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from kipsense import mqtt_auth
from kipsense.provisioning import ProvisioningError, retire, revoke, rotate
from kipsense.records import DeviceKind
from kipsense.settings import MqttSettings
from simulators.dust import DustNetwork, DustNetworkConfig
from simulators.fleet import SimDevice, devices_of_kind, dust_devices, ensure_credentials
from simulators.publish import DeviceClient
from store import devices as store_devices
from store.db import connect


def _connects(mqtt: MqttSettings, device_id: str, password: str) -> bool:
    client = DeviceClient(mqtt, device_id, password)
    try:
        return client.connected.wait(10.0)
    finally:
        client.close()


def test_dust_fleet_lists_fixed_mobile_and_met_devices() -> None:
    net = DustNetwork(DustNetworkConfig(n_sensors=3, n_mobile=2, seed=1, device_prefix="q"))
    devices = {d.device_id: d for d in dust_devices(net, 5.0)}
    assert set(devices) == {"q-01", "q-02", "q-03", "q-m01", "q-m02", "met-01"}
    assert devices["q-01"].lat is not None and not devices["q-01"].mobile
    assert devices["q-m01"].mobile and devices["q-m01"].lat is None
    assert devices["met-01"].kind is DeviceKind.MET and devices["q-02"].expected_interval_s == 5.0


def test_credentials_are_reused_across_restarts_and_rotated_when_invalid(
    database_url: str, mqtt_settings: MqttSettings, uid: str, tmp_path: Path
) -> None:
    store = tmp_path / "sim" / "creds.json"
    fleet = devices_of_kind([f"{uid}-a", f"{uid}-b", f"{uid}-c", f"{uid}-d"], DeviceKind.CYCLER, 30.0)
    with connect(database_url) as conn:
        first = ensure_credentials(conn, mqtt_settings, fleet, store)
        assert set(first) == {d.device_id for d in fleet}
        assert stat.S_IMODE(store.stat().st_mode) == 0o600
        assert json.loads(store.read_text()) == first
        device = store_devices.get(conn, device_id=f"{uid}-a")
        assert device is not None and device.kind == "cycler" and device.expected_interval_s == 30.0

        # A restart reuses every password: nothing is rotated.
        assert ensure_credentials(conn, mqtt_settings, fleet, store) == first

        # An operator rotated one device and revoked another; the file is corrupted for a third; the broker
        # lost the fourth.
        rotate(conn, mqtt_settings, device_id=f"{uid}-a")
        assert revoke(conn, mqtt_settings, device_id=f"{uid}-d")
        store.write_text(json.dumps({**first, f"{uid}-b": "not-the-password"}))
        assert mqtt_settings.password_file is not None
        mqtt_auth.remove_users(mqtt_settings.password_file, [f"{uid}-c"])
        again = ensure_credentials(conn, mqtt_settings, fleet, store)
        hashes = store_devices.password_hashes(conn)
    for device_id in first:
        assert again[device_id] != first[device_id], device_id
        assert mqtt_auth.verify_password(again[device_id], hashes[device_id])
        assert _connects(mqtt_settings, device_id, again[device_id])
    assert json.loads(store.read_text()) == again


def test_a_retired_device_id_is_refused_with_a_clear_error(
    database_url: str, mqtt_settings: MqttSettings, uid: str, tmp_path: Path
) -> None:
    store = tmp_path / "creds.json"
    fleet = [SimDevice(f"{uid}-r", DeviceKind.DUST)]
    with connect(database_url) as conn:
        ensure_credentials(conn, mqtt_settings, fleet, store)
        assert retire(conn, mqtt_settings, device_id=f"{uid}-r")
        with pytest.raises(ProvisioningError, match="retired"):
            ensure_credentials(conn, mqtt_settings, fleet, store)
