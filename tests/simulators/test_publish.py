"""The simulated clock never runs ahead of the wall clock; a Sparkplug edge node births, sends data, dies."""

from __future__ import annotations

import queue
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from ingest.decoders import TimeWindow
from ingest.decoders.sparkplug import OFFLINE, ONLINE, SparkplugDecoder
from kipsense.provisioning import create_device
from kipsense.records import DeviceKind
from kipsense.settings import MqttSettings
from simulators.publish import SimClock, SparkplugNode, simulated_start
from store.db import connect
from tests.support import wait_until

WALL0 = 1_800_000_000.0


class FakeTime:
    def __init__(self) -> None:
        self.elapsed = 0.0

    def wall(self) -> float:
        return WALL0 + self.elapsed

    def monotonic(self) -> float:
        return 500.0 + self.elapsed


def test_the_simulated_clock_replays_history_fast_then_follows_the_wall_clock() -> None:
    t = FakeTime()
    start = datetime.fromtimestamp(WALL0, tz=UTC) - timedelta(seconds=900)
    clock = SimClock(start, 10.0, wall=t.wall, monotonic=t.monotonic)
    assert clock.due(start) == 500.0
    assert clock.due(start + timedelta(seconds=500)) == 550.0  # ten times faster while behind
    assert clock.due(start + timedelta(seconds=2000)) == 500.0 + 1100.0  # then no faster than real time
    for offset in np.linspace(0.0, 5000.0, 101):
        sim = start + timedelta(seconds=float(offset))
        t.elapsed = clock.due(sim) - 500.0
        assert sim.timestamp() <= t.wall() + 1e-6  # a step is never sent before its time has come


def test_waiting_respects_stop_and_the_run_duration() -> None:
    t = FakeTime()
    now = datetime.fromtimestamp(WALL0, tz=UTC)
    clock = SimClock(now, 1.0, wall=t.wall, monotonic=t.monotonic)
    stop = threading.Event()
    assert clock.wait_until(now, stop)
    assert not clock.wait_until(now + timedelta(hours=1), stop, within_s=60.0)  # returns at once
    stop.set()
    assert not clock.wait_until(now + timedelta(seconds=1), stop)


def test_simulated_start_is_never_in_the_future() -> None:
    now = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    assert simulated_start(1.0, timedelta(hours=5), now=now) == now
    assert simulated_start(288.0, timedelta(days=1), now=now) == now - timedelta(days=1)
    assert simulated_start(10.0, timedelta(0), now=now) == now


def _listener(mqtt_settings: MqttSettings, topic: str) -> tuple[mqtt.Client, queue.Queue[Any]]:
    got: queue.Queue[Any] = queue.Queue()
    username = "kipsense-ingest-13"  # a service account that may read spBv1.0/#
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=username, protocol=mqtt.MQTTv5)
    assert mqtt_settings.password is not None
    client.username_pw_set(username, mqtt_settings.password.get_secret_value())
    subscribed = threading.Event()
    client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda *a: subscribed.set()
    client.on_message = lambda c, u, msg: got.put((msg.topic, msg.payload))
    client.connect(mqtt_settings.host, mqtt_settings.port)
    client.loop_start()
    assert subscribed.wait(10)
    return client, got


def test_sparkplug_node_births_sends_by_alias_and_leaves_its_death_as_will(
    database_url: str, mqtt_settings: MqttSettings, uid: str
) -> None:
    with connect(database_url) as conn:
        creds = create_device(conn, mqtt_settings, device_id=f"{uid}-line", kind=DeviceKind.PROCESS)
    listener, got = _listener(mqtt_settings, f"spBv1.0/{uid}/#")
    tags = ("reactor_ph", "reactor_temp")
    t0 = round(datetime.now(UTC).timestamp() * 1000) - 60_000
    decoder = SparkplugDecoder()
    window = TimeWindow()

    def receive(n: int) -> list[Any]:
        out = []
        for _ in range(n):
            topic, payload = got.get(timeout=10)
            out.append(
                (topic.split("/")[2], decoder.decode(topic, payload, received_at=datetime.now(UTC), window=window))
            )
        return out

    try:
        node = SparkplugNode(mqtt_settings, creds.device_id, creds.password, group=uid, tags=tags)
        wait_until(node.connected.is_set, timeout=10)
        sent = [node.publish_row(t0 + i * 10_000, [11.3 + i, float("nan") if i == 2 else 55.0]) for i in range(4)]
        assert sent == [1, 1, 1, 1]
        node.close()
        msgs = receive(5)
        assert [kind for kind, _ in msgs] == ["NBIRTH", "NDATA", "NDATA", "NDATA", "NDEATH"]
        assert all(r.seq_gaps == 0 for _, r in msgs)
        values = [(v.tag, v.value) for _, r in msgs for v in r.records]
        assert values.count(("reactor_temp", 55.0)) == 3 and ("reactor_ph", 13.3) in values
        events = [e.event for _, r in msgs for e in r.events]
        assert events[0] == ONLINE and events[-1] == OFFLINE

        # An unclean end: the broker publishes the will, whose bdSeq matches the birth it ends.
        node = SparkplugNode(mqtt_settings, creds.device_id, creds.password, group=uid, tags=tags)
        wait_until(node.connected.is_set, timeout=10)
        assert node.publish_row(t0 + 50_000, [11.0, 55.5]) == 1
        wait_until(lambda: node.flush(1.0), timeout=10)
        node._client.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message"))
        node._client.loop_stop()
        birth, death = receive(2)
        assert (birth[0], death[0]) == ("NBIRTH", "NDEATH")
        assert [e.event for e in death[1].events] == [OFFLINE]  # the decoder accepted the bdSeq as current
    finally:
        listener.disconnect()
        listener.loop_stop()
