"""Throttling of failed authentication per client IP: in memory, bounded, thread-safe."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque


class FailedAuthLimiter:
    """At most ``limit`` failures per ``window_s`` per client; at most ``max_clients`` clients remembered.

    Only failures are counted: a key is checked before the caller's count is consulted, so a valid key is
    never refused because of what others sent from the same address, and a client past the limit gets 429
    for each further invalid key. The least recently failing client is forgotten first when the table is full.
    """

    def __init__(self, *, limit: int, window_s: float, max_clients: int) -> None:
        self._limit = limit
        self._window = window_s
        self._max = max_clients
        self._fails: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _prune(self, client: str, now: float) -> deque[float] | None:
        times = self._fails.get(client)
        if times is None:
            return None
        while times and times[0] <= now - self._window:
            times.popleft()
        if not times:
            del self._fails[client]
            return None
        return times

    def retry_after(self, client: str) -> float:
        """Seconds until ``client`` may try again (0 when not blocked)."""
        now = time.monotonic()
        with self._lock:
            times = self._prune(client, now)
            if times is None or len(times) < self._limit:
                return 0.0
            return max(0.0, times[0] + self._window - now)

    def failed(self, client: str) -> None:
        """Count one failed attempt of ``client``."""
        now = time.monotonic()
        with self._lock:
            times = self._prune(client, now)
            if times is None:
                times = deque(maxlen=self._limit)
                self._fails[client] = times
            times.append(now)
            self._fails.move_to_end(client)
            while len(self._fails) > self._max:
                self._fails.popitem(last=False)

    def __len__(self) -> int:
        return len(self._fails)
