"""Live streams: generator frames turned into paced steps, each step publishing what the devices send then.

A stream is an iterator of :class:`SimStep` (a simulated time, the ground truth of its frame, and a function
that publishes the step's messages); :func:`run_stream` paces the steps on a :class:`SimClock`, records each
ground-truth event once when the stream reaches its start, and stops on request or after a real duration.
Frames are generated a chunk at a time (about a real second of steps), so a fast stream is not slowed by
per-step generator overhead.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import numpy as np
import psycopg

from kipsense.records import TruthEvent
from simulators.cycler import CyclerBank
from simulators.dust import DustNetwork
from simulators.encoders import DustEncoder, Message, cycler_rows, met_rows, process_json_rows
from simulators.process.frame import ProcessFrame
from simulators.publish import DeviceClient, PublishStats, SimClock, SparkplugNode
from store import ground_truth
from store.db import connect

log = logging.getLogger(__name__)

#: Sends one step's messages; returns (sent, failed).
Send = Callable[[], tuple[int, int]]


@dataclass(frozen=True, slots=True)
class SimStep:
    """One time step of a stream."""

    time: datetime
    truth: tuple[TruthEvent, ...]
    send: Send


def chunk_steps(step_s: float, speed: float, *, most: int = 512) -> int:
    """Steps generated at once: about one real second of the stream."""
    return max(1, min(most, math.ceil(speed / step_s)))


def _time(t: np.datetime64) -> datetime:
    return datetime.fromtimestamp(int(t.astype("datetime64[ms]").astype(np.int64)) / 1000, tz=UTC)


def send_messages(clients: Mapping[str, DeviceClient], messages: Sequence[Message]) -> tuple[int, int]:
    """Publish each (device, format, payload) with its device's own connection."""
    sent = failed = 0
    for device_id, fmt, payload in messages:
        client = clients.get(device_id)
        if client is not None and client.publish(fmt, payload):
            sent += 1
        else:
            failed += 1
    return sent, failed


def dust_steps(
    network: DustNetwork,
    encoder: DustEncoder,
    clients: Mapping[str, DeviceClient],
    *,
    start: datetime,
    step: timedelta,
    chunk: int,
) -> Iterator[SimStep]:
    """The dust network and its met stations, step by step."""
    for frame in network.chunks(start, step, chunk):
        rows = zip(frame.times, encoder.rows(frame), met_rows(frame), strict=True)
        for t, dust, met in rows:
            yield SimStep(_time(t), frame.truth, partial(send_messages, clients, [*dust, *met]))


def cycler_steps(
    bank: CyclerBank, clients: Mapping[str, DeviceClient], *, start: datetime, chunk: int
) -> Iterator[SimStep]:
    """The cycler channels, step by step (native JSON)."""
    for frame in bank.chunks(start, chunk):
        for t, row in zip(frame.times, cycler_rows(frame), strict=True):
            yield SimStep(_time(t), frame.truth, partial(send_messages, clients, row))


def process_steps(frames: Iterator[ProcessFrame], publisher: DeviceClient | SparkplugNode) -> Iterator[SimStep]:
    """A process line, step by step: Sparkplug B rows through an edge node, or native JSON messages."""
    for frame in frames:
        if isinstance(publisher, SparkplugNode):
            ms = frame.times.astype("datetime64[ms]").astype(np.int64).tolist()
            for t, (stamp, row) in enumerate(zip(ms, frame.values.tolist(), strict=True)):
                yield SimStep(_time(frame.times[t]), frame.truth, partial(_send_row, publisher, stamp, row))
        else:
            clients = {publisher.device_id: publisher}
            for t, msgs in zip(frame.times, process_json_rows(frame), strict=True):
                yield SimStep(_time(t), frame.truth, partial(send_messages, clients, msgs))


def _send_row(node: SparkplugNode, timestamp_ms: int, row: list[float]) -> tuple[int, int]:
    sent = node.publish_row(timestamp_ms, row)
    return sent, 1 - sent


class TruthWriter:
    """Writes ground-truth events to the store under one run id (one connection, opened on first use)."""

    def __init__(self, database_url: str, run_id: str) -> None:
        self._url = database_url
        self.run_id = run_id
        self._conn: psycopg.Connection[Any] | None = None

    def __call__(self, events: list[TruthEvent]) -> None:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = connect(self._url)
            ground_truth.add_many(self._conn, events, run_id=self.run_id)
            self._conn.commit()
        except psycopg.Error as exc:  # the devices keep publishing; truth is recomputable from the seed
            log.warning("could not record %d ground-truth events: %s", len(events), exc)
            self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def run_stream(
    steps: Iterator[SimStep],
    *,
    clock: SimClock,
    stop: threading.Event,
    duration_s: float | None = None,
    on_truth: Callable[[list[TruthEvent]], None] | None = None,
) -> PublishStats:
    """Publish steps as the clock reaches them until the stream ends, ``stop`` is set or time is up."""
    stats = PublishStats()
    seen: set[tuple[str, str, datetime]] = set()
    for st in steps:
        if not clock.wait_until(st.time, stop, within_s=duration_s):
            break
        reached = [e for e in st.truth if e.start <= st.time and (e.device_id, e.kind, e.start) not in seen]
        if reached:
            seen.update((e.device_id, e.kind, e.start) for e in reached)
            if on_truth is not None:
                on_truth(reached)
        sent, failed = st.send()
        stats.messages += sent
        stats.failed += failed
        stats.steps += 1
    return stats
