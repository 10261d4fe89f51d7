"""The per-device token bucket that bounds quarantine rows."""

from __future__ import annotations

import pytest

from ingest.quarantine_limit import QuarantineLimiter


def test_burst_then_rate_per_device() -> None:
    limiter = QuarantineLimiter(per_minute=60, burst=5)
    assert [limiter.allow("a", 0.0) for _ in range(7)] == [True] * 5 + [False] * 2
    assert limiter.allow("b", 0.0)  # another device has its own bucket
    assert not limiter.allow("a", 0.5)  # half a token refilled
    assert limiter.allow("a", 1.0) and not limiter.allow("a", 1.0)
    # A long pause refills up to the burst, no further.
    assert [limiter.allow("a", 3600.0) for _ in range(6)] == [True] * 5 + [False]


def test_idle_buckets_are_forgotten() -> None:
    limiter = QuarantineLimiter(per_minute=60, burst=1)
    for i in range(10_001):
        limiter.allow(f"d{i}", 0.0)
    limiter.allow("late", 10.0)  # all earlier buckets have refilled by now
    assert len(limiter._buckets) == 1


@pytest.mark.parametrize(("per_minute", "burst"), [(0, 1), (-1, 1), (1, 0)])
def test_bad_limits_are_refused(per_minute: float, burst: int) -> None:
    with pytest.raises(ValueError, match="per_minute"):
        QuarantineLimiter(per_minute=per_minute, burst=burst)
