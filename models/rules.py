"""The rule sources the streaming scorer runs on every device of their kind, and the active registry models.

Rule defaults come from tuning on simulator seeds other than the reported ones (seed 0 for spikes and stuck
sensors; seeds 11-16 for episodes and the RH artefact, ``bench/faults.py --seeds 11 12 13 --set FIELD=VALUE``)
and are reported on seeds 1-3; see bench/RESULTS.md. Alert types are stable names: operators filter on them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from models.artifacts import load_model
from models.cycler.counters import CapacityReset, CounterMonotonicity
from models.cycler.thermal import ThermalExcursion
from models.detectors.base import BaseDetector
from models.dust.episode import EpisodeJump
from models.dust.limit import RollingMeanExceedance
from models.dust.rh import RHArtefact
from models.dust.spike import SpikeDetector
from models.dust.stuck import StuckSensor
from models.streaming import DeviceInfo, Source
from store.models import ModelRecord


@dataclass(frozen=True, slots=True)
class DustRuleConfig:
    """Parameters of the dust rules (the PM10 limit comes from the scorer settings)."""

    pm10_window_s: float = 86_400.0
    pm10_limit: float = 50.0
    min_capture: float = 0.75
    spike_window: int = 30
    spike_z: float = 8.0
    spike_min_scale: float = 2.0
    spike_max_run_s: float = 60.0
    stuck_window_s: float = 90.0
    stuck_zero_window_s: float = 60.0
    #: A flat run must hold this fraction of the readings its window would: equal readings either side of a
    #: dropout are no flat line.
    stuck_min_fraction: float = 0.5
    #: Episode window, z and scale floor: best event-F1 on simulator seeds 11-16 (a plume edge crossing a
    #: sensor for well under a minute is an episode there too; a 180 s mean missed those).
    episode_window_s: float = 45.0
    episode_baseline_s: float = 6 * 3600.0
    episode_z: float = 4.0
    episode_min_scale: float = 5.0
    rh_threshold: float = 97.0
    #: RH above the threshold for this long (in readings at the device's interval) is condensation, not noise.
    rh_min_duration_s: float = 30.0


def dust_sources(cfg: DustRuleConfig) -> tuple[Source, ...]:
    """PM10 limit, spikes, stuck sensors, episodes and the RH artefact flag, on every dust device."""

    def limit(d: DeviceInfo) -> BaseDetector:
        return RollingMeanExceedance(
            window_s=cfg.pm10_window_s,
            limit=cfg.pm10_limit,
            expected_interval_s=d.expected_interval_s,
            min_capture=cfg.min_capture,
        ).fit()

    def spike(d: DeviceInfo) -> BaseDetector:
        return SpikeDetector(
            window=cfg.spike_window, z=cfg.spike_z, min_scale=cfg.spike_min_scale, min_periods=cfg.spike_window // 3
        ).fit()

    def stuck(d: DeviceInfo) -> BaseDetector:
        return StuckSensor(
            window_s=cfg.stuck_window_s,
            zero_window_s=cfg.stuck_zero_window_s,
            min_samples=max(1, math.ceil(cfg.stuck_min_fraction * cfg.stuck_window_s / d.expected_interval_s)),
        ).fit()

    def episode(d: DeviceInfo) -> BaseDetector:
        bins = max(1, int(cfg.episode_baseline_s // cfg.episode_window_s) // 2)
        return EpisodeJump(
            window_s=cfg.episode_window_s,
            baseline_s=cfg.episode_baseline_s,
            z=cfg.episode_z,
            min_scale=cfg.episode_min_scale,
            min_bins=bins,
        ).fit()

    def rh(d: DeviceInfo) -> BaseDetector:
        return RHArtefact(
            rh_threshold=cfg.rh_threshold,
            rh_max=max(99.0, cfg.rh_threshold + 1.0),
            min_readings=max(1, round(cfg.rh_min_duration_s / d.expected_interval_s)),
        ).fit()

    pm10 = ("pm10",)
    return (
        Source(
            "pm10_limit",
            "pm10_limit",
            "dust",
            pm10,
            limit,
            warmup_s=cfg.pm10_window_s,
            details={"metric": "pm10", "window_s": cfg.pm10_window_s, "limit": cfg.pm10_limit},
        ),
        Source(
            "dust_spike",
            "dust_spike",
            "dust",
            pm10,
            spike,
            mode="spike",
            severity="info",
            max_run_s=cfg.spike_max_run_s,
            details={"metric": "pm10", "z": cfg.spike_z},
        ),
        Source(
            "dust_stuck",
            "dust_stuck",
            "dust",
            pm10,
            stuck,
            details={"metric": "pm10", "window_s": cfg.stuck_window_s},
        ),
        Source(
            "dust_episode",
            "dust_episode",
            "dust",
            pm10,
            episode,
            severity="major",
            warmup_s=cfg.episode_baseline_s + 2 * cfg.episode_window_s,
            details={"metric": "pm10", "window_s": cfg.episode_window_s, "z": cfg.episode_z},
        ),
        Source(
            "dust_rh_artefact",
            "dust_rh_artefact",
            "dust",
            ("pm10", "rh"),
            rh,
            severity="info",
            details={"rh_threshold": cfg.rh_threshold},
        ),
    )


def cycler_sources() -> tuple[Source, ...]:
    """Live checks on cycler channels: counter restarts, capacity counter resets, thermal excursions."""
    return (
        Source(
            "cycler_counter",
            "cycler_counter",
            "cycler",
            ("test_time", "cycle_index"),
            lambda d: CounterMonotonicity().fit(),
            mode="spike",
            max_run_s=float("inf"),
            details={"columns": ["test_time", "cycle_index"]},
        ),
        Source(
            "cycler_capacity_reset",
            "cycler_capacity_reset",
            "cycler",
            ("cycle_index", "step_index", "charge_capacity", "discharge_capacity"),
            lambda d: CapacityReset().fit(),
            mode="spike",
            max_run_s=float("inf"),
        ),
        Source(
            "cycler_thermal",
            "cycler_thermal",
            "cycler",
            ("temperature",),
            lambda d: ThermalExcursion().fit(),
            severity="major",
        ),
    )


def model_source(record: ModelRecord) -> Source:
    """An active registry model as a source on the devices it names (all of its kind when none)."""
    detector = load_model(record)
    return Source(
        key=f"model:{record.model_id}",
        alert_type=f"model:{record.name}",
        kind=record.kind,
        columns=tuple(record.columns),
        build=lambda d: detector,  # fitted state is read-only while scoring; stream state is per device
        severity=record.severity,
        allow_nan=False,
        devices=frozenset(record.devices) if record.devices else None,
        start_after=record.activated_at.timestamp() if record.activated_at else None,
        details={"model_id": record.model_id, "model": f"{record.name}@{record.version}", "detector": record.detector},
    )
