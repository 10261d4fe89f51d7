from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from kipsense.records import CyclerSample
from models.cycler.features import cycle_features, group_median, heating_rate
from models.cycler.samples import ChannelSamples
from tests.models.cycler.cycler_synth import PER_CYCLE, synthetic_channel


def test_healthy_and_leaking_cells() -> None:
    capacity = np.linspace(2.0, 1.9, 30)
    healthy = cycle_features(synthetic_channel(capacity, np.full(30, 0.9995)))
    leaking = cycle_features(synthetic_channel(capacity, np.full(30, 0.98)))
    np.testing.assert_allclose(healthy.discharge_capacity, capacity)
    np.testing.assert_allclose(healthy.charge_capacity, capacity / 0.9995)
    assert np.all(np.abs(healthy.coulombic_efficiency - 1.0) < 1e-3)
    assert np.all(leaking.coulombic_efficiency < 0.99)
    np.testing.assert_allclose(healthy.energy_efficiency, 0.9995 * 3.6 / 3.8)
    np.testing.assert_array_equal(healthy.cycle_index, np.arange(1, 31))
    assert np.all(healthy.n_samples == PER_CYCLE)


def test_drop_last_leaves_out_the_running_cycle() -> None:
    s = synthetic_channel(np.full(4, 2.0), np.ones(4))
    n = len(s) - 100  # the fourth cycle is 30 s into its charge
    live = ChannelSamples.from_columns(
        {
            "cycle_index": s.cycle_index[:n],
            "charge_capacity": s.charge_capacity[:n],
            "discharge_capacity": s.discharge_capacity[:n],
        }
    )
    assert cycle_features(live).coulombic_efficiency[-1] == 0.0
    kept = cycle_features(live, drop_last=True)
    assert kept.cycle_index.tolist() == [1.0, 2.0, 3.0]
    np.testing.assert_allclose(kept.coulombic_efficiency, 1.0)


def test_resistance_from_current_steps_and_reported() -> None:
    f = cycle_features(synthetic_channel(np.full(5, 2.0), np.ones(5), resistance=0.035))
    np.testing.assert_allclose(f.pulse_resistance, 0.035)
    np.testing.assert_allclose(f.internal_resistance, 0.035)


def test_temperature_and_heating_rate() -> None:
    n = 4
    temp = np.full(n * PER_CYCLE, 25.0)
    ramp = slice(2 * PER_CYCLE + 10, 2 * PER_CYCLE + 70)
    temp[ramp] = 25.0 + 0.05 * np.arange(60)  # 3 °C/min in the third cycle
    temp[2 * PER_CYCLE + 70 : 3 * PER_CYCLE] = temp[ramp][-1]
    f = cycle_features(synthetic_channel(np.full(n, 2.0), np.ones(n), temperature=temp), rate_window_s=30.0)
    np.testing.assert_allclose(f.max_temperature, [25.0, 25.0, 25.0 + 0.05 * 59, temp[3 * PER_CYCLE]])
    np.testing.assert_allclose(f.max_dtdt[2], 3.0)
    assert np.all(np.abs(f.max_dtdt[[0, 1]]) < 1e-12)


def test_nan_and_missing_cycle_index() -> None:
    s = synthetic_channel(np.full(3, 2.0), np.ones(3))
    cols = {
        name: getattr(s, name).copy()
        for name in ("test_time", "cycle_index", "charge_capacity", "discharge_capacity", "temperature")
    }
    cols["cycle_index"][:10] = np.nan
    cols["temperature"][PER_CYCLE : 2 * PER_CYCLE] = np.nan
    f = cycle_features(ChannelSamples.from_columns(cols))
    assert f.n_samples.tolist() == [PER_CYCLE - 10, PER_CYCLE, PER_CYCLE]
    assert np.isnan(f.max_temperature[1]) and f.max_temperature[0] == 25.0
    assert np.isnan(f.pulse_resistance).all()  # no voltage/current columns


def test_restart_is_refused() -> None:
    s = synthetic_channel(np.full(2, 2.0), np.ones(2))
    t = s.test_time.copy()
    t[100:] -= 50
    cols = {"test_time": t, "cycle_index": s.cycle_index}
    with pytest.raises(ValueError, match="backwards"):
        cycle_features(ChannelSamples.from_columns(cols))


def test_from_samples_and_helpers() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    recs = [
        CyclerSample(
            "cell-1",
            now,
            test_time=float(i),
            cycle_index=1 + i // 2,
            charge_capacity=float(i % 2),
            discharge_capacity=None,
        )
        for i in range(4)
    ]
    s = ChannelSamples.from_samples(recs)
    assert len(s) == 4 and np.isnan(s.discharge_capacity).all()
    assert cycle_features(s).charge_capacity.tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="one channel"):
        ChannelSamples.from_samples([*recs, CyclerSample("cell-2", now)])
    with pytest.raises(ValueError, match="unknown"):
        ChannelSamples.from_columns({"volts": [1.0]})
    med = group_median(np.array([3.0, 1.0, np.nan, 2.0, 5.0]), np.array([0, 0, 0, 2, 2]), 3)
    np.testing.assert_array_equal(med, [2.0, np.nan, 3.5])
    rate = heating_rate(np.arange(10.0), np.arange(10.0), 4.0)
    assert np.isnan(rate[:2]).all() and np.allclose(rate[2:], 60.0)
