"""Counters of one ingest worker (read by logs, the metrics endpoint and tests)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class IngestStats:
    """Plain counters; writes come from one thread each, reads may be slightly stale."""

    messages: int = 0
    rows: int = 0
    duplicate_rows: int = 0
    acked: int = 0
    commits: int = 0
    db_errors: int = 0
    reconnects: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)
    commit_seconds_total: float = 0.0
    last_batch_messages: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def quarantine(self, reason: str) -> None:
        with self._lock:
            self.quarantined[reason] += 1

    def observe_commit(self, messages: int, seconds: float) -> None:
        self.commits += 1
        self.commit_seconds_total += seconds
        self.last_batch_messages = messages
