"""Counters and histograms of one ingest worker, read by logs, tests and the Prometheus endpoint.

Plain numbers, not Prometheus objects: the hot path only adds to ints (one writer thread per counter), and
``ingest.metrics`` turns a snapshot of them into metric families when ``/metrics`` is scraped.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field

#: Upper bounds (seconds) for commit latency and ack lag.
LATENCY_BUCKETS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Upper bounds (messages) for batch sizes.
BATCH_BUCKETS: tuple[float, ...] = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)


@dataclass
class Histogram:
    """Cumulative-style histogram with fixed upper bounds (``+Inf`` implied)."""

    bounds: tuple[float, ...]
    counts: list[int] = field(init=False)
    total: float = 0.0
    n: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value
        self.n += 1

    def observe_many(self, values: list[float]) -> None:
        counts, bounds = self.counts, self.bounds
        for value in values:
            counts[bisect_left(bounds, value)] += 1
        self.total += sum(values)
        self.n += len(values)

    def cumulative(self) -> list[tuple[str, float]]:
        """``(le, count)`` pairs as Prometheus expects them, ending with ``+Inf``."""
        out: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            running += count
            out.append((bound, float(running)))
        return out


@dataclass
class IngestStats:
    """What one worker did. Each field has one writing thread; readers may see slightly stale values."""

    messages: int = 0
    rows: int = 0
    duplicate_rows: int = 0
    conflicts: int = 0
    acked: int = 0
    commits: int = 0
    db_errors: int = 0
    connects: int = 0
    redelivered: int = 0
    spooled: int = 0
    replayed: int = 0
    rejected_batches: int = 0
    rebirths_requested: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)
    #: Quarantined messages over the per-device rate: counted (``quarantine_suppressed``), not stored in full.
    suppressed: Counter[str] = field(default_factory=Counter)
    commit_seconds: Histogram = field(default_factory=lambda: Histogram(LATENCY_BUCKETS))
    ack_lag_seconds: Histogram = field(default_factory=lambda: Histogram(LATENCY_BUCKETS))
    batch_messages: Histogram = field(default_factory=lambda: Histogram(BATCH_BUCKETS))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def reconnects(self) -> int:
        """Connections after the first one."""
        return max(self.connects - 1, 0)

    def quarantine(self, reason: str, *, suppressed: bool = False) -> None:
        with self._lock:
            self.quarantined[reason] += 1
            if suppressed:
                self.suppressed[reason] += 1

    def quarantined_snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.quarantined)

    def suppressed_snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.suppressed)

    def observe_commit(self, messages: int, seconds: float) -> None:
        self.commits += 1
        self.commit_seconds.observe(seconds)
        self.batch_messages.observe(messages)
