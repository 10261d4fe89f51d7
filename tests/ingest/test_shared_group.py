"""No device can join, guess or disturb the ingest workers' shared subscription (real broker, real database).

Mosquitto's ACL file grants every SUBSCRIBE and checks read rights only on delivery: a device that joined the
workers' group made the broker drop each message it handed to that device (100 of 200 readings were lost
with one attacker). The group name is now derived from the ingest secret, so no device can know it.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ingest.worker import IngestWorker
from kipsense import mqtt_auth
from kipsense.provisioning import Credentials, create_device
from kipsense.records import DeviceKind
from kipsense.settings import IngestSettings, MqttSettings
from store import readings
from store.db import connect
from tests.support import DeviceSession, discard_session, running_worker, wait_until

N = 200


class Subscriber:
    """A client that subscribes to filters and records SUBACK codes and every message it is given."""

    def __init__(self, m: MqttSettings, *, username: str, password: str, session_expiry_s: int = 0) -> None:
        self.suback: list[ReasonCode] = []
        self.received: list[str] = []
        self._subscribed = threading.Event()
        self._connected = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=username, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(username, password)
        self.client.on_connect = lambda c, u, f, reason, p: self._connected.set()
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = lambda c, u, msg: self.received.append(msg.topic)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = session_expiry_s
        self.client.connect(m.host, m.port, keepalive=30, clean_start=True, properties=props)
        self.client.loop_start()
        assert self._connected.wait(10)

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reasons: list[ReasonCode], props: Any) -> None:
        self.suback = reasons
        self._subscribed.set()

    def subscribe(self, filters: list[str]) -> list[ReasonCode]:
        self._subscribed.clear()
        self.client.subscribe([(f, 1) for f in filters])
        assert self._subscribed.wait(10), "no SUBACK"
        return self.suback

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self.client._reset_sockets()


def _readings(start: datetime) -> list[bytes]:
    return [
        json.dumps({"ts": (start + timedelta(seconds=i)).isoformat(), "seq": i, "pm10": 10.0 + i % 7}).encode()
        for i in range(N)
    ]


def _filters(label: str, victim: str, attacker: str) -> list[list[str]]:
    """Every group name and filter a device could know or guess, spread over the attackers."""
    topics = ["sensors/+/+", "sensors/#", f"sensors/{victim}/+", f"sensors/{victim}/json", "#"]
    known = [label, "ingest", "kipsense", "kipsense-ingest", "kipsense-ingest-0", "kipsense-ingest-1", attacker]
    guessed = [mqtt_auth.share_group_name(label, guess) for guess in ("ingest", "changeme", attacker, label)]
    shared = [f"$share/{g}/{t}" for g in [*known, *guessed] for t in topics]
    plain = ["#", "sensors/#", "sensors/+/+", f"sensors/{victim}/#", "spBv1.0/#", "spBv1.0/+/NCMD/+", "$SYS/#"]
    plain.append(f"$share/{label}/spBv1.0/#")
    return [shared[0::2], shared[1::2], plain]


@pytest.fixture
def devices(database_url: str, mqtt_settings: MqttSettings, uid: str) -> tuple[Credentials, list[Credentials]]:
    with connect(database_url) as conn:
        victim = create_device(conn, mqtt_settings, device_id=f"{uid}-victim", kind=DeviceKind.DUST)
        attackers = [
            create_device(conn, mqtt_settings, device_id=f"{uid}-x{i}", kind=DeviceKind.DUST) for i in range(3)
        ]
    return victim, attackers


def _attack(
    mqtt_settings: MqttSettings, label: str, victim: Credentials, attackers: list[Credentials]
) -> list[Subscriber]:
    subs = []
    for creds, filters in zip(attackers, _filters(label, victim.device_id, attackers[0].device_id), strict=True):
        sub = Subscriber(mqtt_settings, username=creds.username, password=creds.password)
        codes = sub.subscribe(filters)
        assert len(codes) == len(filters)  # each one granted or refused: either way it must be harmless
        subs.append(sub)
    return subs


def _publish_and_count(database_url: str, victim: Credentials) -> int:
    device = DeviceSession(victim)
    try:
        device.publish_many(_readings(datetime.now(UTC) - timedelta(minutes=30)))
    finally:
        device.close()
    with connect(database_url) as conn:

        def stored() -> int:
            return readings.count(conn, table="dust_readings", device_id=victim.device_id)

        try:
            wait_until(lambda: stored() == N, timeout=15)
        except AssertionError:
            pass  # the count below says how many arrived
        return stored()


def test_devices_cannot_join_or_disturb_the_ingest_group(
    devices: tuple[Credentials, list[Credentials]], database_url: str, mqtt_settings: MqttSettings, uid: str
) -> None:
    victim, attackers = devices
    with running_worker(mqtt_settings, database_url, group=uid) as worker:
        assert worker.share_group.startswith(f"{uid}-") and len(worker.share_group) > len(uid) + 30
        subs = _attack(mqtt_settings, uid, victim, attackers)
        try:
            stored = _publish_and_count(database_url, victim)
        finally:
            for sub in subs:
                sub.close()
    assert stored == N, f"{stored} of {N} readings stored with attackers subscribed"
    assert all(not any(victim.device_id in t for t in sub.received) for sub in subs)


def test_a_worker_leaves_the_group_its_session_joined_before(
    devices: tuple[Credentials, list[Credentials]], database_url: str, mqtt_settings: MqttSettings, uid: str
) -> None:
    # A worker session left by an earlier version is still subscribed to the bare label; once the new worker
    # connects to that session it must leave it, or an attacker joining the label still takes messages.
    victim, attackers = devices
    username = "kipsense-ingest-2"
    discard_session(mqtt_settings, username)
    assert mqtt_settings.password is not None
    old = Subscriber(
        mqtt_settings, username=username, password=mqtt_settings.password.get_secret_value(), session_expiry_s=60
    )
    old.subscribe([f"$share/{uid}/sensors/+/+"])
    old.close()
    worker = IngestWorker(
        settings=IngestSettings(share_group=uid, session_expiry_s=30),
        mqtt_settings=mqtt_settings.model_copy(update={"username": username}),
        database_url=database_url,
        client_id=username,
    )
    worker.start()
    try:
        wait_until(worker.connected.is_set, timeout=10)
        time.sleep(0.3)  # let the SUBACK and UNSUBACK land
        attacker = Subscriber(mqtt_settings, username=attackers[0].username, password=attackers[0].password)
        try:
            attacker.subscribe([f"$share/{uid}/sensors/+/+"])
            stored = _publish_and_count(database_url, victim)
        finally:
            attacker.close()
    finally:
        worker.stop()
        discard_session(mqtt_settings, username)
    assert stored == N, f"{stored} of {N} readings stored"
