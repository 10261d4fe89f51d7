"""Evaluation metrics on constructed cases with hand-computed answers, and the baselines beside them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.evaluation import Scored, Span, evaluate, with_baselines


def _flags(n: int, on: list[int]) -> np.ndarray:
    f = np.zeros(n, bool)
    f[on] = True
    return f


T = np.arange(0.0, 100.0, 10.0)  # ten samples, 10 s apart: 0, 10, ..., 90


def test_hand_computed_case() -> None:
    # events: [20, 50) covers samples 2,3,4; [70, 80) covers sample 7
    truth = [Span("a", "stuck", 20.0, 50.0), Span("a", "stuck", 70.0, 80.0)]
    # flags at 3, 4 (inside event 1), 9 (normal): event 1 detected 10 s late, event 2 missed
    m = evaluate([Scored("a", T, _flags(10, [3, 4, 9]))], truth)
    assert (m.events, m.events_detected, m.event_recall) == (2, 1, 0.5)
    assert (m.flagged_points, m.true_points) == (3, 2) and m.point_precision == pytest.approx(2 / 3)
    assert m.far == pytest.approx(1 / 6)  # six normal samples, one flagged
    assert m.mar == pytest.approx(2 / 4)  # four event samples, two missed
    assert (m.alarms, m.false_alarms, m.alarm_precision) == (2, 1, 0.5)
    assert m.median_delay_s == 10.0 and m.delays_s == [10.0]
    assert m.sensor_days == pytest.approx(100.0 / 86_400.0)
    assert m.false_alarms_per_sensor_day == pytest.approx(864.0)
    assert m.composite_f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert m.event_f1 == pytest.approx(0.5)


def test_tolerance_counts_a_detection_just_after_the_end() -> None:
    truth = [Span("a", "spike", 30.0, 40.0)]
    flags = _flags(10, [4])  # decided one sample after a one-sample spike
    assert evaluate([Scored("a", T, flags)], truth).event_recall == 0.0
    late = evaluate([Scored("a", T, flags)], truth, tolerance_s=15.0)
    assert (late.event_recall, late.false_alarms, late.median_delay_s) == (1.0, 0, 10.0)


def test_other_kinds_are_neither_true_nor_false() -> None:
    truth = [Span("a", "spike", 10.0, 20.0), Span("a", "rh_artefact", 50.0, 70.0)]
    m = evaluate([Scored("a", T, _flags(10, [1, 5, 6]))], truth, kinds={"spike"})
    assert (m.events, m.event_recall) == (1, 1.0)
    assert (m.alarms, m.false_alarms, m.alarms_other) == (2, 0, 1)
    assert m.points == 8 and m.flagged_points == 1  # the two rh samples are left out of point counts


def test_baselines_are_always_reported() -> None:
    truth = [Span("a", "stuck", 20.0, 50.0), Span("b", "stuck", 0.0, 10.0)]
    scored = [Scored("a", T, _flags(10, [2])), Scored("b", T, _flags(10, []))]
    out = with_baselines(scored, truth)
    assert set(out) == {"detector", "no_alarm", "all_alarm"}
    none, every = out["no_alarm"], out["all_alarm"]
    assert (none.event_recall, none.flagged_points, none.false_alarms, none.event_f1) == (0.0, 0, 0, 0.0)
    assert math.isnan(none.point_precision) and none.to_dict()["point_precision"] is None
    assert (every.event_recall, every.far, every.mar) == (1.0, 1.0, 0.0)
    assert every.point_precision == pytest.approx(4 / 20)
    assert every.alarms == 2 and every.false_alarms == 0  # one alarm per device, each overlaps an event
    assert out["detector"].event_recall == 0.5


def test_devices_without_events_only_contribute_false_alarms() -> None:
    m = evaluate([Scored("quiet", T, _flags(10, [0, 1, 5]))], [])
    assert (m.events, m.false_alarms, m.alarms) == (0, 2, 2)
    assert math.isnan(m.event_recall) and m.far == pytest.approx(0.3)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="one length"):
        Scored("a", T, np.zeros(3, bool))
    with pytest.raises(ValueError, match="tolerance"):
        evaluate([], [], tolerance_s=-1.0)
