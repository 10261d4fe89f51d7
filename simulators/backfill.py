"""Back-fill: generate a stretch of history and load it, straight into the store or through the ingest path.

- ``store``: the records go to ``store.readings.write_records`` (binary COPY, idempotent) in one transaction
  per generated chunk, ground truth beside them. This is how a fresh installation gets weeks of data.
- ``mqtt``: the same records go out as native JSON batches (``{"device", "readings": [...]}``) over each
  device's own connection, as devices back-filling after an outage do; the ingest workers store them. Ground
  truth goes to the store directly (it is not device data).

Both stamp every reading as its device would (clock skew included) and keep readings a device held during
an outage; what a device lost (dropouts, dead battery) is not in the history either. Progress is reported
through a callback after every chunk, so the command line can draw its own progress line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from itertools import groupby
from typing import Any

import numpy as np
import psycopg

from kipsense.records import DustReading, MetReading, ProcessValue, Record, TruthEvent
from simulators.cycler import CyclerBank
from simulators.dust import DustNetwork
from simulators.encoders import BATCH_READINGS, iso_ms, stamped_ms
from simulators.frames import DustFrame
from simulators.process.frame import ProcessFrame
from simulators.publish import DeviceClient
from store import ground_truth, readings

#: Called after every chunk with (time steps done, time steps planned, rows done).
Progress = Callable[[int, int, int], None]


@dataclass(frozen=True, slots=True)
class Chunk:
    """The records of ``steps`` generated time steps and the ground truth that started before their end."""

    steps: int
    records: list[Record]
    truth: tuple[TruthEvent, ...]


def dust_chunks(
    network: DustNetwork, *, start: datetime, step: timedelta, n_steps: int, chunk: int = 2048
) -> Iterator[Chunk]:
    """``n_steps`` of the dust network (and its met stations) in chunks of ``chunk`` steps."""
    frames = network.chunks(start, step, chunk)
    for lo in range(0, n_steps, chunk):
        frame = next(frames)
        n = min(chunk, n_steps - lo)
        end = start + (lo + n) * step
        yield Chunk(n, dust_records(frame, n), tuple(e for e in frame.truth if e.start < end))


def cycler_chunks(bank: CyclerBank, *, start: datetime, n_steps: int, chunk: int = 2048) -> Iterator[Chunk]:
    """``n_steps`` samples of every cycler channel in chunks of ``chunk`` steps."""
    step = timedelta(seconds=bank.config.sample_interval_s)
    frames = bank.chunks(start, chunk)
    for lo in range(0, n_steps, chunk):
        frame = next(frames)
        n = min(chunk, n_steps - lo)
        end = start + (lo + n) * step
        records: list[Record] = [s for s in frame.to_samples() if s.time < end]
        yield Chunk(n, records, tuple(e for e in frame.truth if e.start < end))


def process_chunks(
    frames: Iterator[ProcessFrame], *, start: datetime, step: timedelta, n_steps: int
) -> Iterator[Chunk]:
    """``n_steps`` rows of a process line (or replay) from its frames; a finite replay may end sooner."""
    done = 0
    end = start + n_steps * step
    for frame in frames:
        n = min(len(frame.times), n_steps - done)
        records: list[Record] = [v for v in frame.to_values() if v.time < end]
        yield Chunk(n, records, tuple(e for e in frame.truth if e.start < end))
        done += n
        if done >= n_steps:
            return


@dataclass(frozen=True, slots=True)
class BackfillStats:
    """Rows loaded (or published), truth events recorded, MQTT messages sent, and wall time."""

    rows: int
    truth_events: int
    messages: int
    seconds: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def dust_records(frame: DustFrame, n_rows: int | None = None) -> list[Record]:
    """The dust and met readings of the first ``n_rows`` steps that reach the store, as their devices stamp them."""
    n = frame.pm10.shape[0] if n_rows is None else n_rows
    sent = frame.present[:n] | (frame.backfill[:n] if frame.backfill is not None else False)
    rows, cols = np.nonzero(sent)
    stamps = stamped_ms(frame)[:n][rows, cols]
    times = [datetime.fromtimestamp(ms / 1000, tz=UTC) for ms in stamps.tolist()]
    ids = [frame.device_ids[c] for c in cols.tolist()]
    names = ("pm1", "pm25", "pm10", "temperature", "rh", "lat", "lon", "battery", "rssi")
    cols_ = [_nullable(getattr(frame, name)[:n][rows, cols]) for name in names]
    out: list[Record] = [
        DustReading(d, t, pm1, pm25, pm10, temp, rh, None, None, None, lat, lon, batt, rssi)
        for d, t, pm1, pm25, pm10, temp, rh, lat, lon, batt, rssi in zip(ids, times, *cols_, strict=True)
    ]
    met = frame.met
    met_times = [datetime.fromtimestamp(ms / 1000, tz=UTC) for ms in _ms(frame.times[:n])]
    arrays = [met.wind_speed[:n], met.wind_dir[:n] % 360.0, met.temperature[:n], met.rh[:n]]
    for m, device_id in enumerate(met.device_ids):
        values = [_nullable(a[:, m]) for a in arrays]
        out.extend(
            MetReading(device_id, t, ws, wd, temp, rh) for t, ws, wd, temp, rh in zip(met_times, *values, strict=True)
        )
    return out


def _nullable(arr: np.ndarray[Any, Any]) -> list[float | None]:
    values: list[float] = arr.tolist()
    return [v if v == v else None for v in values]  # NaN -> NULL


def _ms(times: np.ndarray[Any, Any]) -> list[int]:
    out: list[int] = times.astype("datetime64[ms]").astype(np.int64).tolist()
    return out


def to_store(
    conn: psycopg.Connection[Any], chunks: Iterator[Chunk], *, total: int, run_id: str, progress: Progress | None = None
) -> BackfillStats:
    """Write every chunk's records and new truth events in one transaction per chunk (``total`` steps planned)."""
    started = time.perf_counter()
    done = events = steps = 0
    recorded: set[tuple[str, str, datetime]] = set()
    for chunk in chunks:
        fresh = [e for e in chunk.truth if (e.device_id, e.kind, e.start) not in recorded]
        with conn.transaction():
            readings.write_records(conn, chunk.records, received_at=datetime.now(UTC))
            ground_truth.add_many(conn, fresh, run_id=run_id)
        recorded.update((e.device_id, e.kind, e.start) for e in fresh)
        done += len(chunk.records)
        events += len(fresh)
        steps += chunk.steps
        if progress is not None:
            progress(steps, total, done)
    return BackfillStats(done, events, 0, time.perf_counter() - started)


def native_batches(records: Sequence[Record]) -> Iterator[tuple[str, bytes]]:
    """(device id, native JSON batch) for records of any kind, at most ``BATCH_READINGS`` readings a message."""
    by_device: dict[str, list[Record]] = {}
    for rec in records:
        by_device.setdefault(rec.device_id, []).append(rec)
    for device_id, recs in by_device.items():
        docs = _process_docs(recs) if isinstance(recs[0], ProcessValue) else [_doc(r) for r in recs]
        for i in range(0, len(docs), BATCH_READINGS):
            yield device_id, json.dumps({"device": device_id, "readings": docs[i : i + BATCH_READINGS]}).encode()


_SKIP = frozenset({"device_id", "time", "time_estimated"})


def _doc(rec: Record) -> dict[str, Any]:
    doc: dict[str, Any] = {"ts": iso_ms(round(rec.time.timestamp() * 1000))}
    for f in fields(rec):
        value = getattr(rec, f.name)
        if f.name not in _SKIP and value is not None:
            doc[f.name] = value
    return doc


def _process_docs(recs: Sequence[Record]) -> list[dict[str, Any]]:
    values = [r for r in recs if isinstance(r, ProcessValue)]
    return [
        {"ts": iso_ms(round(t.timestamp() * 1000)), "tags": {v.tag: v.value for v in group}}
        for t, group in groupby(values, key=lambda v: v.time)
    ]


def to_mqtt(
    clients: Mapping[str, DeviceClient],
    chunks: Iterator[Chunk],
    *,
    total: int,
    truth_sink: Callable[[list[TruthEvent]], None],
    progress: Progress | None = None,
    ack_timeout_s: float = 120.0,
) -> BackfillStats:
    """Publish every chunk as native JSON batches over each device's connection; wait for the broker's acks.

    Raises ``TimeoutError`` when the broker does not acknowledge a chunk within ``ack_timeout_s``.
    """
    started = time.perf_counter()
    done = events = messages = steps = 0
    recorded: set[tuple[str, str, datetime]] = set()
    for chunk in chunks:
        fresh = [e for e in chunk.truth if (e.device_id, e.kind, e.start) not in recorded]
        if fresh:
            truth_sink(fresh)
            recorded.update((e.device_id, e.kind, e.start) for e in fresh)
            events += len(fresh)
        for device_id, payload in native_batches(chunk.records):
            client = clients.get(device_id)
            if client is None:
                raise KeyError(f"no connection for device {device_id!r}")
            if not client.publish("json", payload):
                raise RuntimeError(f"{device_id}: the client library refused a message (queue full)")
            messages += 1
        # Bound what waits in client queues: a chunk is acknowledged before the next one is generated.
        if not all(c.flush(ack_timeout_s) for c in clients.values()):
            raise TimeoutError(f"the broker did not acknowledge a chunk within {ack_timeout_s:g} s")
        done += len(chunk.records)
        steps += chunk.steps
        if progress is not None:
            progress(steps, total, done)
    return BackfillStats(done, events, messages, time.perf_counter() - started)
