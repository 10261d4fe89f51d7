"""The real-data overlay: seeded, the same in any chunking, with normal-change truth; usable in the dust network."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from simulators.cycler import CyclerBank, CyclerConfig
from simulators.dust import DustNetwork, DustNetworkConfig
from simulators.realism import Realism, RealismSpec


def test_overlay_is_the_same_in_chunks_and_whole() -> None:
    t = np.arange(0, 2 * 86_400_000, 60_000, dtype=np.int64)
    base = np.full((t.size, 3), 20.0)
    realism = Realism(
        RealismSpec(level_shifts_per_day=2.0, flat_fraction=0.5), seed=5, device_ids=("a", "b", "c"), start_ms=0
    )
    whole, present, truth = realism.apply(t, base)
    parts = [realism.apply(t[lo : lo + 1000], base[lo : lo + 1000]) for lo in range(0, t.size, 1000)]
    np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), whole)
    np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), present)
    kinds = {ev.kind for ev in truth}
    assert kinds == {"level_shift", "flat"}
    assert all(ev.params["normal"] for ev in truth)
    np.testing.assert_allclose(np.round(whole / 0.1) * 0.1, whole)  # quantised
    assert 0.85 < present.mean() < 0.95  # about 10 % of samples not sent
    # lasting shifts: after the last shift of device 0 the level stays moved
    shifts = [ev for ev in truth if ev.kind == "level_shift" and ev.device_id == "a"]
    assert shifts


def test_dust_network_with_realism_keeps_faults_and_adds_normal_truth() -> None:
    start = datetime(2024, 6, 3, tzinfo=UTC)
    plain = DustNetwork(DustNetworkConfig(n_sensors=4, seed=2)).generate(start, timedelta(minutes=1), 2880)
    real = DustNetwork(DustNetworkConfig(n_sensors=4, seed=2, realism=RealismSpec(level_shifts_per_day=1.0)))
    frame = real.generate(start, timedelta(minutes=1), 2880)
    assert frame.pm10.shape == plain.pm10.shape
    assert not np.array_equal(frame.pm10, plain.pm10)
    assert frame.present.mean() < plain.present.mean()
    assert {ev.kind for ev in plain.truth} <= {ev.kind for ev in frame.truth}
    assert any(ev.kind == "level_shift" for ev in frame.truth)


def test_cycler_bank_with_realism_overlays_the_temperature_only() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    plain = CyclerBank(CyclerConfig(n_channels=3, seed=4)).generate(start, 6000)
    cfg = CyclerConfig(n_channels=3, seed=4, realism=RealismSpec(level_shifts_per_day=2.0))
    frame = CyclerBank(cfg).generate(start, 6000)
    both = plain.present & frame.present
    np.testing.assert_array_equal(frame.voltage[both], plain.voltage[both])
    assert not np.allclose(frame.temperature[both], plain.temperature[both])
    temps = frame.temperature[both]
    np.testing.assert_allclose(np.round(temps / 0.1) * 0.1, temps)
    assert frame.present.sum() < plain.present.sum()
    assert any(ev.kind == "level_shift" and ev.params["normal"] for ev in frame.truth)
    chunks = list(zip(range(3), CyclerBank(cfg).chunks(start, 2000), strict=False))
    np.testing.assert_array_equal(np.concatenate([c.temperature for _, c in chunks]), frame.temperature)
