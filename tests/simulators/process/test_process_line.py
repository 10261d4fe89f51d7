"""The process line: determinism, chunking, correlation structure, and faults where the truth says."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from kipsense.records import TruthEvent
from simulators.process import TAGS, NormalChanges, ProcessConfig, ProcessFault, ProcessFrame, ProcessLine

START = datetime(2024, 5, 1, tzinfo=UTC)
HOUR = 3600.0
N = 6 * 360  # six hours of 10-s samples


def _faulty() -> ProcessConfig:
    return ProcessConfig(
        seed=9,
        faults=(
            ProcessFault("bias", "reactor_ph", start_s=1 * HOUR, duration_s=HOUR, magnitude=4.0),
            ProcessFault("variance", "reactor_temp", start_s=2 * HOUR, duration_s=HOUR, magnitude=4.0),
            ProcessFault("stiction", "naoh_feed_flow", start_s=3 * HOUR, duration_s=HOUR, magnitude=1.0),
            ProcessFault("drift", "free_ammonia", start_s=4 * HOUR, duration_s=HOUR, magnitude=6.0),
            ProcessFault("step", "throughput", start_s=5 * HOUR, magnitude=3.0),
        ),
    )


def _event(frame: ProcessFrame, kind: str) -> TruthEvent:
    return next(e for e in frame.truth if e.kind == kind)


def test_tags_are_named_and_within_the_issue_range() -> None:
    line = ProcessLine(ProcessConfig())
    assert 15 <= len(line.tags) <= 25
    assert len(set(line.tags)) == len(line.tags)
    assert "reactor_ph" in line.tags


def test_same_seed_same_values_and_chunks_equal_generate() -> None:
    cfg = _faulty()
    whole = ProcessLine(cfg).generate(START, N)
    np.testing.assert_array_equal(whole.values, ProcessLine(cfg).generate(START, N).values)
    assert not np.allclose(whole.values, ProcessLine(replace(cfg, seed=10)).generate(START, N).values)
    stream = ProcessLine(cfg).chunks(START, 97)
    parts = [next(stream) for _ in range(N // 97 + 1)]
    joined = ProcessFrame.concat(parts)
    np.testing.assert_array_equal(joined.values[:N], whole.values)
    np.testing.assert_array_equal(joined.times[:N], whole.times)
    assert sorted((e.kind, e.start) for e in joined.truth) == sorted((e.kind, e.start) for e in whole.truth)


def test_tags_are_correlated_as_the_loadings_say() -> None:
    frame = ProcessLine(ProcessConfig(seed=4)).generate(START, 100_000)
    z = (frame.values - frame.values.mean(0)) / frame.values.std(0)
    corr = np.corrcoef(z.T)
    tags = frame.tags
    # feeds move together with throughput; pH and residual metal move against each other
    assert corr[tags.index("metal_feed_flow"), tags.index("overflow_flow")] > 0.5
    assert corr[tags.index("reactor_ph"), tags.index("residual_metal")] < -0.4
    assert abs(corr[tags.index("naoh_conc"), tags.index("reactor_temp")]) < 0.05

    # dynamics: particle size follows hours-slow growth, pH settles within minutes
    def lag_hour(tag: str) -> float:
        col = z[:, tags.index(tag)]
        return float(np.corrcoef(col[:-360], col[360:])[0, 1])

    assert lag_hour("particle_d50") > 0.5
    assert lag_hour("reactor_ph") < 0.2
    means = np.array([t.mean for t in TAGS])
    assert np.all(np.abs(frame.values.mean(0) - means) < 0.5 * np.array([t.sd for t in TAGS]))


def test_faults_change_statistics_only_where_the_truth_says() -> None:
    cfg = _faulty()
    faulty = ProcessLine(cfg).generate(START, N)
    clean = ProcessLine(replace(cfg, faults=())).generate(START, N)
    diff = faulty.values != clean.values
    touched = np.zeros_like(diff)
    for ev in faulty.truth:
        rows = faulty.rows_of(ev)
        target = str(ev.params["target"])
        if target in faulty.tags:
            touched[rows, faulty.tags.index(target)] = True
        else:
            touched[rows, :] = True
    assert not (diff & ~touched).any()

    sd = {t.name: t.sd for t in TAGS}
    bias = faulty.rows_of(_event(faulty, "bias"))
    ph_f, ph_c = faulty.column("reactor_ph"), clean.column("reactor_ph")
    assert np.mean(ph_f[bias] - ph_c[bias]) == pytest.approx(4.0 * sd["reactor_ph"])

    var = faulty.rows_of(_event(faulty, "variance"))
    temp = faulty.column("reactor_temp")
    outside = np.r_[temp[: var.start], temp[var.stop : var.stop + 360]]
    assert np.std(temp[var]) > 2.5 * np.std(outside)

    stick = faulty.rows_of(_event(faulty, "stiction"))
    flow = faulty.column("naoh_feed_flow")
    steps = np.abs(np.diff(flow[stick])) / sd["naoh_feed_flow"]
    assert np.mean(steps < 0.2) > 0.85  # stuck most of the time ...
    assert steps.max() > 0.6  # ... and moving in jumps
    normal = np.abs(np.diff(flow[: stick.start])) / sd["naoh_feed_flow"]
    assert np.mean(normal < 0.2) < 0.6

    drift = faulty.rows_of(_event(faulty, "drift"))
    excess = faulty.column("free_ammonia")[drift] - clean.column("free_ammonia")[drift]
    assert excess[-1] == pytest.approx(6.0 * sd["free_ammonia"], rel=0.01)
    assert np.all(np.diff(excess) > 0)

    step = faulty.rows_of(_event(faulty, "step"))
    assert _event(faulty, "step").end.year == 9999
    flows = ("metal_feed_flow", "overflow_flow")
    for tag in flows:
        shift = np.mean(faulty.column(tag)[step] - clean.column(tag)[step]) / sd[tag]
        assert shift > 2.0


def test_to_values_emits_one_record_per_tag_and_sample() -> None:
    frame = ProcessLine(ProcessConfig(seed=1, device_id="line-7")).generate(START, 5)
    values = frame.to_values()
    assert len(values) == 5 * len(frame.tags)
    assert values[0].device_id == "line-7"
    assert values[0].time == START
    assert values[1].tag == frame.tags[1]
    assert values[1].value == frame.values[0, 1]


def test_bad_faults_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot target"):
        ProcessFault("bias", "throughput", start_s=0.0)
    with pytest.raises(ValueError, match="unknown"):
        ProcessFault("explode", "reactor_ph", start_s=0.0)


def test_normal_long_term_changes_drift_shift_quantise_and_jitter_without_touching_the_base_run() -> None:
    day = 24 * HOUR
    changes = NormalChanges(
        drift_sd_per_day=1.0, season_sd=0.5, setpoint_shifts=((1.0 * day, 2.0),), resolution_sd=0.1, jitter_s=20.0
    )
    cfg = ProcessConfig(seed=4, sample_interval_s=60.0, normal=changes)
    n = 2 * 1440
    base = ProcessLine(replace(cfg, normal=None)).generate(START, n)
    moved = ProcessLine(cfg).generate(START, n)
    np.testing.assert_array_equal(
        base.values, ProcessLine(ProcessConfig(seed=4, sample_interval_s=60.0)).generate(START, n).values
    )
    sd = np.array([t.sd for t in TAGS])
    # quantised to a tenth of each tag's standard deviation
    steps = moved.values / (0.1 * sd)
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-6)
    # every tag drifts: about 1 sd between the first and the last hour on top of the base run
    gap = np.abs((moved.values - base.values)[-60:].mean(axis=0) - (moved.values - base.values)[:60].mean(axis=0)) / sd
    assert (gap > 0.5).mean() > 0.5
    # the throughput step from day 1 persists in the metal feed flow (loads 0.9 on throughput)
    feed = TAGS.index(next(t for t in TAGS if t.name == "metal_feed_flow"))
    diff = (moved.values - base.values)[:, feed] / sd[feed]
    assert diff[1500:1600].mean() - diff[1300:1400].mean() > 1.0
    # times move by up to 20 s and stay in order; chunks equal the whole run
    offsets = (moved.times - base.times).astype("timedelta64[ms]").astype(np.int64) / 1000.0
    assert (
        np.abs(offsets).max() <= 20.0
        and np.abs(offsets).max() > 10.0
        and (np.diff(moved.times) > np.timedelta64(0)).all()
    )
    parts = ProcessFrame.concat([next(c) for c in [ProcessLine(cfg).chunks(START, 500)] for _ in range(6)])
    np.testing.assert_array_equal(parts.values[:n], moved.values)
    np.testing.assert_array_equal(parts.times[:n], moved.times)
    with pytest.raises(ValueError, match="jitter_s"):
        ProcessConfig(sample_interval_s=10.0, normal=NormalChanges(jitter_s=5.0))
