"""Idle sockets that never send CONNECT cannot lock devices out of the local broker (issue 13, item 11)."""

from __future__ import annotations

import resource
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from kipsense import mqtt_auth
from kipsense.provisioning import create_device
from kipsense.records import DeviceKind
from kipsense.settings import MqttSettings
from kipsense.stack.mosquitto import FD_RESERVE, LocalMosquitto
from kipsense.stack.ports import free_port_from
from kipsense.stack.runner import service_user
from store.db import connect

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[2]
IDLE = 2000  # well over the 1024 open files a broker gets by default


# The idle sockets live in a process of their own, as an attacker's would: this one keeps its descriptors
# low, since paho's network loop uses select(), which cannot watch a descriptor above 1023.
_HOLDER = """
import resource, socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft < n + 64:
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(n + 64, hard), hard))
socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(n)]
print(len(socks), flush=True)
sys.stdin.read()
"""


@contextmanager
def _idle_sockets(port: int, n: int) -> Iterator[None]:
    """``n`` TCP connections to the broker that never send a byte, held until the block ends."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < n + 64:
        pytest.skip(f"a process may open only {hard} files here")
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(port), str(n)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        opened = holder.stdout.readline().strip()
        assert opened == str(n), (
            f"the holder opened {opened or 'nothing'}: {holder.stderr.read() if holder.stderr else ''}"
        )
        yield
    finally:
        holder.communicate(timeout=30)


def _connect_and_publish(host: str, port: int, username: str, password: str, topic: str) -> str:
    """'published' when the broker accepted the login and acknowledged a QoS 1 message, else what went wrong."""
    connected = threading.Event()
    result: dict[str, Any] = {}
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=username, protocol=mqtt.MQTTv5)
    client.username_pw_set(username, password)

    def on_connect(c: Any, u: Any, flags: Any, reason: Any, props: Any) -> None:
        result["reason"] = str(reason)
        connected.set()

    client.on_connect = on_connect
    try:
        client.connect(host, port, keepalive=30)
    except OSError as exc:
        return f"connect failed: {exc}"
    client.loop_start()
    try:
        if not connected.wait(10):
            return "no CONNACK within 10 s"
        if result["reason"] != "Success":
            return f"refused: {result['reason']}"
        info = client.publish(topic, b'{"pm10": 12.5}', qos=1)
        info.wait_for_publish(timeout=10)
        return "published" if info.is_published() else "no PUBACK within 10 s"
    finally:
        client.disconnect()
        client.loop_stop()
        client._reset_sockets()


def test_a_device_connects_past_2000_idle_sockets(
    stack_env: dict[str, str], mqtt_settings: MqttSettings, database_url: str, uid: str
) -> None:
    with connect(database_url) as conn:
        creds = create_device(conn, mqtt_settings, device_id=f"{uid}-dev", kind=DeviceKind.DUST)
        conn.commit()
    pid = int(Path(stack_env["KIPSENSE_MQTT_PID_FILE"]).read_text().strip())
    limits = Path(f"/proc/{pid}/limits").read_text()
    open_files = next(int(line.split()[3]) for line in limits.splitlines() if line.startswith("Max open files"))
    assert open_files > IDLE + FD_RESERVE, "the broker's open-file limit was not raised"
    with _idle_sockets(creds.port, IDLE):
        outcome = _connect_and_publish(creds.host, creds.port, creds.username, creds.password, creds.topic)
    assert outcome == "published"


@pytest.fixture
def small_broker(stack_env: dict[str, str]) -> Iterator[tuple[LocalMosquitto, str]]:
    """A broker of its own with room for only 200 open files (the shared test broker is left alone)."""
    directory = ROOT / ".local" / "test" / f"limits-{threading.get_native_id()}"
    port = free_port_from(20_000, set())
    broker = LocalMosquitto(
        dir=directory, port=port, user=service_user(), tls_port=free_port_from(port + 1, {port}), open_files=200
    )
    password = mqtt_auth.generate_password()
    directory.mkdir(parents=True, exist_ok=True)
    broker.write_config(mqtt_auth.hash_password(password))
    broker.start()
    try:
        yield broker, password
    finally:
        broker.stop()
        shutil.rmtree(directory, ignore_errors=True)


def test_a_full_listener_refuses_sockets_and_the_broker_keeps_serving(small_broker: tuple[LocalMosquitto, str]) -> None:
    broker, password = small_broker
    per_listener = broker.max_connections(200)
    assert per_listener == (200 - FD_RESERVE) // 2
    conf = (broker.dir / "mosquitto.conf").read_text()
    assert conf.count(f"max_connections {per_listener}") == 2  # plain and TLS listener
    user = mqtt_auth.ingest_usernames()[0]
    with _idle_sockets(broker.port, per_listener):
        # The listener is full: one more socket is accepted by the kernel and closed by the broker at once,
        # instead of the broker running out of descriptors for everyone.
        with socket.create_connection(("127.0.0.1", broker.port), timeout=5) as extra:
            extra.settimeout(5)
            assert extra.recv(1) == b""
    # The idle sockets are gone: the broker serves again (it never hit its own open-file limit).
    assert _connect_and_publish("127.0.0.1", broker.port, user, password, "sensors/x/json") == "published"
