"""Runs a simulated dust network live: provision, connect every device, publish step by step."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from kipsense.records import DeviceKind, TruthEvent
from kipsense.settings import MqttSettings
from simulators.dust import DustNetwork
from simulators.fleet import SimDevice
from simulators.publish import DeviceClient, PublishStats, dust_payloads, met_payloads, pace, simulated_start

log = logging.getLogger(__name__)


def dust_devices(network: DustNetwork, interval_s: float) -> list[SimDevice]:
    """The network's sensors and met stations as devices to provision."""
    layout = network.layout
    fixed = {s.device_id: s for s in layout.sensors}
    out = []
    for device_id in network.device_ids:
        sensor = fixed.get(device_id)
        out.append(
            SimDevice(
                device_id,
                DeviceKind.DUST,
                lat=sensor.lat if sensor else None,
                lon=sensor.lon if sensor else None,
                mobile=sensor is None,
                expected_interval_s=interval_s,
            )
        )
    out += [
        SimDevice(m.device_id, DeviceKind.MET, lat=m.lat, lon=m.lon, expected_interval_s=interval_s)
        for m in layout.met_stations
    ]
    return out


def run_dust(
    *,
    network: DustNetwork,
    credentials: dict[str, str],
    mqtt_settings: MqttSettings,
    step: timedelta,
    speed: float,
    duration_s: float | None,
    stop: threading.Event,
    on_truth: Callable[[list[TruthEvent]], None] | None = None,
) -> PublishStats:
    """Publish until ``stop`` is set or ``duration_s`` real seconds have passed.

    ``on_truth`` receives each ground-truth event once, when the stream first reaches it.
    """
    clients = {d: DeviceClient(mqtt_settings, d, pw) for d, pw in credentials.items()}
    stats = PublishStats()
    start = simulated_start(step, speed, duration_s or 0.0)
    started = time.monotonic()
    seen: set[tuple[str, str, datetime]] = set()
    try:
        for i, frame in enumerate(network.chunks(start, step, 1)):
            if duration_s is not None and time.monotonic() - started >= duration_s:
                break
            if not pace(step, speed, started, i, stop):
                break
            fresh = [e for e in frame.truth if (e.device_id, e.kind, e.start) not in seen]
            if fresh and on_truth is not None:
                seen.update((e.device_id, e.kind, e.start) for e in fresh)
                try:
                    on_truth(fresh)
                except Exception:  # recording truth must not stop the devices
                    log.exception("could not record ground truth")
            for device_id, payload in [*dust_payloads(frame, i), *met_payloads(frame, i)]:
                client = clients.get(device_id)
                if client is None:
                    stats.failed += 1
                    continue
                client.publish("json", payload)
                stats.messages += 1
    finally:
        for client in clients.values():
            client.close()
    return stats
