"""``kipsense simulate``: provision the simulated fleet and publish it live."""

from __future__ import annotations

import argparse
import logging
import threading
from datetime import timedelta
from pathlib import Path

from kipsense.records import TruthEvent
from kipsense.settings import MqttSettings
from simulators.dust import DustNetwork, DustNetworkConfig, Episode
from simulators.fleet import ensure_credentials
from simulators.live import dust_devices, run_dust
from store import ground_truth
from store.db import connect

log = logging.getLogger(__name__)


def dust_network(args: argparse.Namespace) -> DustNetwork:
    """The network described by the command line (explicit episodes relative to the start)."""
    source = args.episode_source or "stockpile-north"
    episodes = tuple(Episode(source, at, args.episode_duration) for at in (args.episode_at or []))
    return DustNetwork(
        DustNetworkConfig(
            n_sensors=args.devices, n_mobile=args.mobile, seed=args.seed, device_prefix=args.prefix, episodes=episodes
        )
    )


def run_simulation(args: argparse.Namespace, *, database_url: str, stop: threading.Event) -> int:
    """Provision (or reuse) credentials for every simulated device, record ground truth, publish."""
    network = dust_network(args)
    mqtt = MqttSettings()
    store_file = Path(args.credentials_file) if getattr(args, "credentials_file", None) else None
    store_file = store_file or Path(".local") / "main" / "simulator-credentials.json"
    step = timedelta(seconds=args.step)
    with connect(database_url) as conn:
        credentials = ensure_credentials(conn, mqtt, dust_devices(network, args.step), store_file)
    log.info("publishing %d simulated devices (step %.1fs, speed %.1fx)", len(credentials), args.step, args.speed)
    stats = run_dust(
        network=network,
        credentials=credentials,
        mqtt_settings=mqtt,
        step=step,
        speed=args.speed,
        duration_s=args.duration,
        stop=stop,
        on_truth=lambda events: _record_truth(database_url, events),
    )
    log.info("published %d messages", stats.messages)
    return 0


def _record_truth(database_url: str, events: list[TruthEvent]) -> None:
    with connect(database_url) as conn:
        ground_truth.add_many(conn, events, run_id="live")
        conn.commit()
