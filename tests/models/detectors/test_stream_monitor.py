"""stream_monitor: quiet on realistic normal data (drift, seasons, lasting shifts, flat stretches, quantised,
irregular), still catches faults, and scores the same through the streaming scorer's tracker."""

from __future__ import annotations

import numpy as np
import pytest

from models.detectors.registry import build_detector
from models.detectors.stream_monitor import StreamMonitor, decaying_max
from models.streaming import Source, Tracker
from simulators.realism import Realism, RealismSpec

MINUTE_MS = 60_000


def _realistic(seed: int, days: int = 8) -> tuple[np.ndarray, np.ndarray, list[tuple[float, float]]]:
    """One channel a minute with real-data properties; sent samples only; normal-change spans (s)."""
    t = np.arange(0, days * 86_400_000, MINUTE_MS, dtype=np.int64)
    base = 20.0 + np.random.default_rng(seed).normal(0.0, 1.0, (t.size, 1))
    realism = Realism(RealismSpec(flat_fraction=0.3), seed=seed, device_ids=("s",), start_ms=0)
    values, present, truth = realism.apply(t, base)
    changes = [(ev.start.timestamp(), ev.end.timestamp()) for ev in truth]
    return t[present[:, 0]] / 1000.0, values[present[:, 0], 0], changes


def _run_realistic(seed: int, **params: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Flags on the test days with spikes injected, false alarms, spike positions, normal changes."""
    times, x, changes = _realistic(seed)
    train = times < 86_400
    det = build_detector("stream_monitor", params).fit(x[train])
    test_t, test_x = times[~train], x[~train].copy()
    rng = np.random.default_rng(100 + seed)
    faults = np.sort(rng.choice(np.arange(500, test_x.size - 500, 400), size=8, replace=False))
    test_x[faults] += rng.choice([-1.0, 1.0], size=8) * 25.0  # spikes of 25 noise sigma (6 x the daily swing)
    flags = det.predict(test_x)
    near_fault = np.zeros(test_x.size, dtype=bool)
    for f in faults:
        near_fault[f : f + 3] = True
    # a normal change may be flagged at its start or end (within an hour); anything else is a false alarm
    near_change = np.zeros(test_x.size, dtype=bool)
    for lo, hi in changes:
        near_change |= ((test_t >= lo) & (test_t < lo + 3600)) | ((test_t >= hi) & (test_t < hi + 3600))
    # a lasting shift or flat stretch is flagged a few times at most, not for as long as it lasts
    assert (flags & near_change).sum() <= 4 * len(changes)
    return flags, flags & ~near_fault & ~near_change, faults, len(changes)


def test_few_false_alarms_on_realistic_normal_data_and_the_first_fault_is_caught() -> None:
    for seed in range(3):
        flags, false, faults, _ = _run_realistic(seed)
        assert false.mean() < 0.002
        assert flags[faults[0] : faults[0] + 3].any()


@pytest.mark.xfail(
    reason="known limitation: a fault no larger than an earlier one within record_memory is not a "
    "new record, so repeated equal faults after the first are missed",
    strict=True,
)
def test_repeated_faults_of_the_same_size_are_all_caught() -> None:
    caught = total = 0
    for seed in range(3):
        flags, _, faults, _ = _run_realistic(seed)
        caught += sum(bool(flags[f : f + 3].any()) for f in faults)
        total += faults.size
    assert caught / total >= 0.9


def test_a_shorter_record_memory_catches_repeated_faults_with_few_false_alarms() -> None:
    caught = total = 0
    for seed in range(3):
        flags, false, faults, _ = _run_realistic(seed, record_memory=3000.0)
        caught += sum(bool(flags[f : f + 3].any()) for f in faults)
        total += faults.size
        assert false.mean() < 0.002
    assert caught / total >= 0.9


def test_a_record_cap_catches_repeated_faults_with_few_false_alarms() -> None:
    caught = total = 0
    for seed in range(3):
        flags, false, faults, _ = _run_realistic(seed, record_cap=1.5)
        caught += sum(bool(flags[f : f + 3].any()) for f in faults)
        total += faults.size
        assert false.mean() < 0.002
    assert caught / total >= 0.9


def test_a_record_cap_compares_large_values_with_the_recent_record_only() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=20_000)
    x[5000] += 12.0
    x[7000] += 10.0  # a slightly smaller fault, 2000 samples later (within both memories)
    default = StreamMonitor().fit(rng.normal(size=1000))
    capped = StreamMonitor(record_cap=1.5).fit(rng.normal(size=1000))
    assert default.predict(x)[5000] and not default.predict(x)[7000]
    assert capped.predict(x)[5000] and capped.predict(x)[7000]


def test_a_record_cap_scores_in_chunks_as_whole() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=9000)
    x[::1500] += 9.0
    det = StreamMonitor(record_cap=1.5, recent_memory=500.0).fit(rng.normal(size=800))
    state = det.start_state()
    parts = []
    for lo in range(0, x.size, 611):
        s, state = det.score_stream(x[lo : lo + 611], state)
        parts.append(s)
    np.testing.assert_allclose(np.concatenate(parts), det.decision_function(x), rtol=1e-10, atol=1e-12)


def test_a_level_shift_becomes_the_new_normal() -> None:
    rng = np.random.default_rng(1)
    det = StreamMonitor().fit(rng.normal(10.0, 1.0, 1000))
    x = rng.normal(10.0, 1.0, 3000)
    x[1000:] += 8.0
    flags = det.predict(x)
    assert flags[1000:1010].any()
    assert flags[1100:].sum() == 0


def test_flat_training_data_gets_a_floor_relative_to_its_level() -> None:
    det = StreamMonitor().fit(np.full(300, 50.0))
    assert det.floor_[0] == 0.05
    assert not det.predict(np.r_[np.full(50, 50.0), 50.001, np.full(50, 50.0)]).any()


def test_tracker_chunks_equal_scoring_whole() -> None:
    times, x, _ = _realistic(4, days=3)
    det = StreamMonitor().fit(x[:1000])
    source = Source(key="m", alert_type="model:m", kind="dust", columns=("pm10",), build=lambda d: det)
    whole = Tracker(source, det).feed(x[1000:, None], times[1000:])
    tracker = Tracker(source, det)
    parts = []
    for lo in range(1000, x.size, 777):
        hi = min(x.size, lo + 777)
        parts.append(tracker.feed(x[lo:hi, None], times[lo:hi]).scores)
        tracker = Tracker(source, det, saved=tracker.to_json(with_detector=True))
    np.testing.assert_allclose(np.concatenate(parts), whole.scores, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(whole.scores, det.decision_function(x[1000:]), rtol=1e-10, atol=1e-12)


def test_decaying_max_matches_the_recursion() -> None:
    rng = np.random.default_rng(2)
    v = rng.exponential(size=(40_000, 2)) + 0.01
    got = decaying_max(v, np.array([0.5, 3.0]), -0.01)
    level = np.array([0.5, 3.0])
    for i, row in enumerate(v):
        level = np.maximum(row, level * np.exp(-0.01))
        np.testing.assert_allclose(got[i], level, rtol=1e-9)
