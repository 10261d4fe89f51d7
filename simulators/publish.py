"""MQTT connections of simulated devices and the simulated clock that paces them.

Every device connects with its own credentials (client id = username = device id, as the broker enforces)
and publishes at QoS 1. A Sparkplug B edge node (:class:`SparkplugNode`) births its metrics with aliases,
then sends data by alias with a sequence number, and leaves its NDEATH with the broker as its MQTT will.

Time acceleration: :class:`SimClock` runs the simulated clock ``speed`` times faster than the wall clock but
never ahead of it. :func:`simulated_start` starts it a chosen stretch of history in the past; the stream
replays that history at ``speed`` until it catches up with "now" and runs in real time from then on.
Devices therefore never stamp a reading in the future, which the ingest path would refuse.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ingest.decoders.sparkplug import topic as sparkplug_topic
from kipsense.settings import MqttSettings
from simulators.encoders import is_rebirth_request, sparkplug_birth, sparkplug_data, sparkplug_death

log = logging.getLogger(__name__)


@dataclass
class PublishStats:
    """What a run sent: messages handed to the client library, and messages it could not send."""

    messages: int = 0
    steps: int = 0
    failed: int = 0


class _Connection:
    """One MQTT connection of a device, counting what it published and what the broker acknowledged."""

    def __init__(
        self, mqtt_settings: MqttSettings, device_id: str, password: str, *, will: tuple[str, bytes] | None = None
    ) -> None:
        self.device_id = device_id
        self._sent = 0
        self._done = 0
        self._acked = threading.Condition()
        self.connected = threading.Event()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id, protocol=mqtt.MQTTv5)
        client.username_pw_set(device_id, password)
        if mqtt_settings.tls_ca:
            client.tls_set(ca_certs=str(mqtt_settings.tls_ca))
        if will is not None:
            client.will_set(will[0], will[1], qos=1)
        client.max_inflight_messages_set(100)
        client.max_queued_messages_set(100_000)
        client.reconnect_delay_set(1, 30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        self._client = client
        client.connect_async(mqtt_settings.host, mqtt_settings.port, keepalive=30)
        client.loop_start()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.warning("%s: broker refused the connection: %s", self.device_id, reason)
        else:
            self.connected.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.connected.clear()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        """Messages to this device (none unless a subclass subscribes)."""

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        with self._acked:
            self._done += 1
            self._acked.notify_all()

    def publish_topic(self, topic: str, payload: bytes) -> bool:
        """Queue one QoS 1 message; False when the client library refused it (its queue is full)."""
        # Not under the lock: paho calls on_publish holding its own lock, which publish() takes too.
        info = self._client.publish(topic, payload, qos=1)
        ok = info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN)  # NO_CONN: queued until connected
        with self._acked:
            self._sent += ok
        return ok

    def flush(self, timeout: float) -> bool:
        """Wait until the broker acknowledged everything published so far."""
        deadline = time.monotonic() + timeout
        with self._acked:
            while self._done < self._sent:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._acked.wait(left)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Let queued messages reach the broker (up to ``timeout``), then disconnect cleanly."""
        if not self.flush(timeout):
            log.warning("%s: %d messages not acknowledged before disconnect", self.device_id, self._sent - self._done)
        self._client.disconnect()
        self._client.loop_stop()
        # paho keeps its wake-up socket pair until garbage collection (a ResourceWarning whenever that runs).
        reset = getattr(self._client, "_reset_sockets", None)
        if reset is not None:
            reset()


class DeviceClient(_Connection):
    """One device's MQTT connection; publishes on ``sensors/<device_id>/<format>`` at QoS 1."""

    def publish(self, fmt: str, payload: bytes) -> bool:
        """Queue one message on the device's own topic; False when it could not be queued."""
        return self.publish_topic(f"sensors/{self.device_id}/{fmt}", payload)


class SparkplugNode(_Connection):
    """A Sparkplug B edge node publishing one row of tag values per step.

    The first row after every (re)connection goes out as NBIRTH (every tag by name with alias ``i + 1``,
    ``seq`` 0, a new ``bdSeq``); later rows as NDATA by alias with ``seq`` + 1 mod 256. The NDEATH carrying
    the same ``bdSeq`` is the connection's MQTT will, and is sent explicitly on a clean stop. Rows that come
    while the node is offline are not sent (Sparkplug data is current state, not history). Messages use
    QoS 1 rather than the specification's QoS 0, so the platform's persistent ingest sessions keep them.

    Like a real edge node it subscribes to its ``NCMD`` topic and answers ``Node Control/Rebirth`` = true:
    the next row goes out as NBIRTH again (same ``bdSeq``, since the MQTT session is the same; ``seq`` 0).
    """

    def __init__(
        self, mqtt_settings: MqttSettings, node_id: str, password: str, *, group: str, tags: Sequence[str]
    ) -> None:
        self.group = group
        self.tags = tuple(tags)
        self._node_id = node_id
        self._bd_seq = 0
        self._seq = 0
        self._born = False
        self._state = threading.Lock()
        self.rebirths = 0
        super().__init__(mqtt_settings, node_id, password, will=(self._topic("NDEATH"), sparkplug_death(self._bd_seq)))

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if not reason.is_failure:
            client.subscribe(self._topic("NCMD"), qos=0)
        super()._on_connect(client, userdata, flags, reason, props)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            if not is_rebirth_request(bytes(msg.payload)):
                return
            with self._state:
                self._born = False  # the next row is an NBIRTH
                self.rebirths += 1
            log.info("%s: rebirth requested", self.device_id)
        except Exception:  # a callback must never raise: it would stop paho's network loop
            log.exception("NCMD handling failed")

    def _topic(self, message_type: str) -> str:
        return sparkplug_topic(self.group, message_type, self._node_id)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        # The broker has sent this connection's NDEATH; the next connection births with the next bdSeq.
        with self._state:
            self.connected.clear()
            if self._born:
                self._born = False
                self._bd_seq = (self._bd_seq + 1) % 256
                client.will_set(self._topic("NDEATH"), sparkplug_death(self._bd_seq), qos=1)

    def publish_row(self, timestamp_ms: int, values: Sequence[float]) -> int:
        """Send one row (NBIRTH when not yet born on this connection, else NDATA); returns messages sent."""
        with self._state:
            if not self.connected.is_set():
                return 0
            if not self._born:
                payload = sparkplug_birth(self.tags, values, timestamp_ms=timestamp_ms, bd_seq=self._bd_seq)
                self._seq = 0
                self._born = self.publish_topic(self._topic("NBIRTH"), payload)
                return int(self._born)
            self._seq = (self._seq + 1) % 256
            payload = sparkplug_data(values, timestamp_ms=timestamp_ms, seq=self._seq)
            return int(self.publish_topic(self._topic("NDATA"), payload))

    def close(self, timeout: float = 10.0) -> None:
        """Send NDEATH (a clean disconnect does not fire the will), then disconnect."""
        with self._state:
            if self._born:
                self.publish_topic(self._topic("NDEATH"), sparkplug_death(self._bd_seq))
                self._born = False
        super().close(timeout)


class SimClock:
    """Simulated time running ``speed`` times faster than real time from ``start``, capped at the wall clock."""

    def __init__(
        self,
        start: datetime,
        speed: float,
        *,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.start = start
        self.speed = speed
        self._monotonic = monotonic
        self._t0 = monotonic()
        self._wall0 = wall()
        self._start_s = start.timestamp()

    def due(self, sim_time: datetime) -> float:
        """Monotonic time at which ``sim_time`` is reached: by the accelerated clock and by the wall clock."""
        t = sim_time.timestamp()
        by_speed = self._t0 + (t - self._start_s) / self.speed
        by_wall = self._t0 + (t - self._wall0)
        return max(by_speed, by_wall)

    def wait_until(self, sim_time: datetime, stop: threading.Event, *, within_s: float | None = None) -> bool:
        """Sleep until ``sim_time`` is due; False when ``stop`` is set first, or when it is not due within
        ``within_s`` real seconds of the clock's start (then without sleeping)."""
        due = self.due(sim_time)
        if within_s is not None and due > self._t0 + within_s:
            return False
        return not stop.wait(max(0.0, due - self._monotonic()))


def simulated_start(speed: float, history: timedelta, *, now: datetime | None = None) -> datetime:
    """Start of a simulated clock of ``speed`` that replays ``history`` before reaching the wall clock.

    At speed 1 (or with no history) the clock starts now: a real-time stream cannot catch up with a past
    start, and a start in the future would stamp readings ahead of the wall clock. The catch-up takes
    ``history / (speed - 1)`` real time.
    """
    now = now or datetime.now(UTC)
    if speed <= 1.0 or history <= timedelta(0):
        return now
    return now - history
