"""What ``kipsense simulate`` runs: the generators a stream needs, live publishing, and back-fill.

``SimOptions`` is the whole command line as plain data; ``run_live`` and ``run_backfill`` provision (or
reuse) every simulated device's credentials, then publish or load. Fault specifications are text so they fit
on a command line: ``none``, ``all``, or a comma list of ``kind[=number]`` where the number is a rate per
device and day for dust faults and a magnitude for cycler and process faults; dust also knows the groups
``sensor`` (stuck, spike, drift, rh_artefact: they change PM values) and ``device`` (dropout, offline,
low_battery, clock_skew, duplicate: they change what arrives, not what is measured).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import numpy as np

from kipsense.records import DeviceKind
from kipsense.settings import MqttSettings
from simulators import backfill, live
from simulators.cycler import FAULT_KINDS as CYCLER_FAULT_KINDS
from simulators.cycler import CyclerBank, CyclerConfig, CyclerFault
from simulators.dust import DustNetwork, DustNetworkConfig, Episode, FaultRate, FaultSpec
from simulators.encoders import DustEncoder, FormatMix, assign_formats
from simulators.fleet import SimDevice, devices_of_kind, dust_devices, ensure_credentials
from simulators.process import FACTORS, TAGS, ProcessConfig, ProcessFault, ProcessLine
from simulators.process import FAULT_KINDS as PROCESS_FAULT_KINDS
from simulators.process.frame import ProcessFrame
from simulators.publish import DeviceClient, PublishStats, SimClock, SparkplugNode, simulated_start
from simulators.tep import TEP_SAMPLE_S, TepConfig, TepReplay
from store.db import connect

log = logging.getLogger(__name__)

STREAMS: Final = ("dust", "cycler", "process", "tep")
SENSOR_FAULTS: Final = ("stuck", "spike", "drift", "rh_artefact")
DEVICE_FAULTS: Final = ("dropout", "offline", "low_battery", "clock_skew", "duplicate")
SPARKPLUG_GROUP: Final = "precursor"
_PREFIX: Final = {"dust": "dust", "cycler": "cyc", "process": "line", "tep": "tep"}


class OptionsError(ValueError):
    """A command-line option that cannot be turned into a simulation."""


@dataclass(frozen=True)
class SimOptions:
    """Everything ``kipsense simulate`` was asked to do."""

    stream: str
    devices: int | None = None
    seed: int = 0
    speed: float = 1.0
    step_s: float | None = None
    faults: str = "all"
    duration_s: float | None = None
    history_h: float | None = None
    prefix: str | None = None
    credentials_file: Path = Path(".local/main/simulator-credentials.json")
    run_id: str | None = None
    # dust
    mobile: int = 0
    formats: FormatMix = field(default_factory=FormatMix)
    episodes: tuple[Episode, ...] = ()
    # process and tep
    process_format: str = "sparkplug"
    tep_run: str = "d01"
    # back-fill
    backfill_days: float | None = None
    backfill_to: str = "store"

    def __post_init__(self) -> None:
        if self.stream not in STREAMS:
            raise OptionsError(f"unknown stream {self.stream!r}; choose one of {STREAMS}")
        if self.speed <= 0 or (self.step_s is not None and self.step_s <= 0):
            raise OptionsError("--speed and --step must be > 0")
        if self.devices is not None and self.devices < 1:
            raise OptionsError("--devices must be >= 1")
        if self.backfill_days is not None and self.backfill_days <= 0:
            raise OptionsError("--backfill must be a positive number of days")
        if self.process_format not in ("sparkplug", "json") or self.backfill_to not in ("store", "mqtt"):
            raise OptionsError("--process-format is sparkplug or json; --to is store or mqtt")

    @property
    def step(self) -> timedelta:
        """Simulated time between samples."""
        default = {"dust": 10.0, "cycler": 30.0, "process": 10.0, "tep": TEP_SAMPLE_S}[self.stream]
        if self.stream == "tep" and self.step_s not in (None, TEP_SAMPLE_S):
            raise OptionsError("the Tennessee Eastman runs are sampled every 180 s; --step cannot change that")
        return timedelta(milliseconds=round((self.step_s or default) * 1000))

    @property
    def history(self) -> timedelta:
        """Simulated history replayed before the stream reaches real time (a day by default when fast)."""
        hours = self.history_h if self.history_h is not None else (24.0 if self.speed > 1 else 0.0)
        return timedelta(hours=hours)

    @property
    def device_prefix(self) -> str:
        return self.prefix or _PREFIX[self.stream]

    def run_name(self, mode: str) -> str:
        """Ground-truth run id: given, or ``<stream>-<mode>-seed<seed>``."""
        return self.run_id or f"{self.stream}-{mode}-seed{self.seed}"


# -- fault specifications ---------------------------------------------------------------------------------
def _items(text: str, known: tuple[str, ...], groups: dict[str, tuple[str, ...]]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for raw in (part.strip() for part in text.split(",")):
        if not raw or raw == "none":
            continue
        name, _, number = raw.partition("=")
        kinds = known if name == "all" else groups.get(name, (name,))
        for kind in kinds:
            if kind not in known:
                raise OptionsError(f"unknown fault {kind!r}; known: all, none, {', '.join((*groups, *known))}")
            try:
                out[kind] = float(number) if number else None
            except ValueError:
                raise OptionsError(f"{raw!r}: the number after '=' must be a number") from None
    return out


def dust_faults(text: str) -> FaultSpec:
    """``FaultSpec`` from text; ``kind=N`` sets N events per device and day (durations keep their defaults)."""
    base, spec = FaultSpec(), FaultSpec.none()
    for kind, rate in _items(
        text, (*SENSOR_FAULTS, *DEVICE_FAULTS), {"sensor": SENSOR_FAULTS, "device": DEVICE_FAULTS}
    ).items():
        default = base.rate(kind)
        spec = spec.with_rate(kind, default if rate is None else FaultRate(rate, default.duration_s))
    return spec


def cycler_faults(text: str, *, n_channels: int, seed: int, horizon_s: float) -> tuple[CyclerFault, ...]:
    """One fault per named kind, on channels 1, 2, ... in turn (channel 0 stays healthy when there are two or
    more), starting at a seeded time in the first two thirds of ``horizon_s``."""
    kinds = _items(text, tuple(CYCLER_FAULT_KINDS), {})
    rng = np.random.default_rng([seed, 0xC7C1])
    starts = rng.uniform(0.1, 0.66, len(kinds)) * horizon_s
    first = 1 if n_channels > 1 else 0
    lasting = {"thermal_excursion": 3600.0, "sensor_dropout": 1800.0}
    return tuple(
        CyclerFault(
            channel=first + i % (n_channels - first),
            kind=kind,
            start_s=float(start),
            duration_s=lasting.get(kind),
            magnitude=magnitude,
        )
        for i, ((kind, magnitude), start) in enumerate(zip(kinds.items(), starts, strict=True))
    )


def process_faults(text: str, *, seed: int, horizon_s: float) -> tuple[ProcessFault, ...]:
    """One fault per named kind on a seeded target, starting in the first two thirds of ``horizon_s``,
    lasting one to four hours; magnitudes in standard deviations (3 unless given)."""
    kinds = _items(text, tuple(PROCESS_FAULT_KINDS), {})
    rng = np.random.default_rng([seed, 0x9C0C])
    out = []
    for kind, magnitude in kinds.items():
        names = [f.name for f in FACTORS] if kind == "step" else [t.name for t in TAGS]
        target = names[int(rng.integers(len(names)))]
        start = float(rng.uniform(0.1, 0.66)) * horizon_s
        default = 1.0 if kind == "drift" else (2.0 if kind == "variance" else 3.0)
        value = default if magnitude is None else magnitude
        out.append(ProcessFault(kind, target, start, float(rng.uniform(3600.0, 4 * 3600.0)), value))
    return tuple(out)


# -- generators of each stream ----------------------------------------------------------------------------
def dust_network(opts: SimOptions) -> DustNetwork:
    return DustNetwork(
        DustNetworkConfig(
            n_sensors=opts.devices or 24,
            n_mobile=opts.mobile,
            seed=opts.seed,
            device_prefix=opts.device_prefix,
            met_prefix="met" if opts.device_prefix == _PREFIX["dust"] else f"{opts.device_prefix}-met",
            episodes=opts.episodes,
            faults=dust_faults(opts.faults),
        )
    )


def cycler_bank(opts: SimOptions, horizon: timedelta) -> CyclerBank:
    n = opts.devices or 8
    faults = cycler_faults(opts.faults, n_channels=n, seed=opts.seed, horizon_s=horizon.total_seconds())
    return CyclerBank(
        CyclerConfig(
            n_channels=n,
            seed=opts.seed,
            device_prefix=opts.device_prefix,
            sample_interval_s=opts.step.total_seconds(),
            faults=faults,
        )
    )


def process_lines(opts: SimOptions, horizon: timedelta) -> list[ProcessLine]:
    """``--devices`` lines (default one), ``<prefix>-1``, ``<prefix>-2``, ... each with its own seed."""
    return [
        ProcessLine(
            ProcessConfig(
                seed=opts.seed + i,
                device_id=f"{opts.device_prefix}-{i + 1}",
                sample_interval_s=opts.step.total_seconds(),
                faults=process_faults(opts.faults, seed=opts.seed + i, horizon_s=horizon.total_seconds()),
            )
        )
        for i in range(opts.devices or 1)
    ]


def tep_replay(opts: SimOptions) -> TepReplay:
    return TepReplay(TepConfig(run=opts.tep_run, test=True, device_id=f"{opts.device_prefix}-1"))


def _devices(opts: SimOptions, horizon: timedelta) -> list[SimDevice]:
    interval = opts.step.total_seconds()
    if opts.stream == "dust":
        return dust_devices(dust_network(opts), interval)
    if opts.stream == "cycler":
        return devices_of_kind(cycler_bank(opts, horizon).device_ids, DeviceKind.CYCLER, interval)
    if opts.stream == "process":
        ids = [line.config.device_id for line in process_lines(opts, horizon)]
        return devices_of_kind(ids, DeviceKind.PROCESS, interval)
    return devices_of_kind([f"{opts.device_prefix}-1"], DeviceKind.PROCESS, interval)


def provision(opts: SimOptions, *, database_url: str, mqtt: MqttSettings, horizon: timedelta) -> dict[str, str]:
    """Credentials of every device of the stream (created, reused or rotated)."""
    with connect(database_url) as conn:
        return ensure_credentials(conn, mqtt, _devices(opts, horizon), opts.credentials_file)


# -- live -------------------------------------------------------------------------------------------------
def fault_horizon(history: timedelta) -> timedelta:
    """Span the live stream's cycler and process faults start in: the replayed history, or the first day of a
    stream that starts at real time (so they do not all begin at its first sample)."""
    return history if history > timedelta(0) else timedelta(days=1)


def run_live(opts: SimOptions, *, database_url: str, mqtt: MqttSettings, stop: threading.Event) -> PublishStats:
    """Publish the stream until ``stop`` is set, ``duration_s`` real seconds have passed or a replay ends."""
    start = simulated_start(opts.speed, opts.history)
    horizon = fault_horizon(opts.history)
    credentials = provision(opts, database_url=database_url, mqtt=mqtt, horizon=horizon)
    chunk = live.chunk_steps(opts.step.total_seconds(), opts.speed)
    connections: list[DeviceClient | SparkplugNode] = []
    writer = live.TruthWriter(database_url, opts.run_name("live"))
    try:
        steps: Iterator[live.SimStep]
        if opts.stream in ("dust", "cycler"):
            clients = {d: DeviceClient(mqtt, d, pw) for d, pw in credentials.items()}
            connections.extend(clients.values())
            if opts.stream == "dust":
                net = dust_network(opts)
                formats = assign_formats(
                    net.device_ids, seed=opts.seed, mix=opts.formats, mobile=net.device_ids[net.config.n_sensors :]
                )
                encoder = DustEncoder(formats, seed=opts.seed)
                steps = live.dust_steps(net, encoder, clients, start=start, step=opts.step, chunk=chunk)
            else:
                steps = live.cycler_steps(cycler_bank(opts, horizon), clients, start=start, chunk=chunk)
        else:
            frames = _process_frames(opts, horizon, start, chunk)
            publishers = [_process_publisher(opts, mqtt, device_id, credentials[device_id]) for device_id in frames]
            connections.extend(publishers)
            steps = _merge([live.process_steps(f, p) for f, p in zip(frames.values(), publishers, strict=True)])
        for conn in connections:
            conn.connected.wait(10.0)
        log.info(
            "publishing %d simulated %s devices from %s at %.3gx (step %s)",
            len(credentials), opts.stream, start.isoformat(timespec="seconds"), opts.speed, opts.step,
        )  # fmt: skip
        clock = SimClock(start, opts.speed)
        return live.run_stream(steps, clock=clock, stop=stop, duration_s=opts.duration_s, on_truth=writer)
    finally:
        for c in connections:
            c.close()
        writer.close()


def _process_frames(
    opts: SimOptions, horizon: timedelta, start: datetime, chunk: int
) -> dict[str, Iterator[ProcessFrame]]:
    if opts.stream == "tep":
        replay = tep_replay(opts)
        return {replay.config.device_id: replay.chunks(start, chunk)}
    return {line.config.device_id: line.chunks(start, chunk) for line in process_lines(opts, horizon)}


def _process_publisher(
    opts: SimOptions, mqtt: MqttSettings, device_id: str, password: str
) -> DeviceClient | SparkplugNode:
    if opts.process_format == "json":
        return DeviceClient(mqtt, device_id, password)
    tags = tep_replay(opts).tags if opts.stream == "tep" else tuple(t.name for t in TAGS)
    return SparkplugNode(mqtt, device_id, password, group=SPARKPLUG_GROUP, tags=tags)


def _merge(streams: list[Iterator[live.SimStep]]) -> Iterator[live.SimStep]:
    """Steps of equally paced streams interleaved (the lines share one clock and one step)."""
    if len(streams) == 1:
        yield from streams[0]
        return
    for group in zip(*streams, strict=False):
        yield from group


# -- back-fill --------------------------------------------------------------------------------------------
def run_backfill(
    opts: SimOptions,
    *,
    database_url: str,
    mqtt: MqttSettings,
    progress: backfill.Progress | None = None,
    now: datetime | None = None,
) -> backfill.BackfillStats:
    """Generate ``backfill_days`` of history ending now and load it (``backfill_to``: store or mqtt)."""
    if opts.backfill_days is None:
        raise OptionsError("back-fill needs --backfill DAYS")
    step = opts.step
    span = timedelta(days=opts.backfill_days)
    n_steps = max(1, math.floor(span / step))
    if opts.stream == "tep":
        n_steps = min(n_steps, tep_replay(opts).n_rows)  # a replay is as long as its file
    now = now or datetime.now(UTC)
    end = datetime.fromtimestamp(math.floor(now.timestamp() / step.total_seconds()) * step.total_seconds(), tz=UTC)
    start = end - n_steps * step
    credentials = provision(opts, database_url=database_url, mqtt=mqtt, horizon=span)
    chunks = _chunks(opts, start, n_steps, span)
    run_id = opts.run_name("backfill")
    if opts.backfill_to == "store":
        with connect(database_url) as conn:
            return backfill.to_store(conn, chunks, total=n_steps, run_id=run_id, progress=progress)
    clients = {d: DeviceClient(mqtt, d, pw) for d, pw in credentials.items()}
    writer = live.TruthWriter(database_url, run_id)
    try:
        return backfill.to_mqtt(clients, chunks, total=n_steps, truth_sink=writer, progress=progress)
    finally:
        for c in clients.values():
            c.close()
        writer.close()


def _chunks(opts: SimOptions, start: datetime, n_steps: int, span: timedelta) -> Iterator[backfill.Chunk]:
    if opts.stream == "dust":
        return backfill.dust_chunks(dust_network(opts), start=start, step=opts.step, n_steps=n_steps)
    if opts.stream == "cycler":
        return backfill.cycler_chunks(cycler_bank(opts, span), start=start, n_steps=n_steps)
    lines = [tep_replay(opts).chunks(start, 2048)] if opts.stream == "tep" else [
        line.chunks(start, 2048) for line in process_lines(opts, span)
    ]  # fmt: skip
    return _joined([backfill.process_chunks(f, start=start, step=opts.step, n_steps=n_steps) for f in lines])


def _joined(parts: list[Iterator[backfill.Chunk]]) -> Iterator[backfill.Chunk]:
    """Chunks of several lines covering the same steps, joined into one chunk per step range."""
    for group in zip(*parts, strict=False):
        yield backfill.Chunk(
            group[0].steps, [r for c in group for r in c.records], tuple(e for c in group for e in c.truth)
        )
