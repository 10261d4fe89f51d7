"""Live publishing of simulated devices over MQTT, each device with its own credentials and session.

Frames come from the seeded generators; this module only turns rows into payloads and paces them. With
``speed`` > 1 the simulated clock runs faster than the wall clock; it starts far enough in the past that it
reaches "now" at the end of ``duration_s``, so devices never stamp readings in the future.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from kipsense.settings import MqttSettings
from simulators.frames import DustFrame

log = logging.getLogger(__name__)


@dataclass
class PublishStats:
    messages: int = 0
    readings: int = 0
    failed: int = 0


class DeviceClient:
    """One device's MQTT connection (client id = username = device id, as the broker enforces)."""

    def __init__(self, mqtt_settings: MqttSettings, device_id: str, password: str) -> None:
        self.device_id = device_id
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id, protocol=mqtt.MQTTv5)
        self._client.username_pw_set(device_id, password)
        if mqtt_settings.tls_ca:
            self._client.tls_set(ca_certs=str(mqtt_settings.tls_ca))
        self._client.max_inflight_messages_set(100)
        self._client.max_queued_messages_set(100_000)
        self._client.reconnect_delay_set(1, 30)
        self._client.connect_async(mqtt_settings.host, mqtt_settings.port, keepalive=30)
        self._client.loop_start()

    def publish(self, fmt: str, payload: bytes, qos: int = 1) -> None:
        self._client.publish(f"sensors/{self.device_id}/{fmt}", payload, qos=qos)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def _iso(ms: np.int64 | int) -> str:
    return datetime.fromtimestamp(int(ms) / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _clean(value: float) -> float | None:
    return None if not np.isfinite(value) else round(float(value), 3)


def dust_payloads(frame: DustFrame, seq_start: int) -> Iterable[tuple[str, bytes]]:
    """(device_id, native JSON payload) for every reading the devices send live in ``frame``.

    Clock skew shifts the stamped time; a back-filled stretch is sent as one batch when the device returns;
    a duplicate is sent twice.
    """
    times_ms = frame.times.astype("datetime64[ms]").astype(np.int64)
    offsets = frame.clock_offset_s if frame.clock_offset_s is not None else np.zeros(frame.pm10.shape)
    backfill = frame.backfill if frame.backfill is not None else np.zeros(frame.pm10.shape, dtype=bool)
    duplicate = frame.duplicate if frame.duplicate is not None else np.zeros(frame.pm10.shape, dtype=bool)
    held: dict[int, list[dict[str, Any]]] = {}
    for t in range(frame.pm10.shape[0]):
        for n, device_id in enumerate(frame.device_ids):
            reading = {
                "ts": _iso(times_ms[t] + int(offsets[t, n] * 1000)),
                "seq": seq_start + t,
                "pm1": _clean(frame.pm1[t, n]),
                "pm25": _clean(frame.pm25[t, n]),
                "pm10": _clean(frame.pm10[t, n]),
                "temperature": _clean(frame.temperature[t, n]),
                "rh": _clean(frame.rh[t, n]),
                "lat": _clean(frame.lat[t, n]),
                "lon": _clean(frame.lon[t, n]),
                "battery": _clean(frame.battery[t, n]),
                "rssi": _clean(frame.rssi[t, n]),
            }
            if backfill[t, n]:
                held.setdefault(n, []).append(reading)
                continue
            if not frame.present[t, n]:
                continue
            if n in held:
                yield device_id, json.dumps({"device": device_id, "readings": held.pop(n)}).encode()
            payload = json.dumps(reading).encode()
            yield device_id, payload
            if duplicate[t, n]:
                yield device_id, payload


def met_payloads(frame: DustFrame, seq_start: int) -> Iterable[tuple[str, bytes]]:
    """(device_id, native JSON payload) for the met stations of ``frame``."""
    times_ms = frame.times.astype("datetime64[ms]").astype(np.int64)
    met = frame.met
    for t in range(len(times_ms)):
        for m, device_id in enumerate(met.device_ids):
            reading = {
                "ts": _iso(times_ms[t]),
                "seq": seq_start + t,
                "wind_speed": _clean(met.wind_speed[t, m]),
                "wind_dir": _clean(met.wind_dir[t, m] % 360.0),
                "temperature": _clean(met.temperature[t, m]),
                "rh": _clean(met.rh[t, m]),
            }
            yield device_id, json.dumps(reading).encode()


def pace(step: timedelta, speed: float, started: float, steps_done: int, stop: threading.Event) -> bool:
    """Sleep until simulated step ``steps_done`` is due; False when asked to stop."""
    due = started + steps_done * step.total_seconds() / speed
    return not stop.wait(max(0.0, due - time.monotonic()))


def simulated_start(step: timedelta, speed: float, duration_s: float) -> datetime:
    """Start of the simulated clock so that it reaches the wall clock after ``duration_s`` real seconds."""
    now = datetime.now(UTC)
    return now - timedelta(seconds=duration_s * (speed - 1.0)) if speed > 1.0 else now
