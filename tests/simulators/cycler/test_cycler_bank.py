"""The cycler bank: determinism, chunking, protocol limits, coulombic efficiency, fade and ground truth."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest

from simulators.cycler import FLOAT_FIELDS, CyclerBank, CyclerFrame, StepType
from simulators.cycler.frame import datetime64_ms
from simulators.cycler.scenarios import CYCLE_S, HEALTHY, START, regular_cycles, scenario_config, scenario_frame


def _rows(frame: CyclerFrame, kind: str, ch: int) -> tuple[int, int]:
    """First row inside and first row after the truth interval of ``kind`` on channel ``ch``."""
    ev = next(e for e in frame.truth if e.kind == kind and e.device_id == frame.device_ids[ch])
    lo = int(np.searchsorted(frame.times, datetime64_ms(ev.start)))
    hi = int(np.searchsorted(frame.times, datetime64_ms(min(ev.end, START + timedelta(days=10_000)))))
    return lo, hi


def _keys(frame: CyclerFrame) -> list[tuple[str, str, object, object]]:
    return sorted((e.device_id, e.kind, e.start, e.end) for e in frame.truth)


def _assert_frames_equal(a: CyclerFrame, b: CyclerFrame) -> None:
    np.testing.assert_array_equal(a.times, b.times)
    for name in ("cycle_index", "step_index", "step_type", "present", *FLOAT_FIELDS):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert _keys(a) == _keys(b)


def test_same_seed_same_data_other_seed_other_data() -> None:
    cfg = replace(scenario_config(), n_channels=3, faults=())
    a = CyclerBank(cfg).generate(START, 500)
    b = CyclerBank(cfg).generate(START, 500)
    c = CyclerBank(replace(cfg, seed=cfg.seed + 1)).generate(START, 500)
    _assert_frames_equal(a, b)
    assert not np.allclose(a.voltage, c.voltage)


def test_chunks_concatenated_equal_generate() -> None:
    cfg = scenario_config()
    total = int(40 * CYCLE_S / cfg.sample_interval_s) // 37 * 37  # 40 cycles, crossing several faults
    stream = CyclerBank(cfg).chunks(START, 37)
    parts = [next(stream) for _ in range(total // 37)]
    whole = scenario_frame()
    n = sum(p.times.size for p in parts)
    joined = CyclerFrame.concat(parts)
    sliced = CyclerFrame.concat([whole])  # a copy with the same structure, then cut to length
    for name in ("times", "cycle_index", "step_index", "step_type", "present", *FLOAT_FIELDS):
        np.testing.assert_array_equal(getattr(joined, name), getattr(sliced, name)[:n], err_msg=name)
    early = sorted(
        (e.device_id, e.kind, e.start, e.end) for e in whole.truth if datetime64_ms(e.start) <= joined.times[-1]
    )
    assert _keys(joined) == early
    assert len(early) == 4


def test_voltage_stays_within_limits_during_cc_cv() -> None:
    frame, p = scenario_frame(), scenario_config().protocol
    tol = 5 * scenario_config().noise_voltage
    for ch in HEALTHY:
        v, typ = frame.voltage[:, ch], frame.step_type[:, ch]
        charging = (typ == StepType.CC_CHARGE) | (typ == StepType.CV_CHARGE)
        assert charging.sum() > 1000
        assert v[charging].max() <= p.v_max + tol
        assert v.min() >= p.v_min - tol
        # constant voltage really is constant, and CC current is the programmed one
        assert np.abs(v[typ == StepType.CV_CHARGE] - p.v_max).max() <= tol
        cc = frame.current[typ == StepType.CC_CHARGE, ch]
        assert np.median(cc) == pytest.approx(p.charge_c_rate * scenario_config().cell.capacity_ah, rel=1e-3)


def test_healthy_coulombic_efficiency_near_one() -> None:
    for ch in HEALTHY:
        n, qc, qd = regular_cycles(scenario_frame(), ch)
        ce = qd / qc
        assert n.size > 40
        assert ce.min() >= 0.995
        assert ce.max() <= 1.005


def test_internal_short_drops_coulombic_efficiency_after_onset() -> None:
    frame = scenario_frame()
    lo, _ = _rows(frame, "internal_short", 2)
    onset_cycle = frame.cycle_index[lo, 2]
    n, qc, qd = regular_cycles(frame, 2)
    ce = qd / qc
    assert ce[n < onset_cycle].min() >= 0.995
    assert ce[n > onset_cycle].max() < 0.95
    # the self-discharge also shows as a falling voltage during rests
    rest = frame.step_type[:, 2] == StepType.REST
    assert frame.voltage[lo:, 2][rest[lo:]].min() < frame.voltage[:lo, 2][rest[:lo]].min()


def test_capacity_fade_is_monotone_with_a_knee() -> None:
    frame = scenario_frame()
    for ch in HEALTHY:
        n, _, qd = regular_cycles(frame, ch)
        # non-increasing up to the sampling resolution of the cut-off
        assert np.diff(qd).max() < 3e-3
        assert qd[-1] < qd[0] - 0.2
        early = -np.polyfit(n[:20], qd[:20], 1)[0]
        late = -np.polyfit(n[-10:], qd[-10:], 1)[0]
        assert late > 8 * early


def test_early_knee_fades_faster_from_its_onset() -> None:
    frame = scenario_frame()
    lo, _ = _rows(frame, "early_knee", 1)
    onset = frame.cycle_index[lo, 1]
    n1, _, q1 = regular_cycles(frame, 1)
    n0, _, q0 = regular_cycles(frame, 0)
    before = n1 < onset
    assert np.diff(q1[before]).max() < 3e-3
    # 25 cycles after onset the faulty cell has lost far more than the healthy one over the same cycles
    loss1 = q1[np.searchsorted(n1, onset)] - q1[np.searchsorted(n1, onset + 25)]
    loss0 = q0[np.searchsorted(n0, onset)] - q0[np.searchsorted(n0, onset + 25)]
    assert loss1 > 5 * loss0
    assert loss1 > 0.2


def test_thermal_excursion_heats_only_inside_its_interval() -> None:
    frame = scenario_frame()
    lo, hi = _rows(frame, "thermal_excursion", 3)
    t = frame.temperature[:, 3]
    assert np.nanmax(t[lo:hi]) > np.nanmax(t[:lo]) + 10.0
    assert np.nanmax(t[hi + 60 : hi + 300]) < np.nanmax(t[:lo]) + 1.0


def test_contact_resistance_jump_shows_in_internal_resistance() -> None:
    frame = scenario_frame()
    lo, _ = _rows(frame, "contact_resistance", 3)
    ir = frame.internal_resistance[:, 3]
    before = np.nanmedian(ir[lo - 500 : lo])
    after = np.nanmedian(ir[lo + 300 : lo + 800])
    assert after - before == pytest.approx(0.03, abs=0.006)


def test_counter_and_capacity_resets_happen_at_their_truth_times() -> None:
    frame = scenario_frame()
    lo, hi = _rows(frame, "counter_reset", 3)
    assert hi == lo + 1
    assert frame.cycle_index[lo - 1, 3] > 40
    assert frame.cycle_index[lo, 3] == 1
    assert frame.test_time[lo, 3] == 0.0
    assert np.all(np.diff(frame.cycle_index[:lo, 3]) >= 0)
    lo, _ = _rows(frame, "capacity_reset", 3)
    moving = np.abs(frame.current[lo, 3]) > 0
    total = frame.charge_capacity[lo, 3] + frame.discharge_capacity[lo, 3]
    assert total <= (abs(frame.current[lo, 3]) * 60 / 3600 + 1e-9 if moving else 1e-9)
    assert frame.charge_capacity[lo - 1, 3] + frame.discharge_capacity[lo - 1, 3] > total


def test_sensor_dropouts_match_truth() -> None:
    frame = scenario_frame()
    ev_all, ev_t = (e for e in sorted(frame.truth, key=lambda e: e.start) if e.kind == "sensor_dropout")
    missing = np.flatnonzero(~frame.present[:, 3])
    lo = int(np.searchsorted(frame.times, datetime64_ms(ev_all.start)))
    hi = int(np.searchsorted(frame.times, datetime64_ms(ev_all.end)))
    np.testing.assert_array_equal(missing, np.arange(lo, hi))
    assert frame.present[:, [0, 2, 4]].all()
    # the early-knee cell reaches end of life: its test ends and the channel falls silent for good
    silent = np.flatnonzero(~frame.present[:, 1])
    assert silent.size > 0
    np.testing.assert_array_equal(silent, np.arange(silent[0], frame.times.size))
    nan_t = np.flatnonzero(np.isnan(frame.temperature[:, 3]) & frame.present[:, 3])
    lo = int(np.searchsorted(frame.times, datetime64_ms(ev_t.start)))
    hi = int(np.searchsorted(frame.times, datetime64_ms(ev_t.end)))
    np.testing.assert_array_equal(nan_t, np.arange(lo, hi))
    assert not np.isnan(frame.voltage[lo:hi, 3]).any()


def test_to_samples_carries_every_sent_value() -> None:
    frame = CyclerFrame.concat([scenario_frame()])
    cut = CyclerFrame(
        **{
            name: getattr(frame, name)[60 * 150 - 5 : 60 * 150 + 5]
            for name in ("times", "cycle_index", "step_index", "step_type", "present", *FLOAT_FIELDS)
        },
        device_ids=frame.device_ids,
        truth=frame.truth,
    )
    samples = cut.to_samples()
    assert len(samples) == cut.n_samples
    first = samples[0]
    assert first.device_id == frame.device_ids[0]
    assert first.time.tzinfo is not None
    assert first.voltage == cut.voltage[0, 0]
    assert first.step_type == cut.step_type_names[cut.step_type[0, 0]]
    assert isinstance(first.cycle_index, int)
