"""Per-device credentials and ACL isolation on the real broker (password file, pattern ACL, SIGHUP reload)."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from kipsense import mqtt_auth
from kipsense.provisioning import Credentials, ProvisioningError, create_device, retire, revoke, rotate
from kipsense.records import DeviceKind
from kipsense.settings import MqttSettings
from store import quarantine, readings
from store.db import connect
from tests.support import DeviceSession, running_worker, wait_until


def _reading(ts: datetime, seq: int, pm10: float = 20.0) -> bytes:
    return json.dumps({"ts": ts.isoformat(), "seq": seq, "pm10": pm10, "pm25": pm10 / 2}).encode()


class Probe:
    """A raw client that records its CONNACK, SUBACK and disconnects."""

    def __init__(self, host: str, port: int, *, client_id: str, username: str | None, password: str | None) -> None:
        self.connack: ReasonCode | None = None
        self.suback: list[ReasonCode] = []
        self.disconnected = threading.Event()
        self.answered = threading.Event()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        self.answered.wait(10)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: ReasonCode, props: Any) -> None:
        self.connack = reason
        if reason.is_failure:
            client.disconnect()  # no reconnect attempts with refused credentials
        self.answered.set()

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reasons: list[ReasonCode], props: Any) -> None:
        self.suback = reasons
        self.subscribed.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.disconnected.set()
        self.answered.set()

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    @property
    def accepted(self) -> bool:
        return self.connack is not None and not self.connack.is_failure

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        # paho keeps its wake-up socket pair until garbage collection; close it now.
        self.client._reset_sockets()


def _probe(m: MqttSettings, creds: Credentials | None, *, client_id: str = "", password: str | None = None) -> Probe:
    if creds is None:
        return Probe(m.host, m.port, client_id=client_id or "anonymous-probe", username=None, password=None)
    return Probe(
        m.host,
        m.port,
        client_id=client_id or creds.username,
        username=creds.username,
        password=password or creds.password,
    )


@pytest.fixture
def pair(database_url: str, mqtt_settings: MqttSettings, uid: str) -> tuple[Credentials, Credentials]:
    with connect(database_url) as conn:
        a = create_device(conn, mqtt_settings, device_id=f"{uid}-a", kind=DeviceKind.DUST)
        b = create_device(conn, mqtt_settings, device_id=f"{uid}-b", kind=DeviceKind.DUST)
    assert a.reloaded and b.reloaded
    return a, b


def test_device_cannot_write_as_another_device(
    pair: tuple[Credentials, Credentials], database_url: str, mqtt_settings: MqttSettings, uid: str
) -> None:
    a, b = pair
    ts = datetime.now(UTC) - timedelta(minutes=1)
    with running_worker(mqtt_settings, database_url, group=uid):
        dev = _probe(mqtt_settings, a)
        try:
            dev.publish(f"sensors/{b.device_id}/json", _reading(ts, 1))  # refused by the ACL
            forged = json.dumps({"device_id": b.device_id, "ts": ts.isoformat(), "pm10": 5}).encode()
            dev.publish(f"sensors/{a.device_id}/json", forged)  # claims B in the payload: quarantined
            dev.publish(f"sensors/{a.device_id}/json", _reading(ts + timedelta(seconds=10), 2))
            assert not dev.disconnected.is_set()
        finally:
            dev.close()
        with connect(database_url) as conn:
            wait_until(lambda: quarantine.recent(conn, device_id=a.device_id))
            wait_until(lambda: readings.count(conn, table="dust_readings", device_id=a.device_id) == 1)
            assert readings.count(conn, table="dust_readings", device_id=b.device_id) == 0


def test_device_cannot_read_the_park(
    pair: tuple[Credentials, Credentials], database_url: str, mqtt_settings: MqttSettings, uid: str
) -> None:
    # Mosquitto's ACL file grants a SUBSCRIBE and checks read rights on every delivery, so a device's
    # `sensors/#` subscription stays empty while the ingest service (read access) gets the same traffic.
    a, b = pair
    snoop = _probe(mqtt_settings, a)
    got: list[str] = []
    snoop.client.on_message = lambda c, u, msg: got.append(msg.topic)
    try:
        assert snoop.accepted
        snoop.client.subscribe([("sensors/#", 1), ("spBv1.0/#", 1), ("#", 1)])
        assert snoop.subscribed.wait(10)
        ts = datetime.now(UTC) - timedelta(minutes=1)
        with running_worker(mqtt_settings, database_url, group=uid):
            other = DeviceSession(b)
            try:
                for i in range(3):
                    other.publish(_reading(ts + timedelta(seconds=i), i))
            finally:
                other.close()
            with connect(database_url) as conn:
                wait_until(lambda: readings.count(conn, table="dust_readings", device_id=b.device_id) == 3)
        time.sleep(0.3)
        assert got == []
    finally:
        snoop.close()


@pytest.mark.parametrize(
    "device_id",
    ["a+b", "a#", "sensors/x", "Upper", " lead", "", "a:b", "a\nb", "x" * 64, "-lead", "kipsense-ingest-0", "é"],
)
def test_unsafe_usernames_are_refused(database_url: str, mqtt_settings: MqttSettings, device_id: str) -> None:
    with connect(database_url) as conn, pytest.raises(ProvisioningError, match="device id"):
        create_device(conn, mqtt_settings, device_id=device_id, kind=DeviceKind.DUST)
    assert mqtt_settings.password_file is not None
    assert device_id not in mqtt_auth.read_users(mqtt_settings.password_file) or device_id == "kipsense-ingest-0"


def test_reused_client_id_neither_kicks_nor_hijacks(
    pair: tuple[Credentials, Credentials], database_url: str, mqtt_settings: MqttSettings, uid: str
) -> None:
    a, b = pair
    victim = _probe(mqtt_settings, a)
    intruder = _probe(mqtt_settings, b, client_id=a.device_id)  # B's credentials, A's client id
    try:
        assert victim.accepted and intruder.accepted
        time.sleep(0.5)
        assert not victim.disconnected.is_set(), "the victim's session was taken over"
        assert victim.client.is_connected()
        # The broker took the intruder's id from its username: it is B, and cannot write as A.
        ts = datetime.now(UTC) - timedelta(seconds=30)
        with running_worker(mqtt_settings, database_url, group=uid):
            intruder.client.publish(f"sensors/{a.device_id}/json", _reading(ts, 1), qos=1).wait_for_publish(10)
            intruder.client.publish(f"sensors/{b.device_id}/json", _reading(ts, 1), qos=1).wait_for_publish(10)
            with connect(database_url) as conn:
                wait_until(lambda: readings.count(conn, table="dust_readings", device_id=b.device_id) == 1)
                assert readings.count(conn, table="dust_readings", device_id=a.device_id) == 0
        assert not victim.disconnected.is_set()
    finally:
        intruder.close()
        victim.close()


def test_anonymous_and_wrong_password_are_refused(
    pair: tuple[Credentials, Credentials], mqtt_settings: MqttSettings
) -> None:
    a, b = pair
    anonymous = _probe(mqtt_settings, None)
    wrong = _probe(mqtt_settings, a, password=b.password)
    try:
        assert not anonymous.accepted
        assert not wrong.accepted
    finally:
        anonymous.close()
        wrong.close()


def test_rotated_credential_is_refused_after_reload(
    pair: tuple[Credentials, Credentials], database_url: str, mqtt_settings: MqttSettings
) -> None:
    a, _ = pair
    with connect(database_url) as conn:
        new = rotate(conn, mqtt_settings, device_id=a.device_id)
    assert new.reloaded and new.password != a.password
    wait_until(lambda: not _connects(mqtt_settings, a), timeout=10)
    assert _connects(mqtt_settings, new)


def test_revoked_credential_is_refused_and_its_session_closed(
    pair: tuple[Credentials, Credentials], database_url: str, mqtt_settings: MqttSettings
) -> None:
    a, b = pair
    live = _probe(mqtt_settings, a)
    try:
        assert live.accepted
        with connect(database_url) as conn:
            assert revoke(conn, mqtt_settings, device_id=a.device_id)
            assert retire(conn, mqtt_settings, device_id=b.device_id)
            assert not revoke(conn, mqtt_settings, device_id="no-such-device")
        assert live.disconnected.wait(10), "a revoked device kept its session"
        assert not _connects(mqtt_settings, a)
        assert not _connects(mqtt_settings, b)
        with connect(database_url) as conn, pytest.raises(ProvisioningError, match="no active device"):
            rotate(conn, mqtt_settings, device_id=b.device_id)
    finally:
        live.close()


def _connects(m: MqttSettings, creds: Credentials) -> bool:
    probe = _probe(m, creds)
    try:
        return probe.accepted
    finally:
        probe.close()
