"""Helpers for tests against the real broker and database: devices that publish, waiting for rows."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.worker import IngestWorker
from kipsense.provisioning import Credentials
from kipsense.settings import IngestSettings, MqttSettings


class DeviceSession:
    """A device connected with its own credentials; ``publish`` waits for the broker's PUBACK."""

    def __init__(self, creds: Credentials) -> None:
        self.device_id = creds.device_id
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=creds.username, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(creds.username, creds.password)
        self.client.max_inflight_messages_set(200)
        self.client.max_queued_messages_set(0)
        self.client.connect(creds.host, creds.port, keepalive=30)
        self.client.loop_start()

    def publish(self, payload: bytes | str, *, fmt: str = "json", topic: str | None = None) -> None:
        info = self.client.publish(topic or f"sensors/{self.device_id}/{fmt}", payload, qos=1)
        info.wait_for_publish(timeout=10)

    def publish_many(self, payloads: list[bytes], *, fmt: str = "json") -> None:
        infos = [self.client.publish(f"sensors/{self.device_id}/{fmt}", p, qos=1) for p in payloads]
        for info in infos:
            info.wait_for_publish(timeout=30)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait_until(condition: Callable[[], Any], *, timeout: float = 20.0, interval: float = 0.1) -> Any:
    """Poll ``condition`` until it returns something truthy; fail with a clear message on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")
        time.sleep(interval)


def discard_session(mqtt_settings: MqttSettings, username: str) -> None:
    """Drop the broker's persistent session of ``username`` (subscriptions and queue left by earlier tests).

    Clean start with a session expiry of 0 leaves nothing behind. Not an empty session with a positive expiry
    for the next connection to take over: Mosquitto 2.0.11 crashed (segfault, seen three times in full runs)
    when the worker resumed such a session with ``clean_start=False`` right after it was left.
    """
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=username, protocol=mqtt.MQTTv5)
    password = mqtt_settings.password.get_secret_value() if mqtt_settings.password else None
    client.username_pw_set(username, password)
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 0
    client.connect(mqtt_settings.host, mqtt_settings.port, clean_start=True, properties=props)
    client.loop_start()
    wait_until(client.is_connected, timeout=10)
    client.disconnect()
    client.loop_stop()


@contextmanager
def running_worker(
    mqtt_settings: MqttSettings, database_url: str, *, group: str, slot: int = 1, **overrides: Any
) -> Iterator[IngestWorker]:
    """An ingest worker on its own subscription group with a short session expiry, stopped afterwards."""
    username = f"kipsense-ingest-{slot}"
    discard_session(mqtt_settings, username)
    settings = IngestSettings(share_group=group, session_expiry_s=30, **overrides)
    worker = IngestWorker(
        settings=settings,
        mqtt_settings=mqtt_settings.model_copy(update={"username": username}),
        database_url=database_url,
        client_id=username,
    )
    worker.start()
    try:
        wait_until(worker.connected.is_set, timeout=10)
        time.sleep(0.2)  # let the SUBACK land before tests publish
        yield worker
    finally:
        worker.stop()
