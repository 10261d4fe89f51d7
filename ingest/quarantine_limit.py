"""How many quarantine rows one device may cause: a token bucket per device.

A device (or anyone holding its credentials) that sends garbage as fast as the broker takes it must not be
able to grow the quarantine table without bound. Each device may have ``burst`` rows stored at once and
``per_minute`` more every minute; what exceeds that is not dropped but counted (``quarantine_suppressed``
and the ``kipsense_ingest_quarantine_suppressed_total`` metric). The buckets are a dozen lines of arithmetic
on the writer thread, so no rate-limiting library is pulled in for them; memory is bounded by forgetting
buckets that have refilled completely.
"""

from __future__ import annotations

_PRUNE_AT = 10_000


class QuarantineLimiter:
    """``allow(device, now)`` is True while the device's bucket holds a token (one is taken)."""

    def __init__(self, *, per_minute: float, burst: int) -> None:
        if per_minute <= 0 or burst < 1:
            raise ValueError("per_minute must be > 0 and burst >= 1")
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}  # device -> (tokens, at)

    def allow(self, device: str, now: float) -> bool:
        tokens, at = self._buckets.get(device, (self._burst, now))
        tokens = min(self._burst, tokens + (now - at) * self._rate)
        allowed = tokens >= 1.0
        self._buckets[device] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._buckets) > _PRUNE_AT:
            self._prune(now)
        return allowed

    def _prune(self, now: float) -> None:
        full = [d for d, (t, at) in self._buckets.items() if t + (now - at) * self._rate >= self._burst]
        for device in full:
            del self._buckets[device]
