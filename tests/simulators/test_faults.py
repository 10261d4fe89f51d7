"""Fault injection: each kind changes the data exactly inside its truth intervals."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from kipsense.records import TruthEvent
from simulators.faults import FaultInjector, FaultRate, FaultSpec
from simulators.sensor import Readings

T0 = 1_717_459_200_000
STEP = 10_000
KINDS = ("stuck", "spike", "drift", "rh_artefact", "dropout", "offline", "low_battery", "clock_skew", "duplicate")


def readings(t: int, n: int, seed: int = 0) -> Readings:
    rng = np.random.default_rng(seed)
    pm10 = np.round(rng.uniform(8.0, 20.0, (t, n)), 1) + 0.05  # off the 0.1 grid faults write on
    z = np.zeros((t, n))
    zm = np.zeros((t, 1))
    return Readings(
        pm1=np.round(0.4 * pm10, 1),
        pm25=np.round(0.6 * pm10, 1),
        pm10=pm10,
        temperature=z + 12.0,
        rh=z + 60.0,
        lat=z + 63.84,
        lon=z + 23.03,
        battery=z + 80.0,
        rssi=z - 70.0,
        present=np.ones((t, n), dtype=np.bool_),
        clock_offset_s=z.copy(),
        duplicate=np.zeros((t, n), dtype=np.bool_),
        backfill=np.zeros((t, n), dtype=np.bool_),
        met_wind_speed=zm,
        met_wind_dir=zm,
        met_temperature=zm,
        met_rh=zm,
    )


def only(kind: str, per_day: float = 12.0, duration_s: tuple[float, float] = (30.0, 1800.0)) -> FaultSpec:
    return FaultSpec.none().with_rate(kind, FaultRate(per_day, duration_s))


def union(events: tuple[TruthEvent, ...], t_ms: NDArray[np.int64], devices: tuple[str, ...]) -> NDArray[np.bool_]:
    mask = np.zeros((t_ms.size, len(devices)), dtype=np.bool_)
    for e in events:
        inside = (t_ms >= e.start.timestamp() * 1000) & (t_ms < e.end.timestamp() * 1000)
        mask[:, devices.index(e.device_id)] |= inside
    return mask


Injected = tuple[Readings, Readings, tuple[TruthEvent, ...], NDArray[np.bool_]]


def inject(kind: str, n_steps: int = 8640, n_dev: int = 6) -> Injected:
    devices = tuple(f"dust-{i + 1:02d}" for i in range(n_dev))
    t = T0 + np.arange(n_steps, dtype=np.int64) * STEP
    clean = readings(n_steps, n_dev)
    spec = only(kind, per_day=2.0, duration_s=(86400.0, 2 * 86400.0)) if kind == "drift" else only(kind)
    faulty, truth = FaultInjector(spec, 9, devices, T0, STEP).apply(t, readings(n_steps, n_dev))
    assert truth and all(e.kind == kind for e in truth)
    return clean, faulty, truth, union(truth, t, devices)


@pytest.mark.parametrize("kind", ["stuck", "spike", "drift", "rh_artefact"])
def test_pm_faults_change_pm_only_inside_their_intervals(kind: str) -> None:
    clean, faulty, _, mask = inject(kind)
    changed = faulty.pm10 != clean.pm10
    assert not changed[~mask].any()
    if kind == "drift":  # the gain starts at exactly 1
        assert changed[mask].mean() > 0.5
    else:
        assert np.array_equal(changed, mask)
    assert np.array_equal(faulty.present, clean.present)


def test_stuck_is_flat_at_its_recorded_value() -> None:
    _, faulty, truth, _ = inject("stuck")
    t = T0 + np.arange(8640) * STEP
    rows = [(t >= e.start.timestamp() * 1000) & (t < e.end.timestamp() * 1000) for e in truth]
    cols = [int(e.device_id[-2:]) - 1 for e in truth]
    for i, e in enumerate(truth):
        # Where two stuck intervals of one device overlap, one of them wins; check the rest.
        others = [r for j, r in enumerate(rows) if j != i and cols[j] == cols[i]]
        alone = rows[i] & ~np.any(np.vstack([np.zeros_like(rows[i]), *others]), axis=0)
        assert alone.any()
        assert np.all(faulty.pm10[alone, cols[i]] == e.params["value_pm10"])


def test_rh_artefact_reports_saturated_humidity() -> None:
    clean, faulty, _, mask = inject("rh_artefact")
    assert np.all(faulty.rh[mask] >= 98.0) and np.array_equal(faulty.rh[~mask], clean.rh[~mask])
    assert np.all(faulty.pm10[mask] >= 1.9 * clean.pm10[mask])


@pytest.mark.parametrize("kind", ["dropout", "offline"])
def test_outages_silence_the_device_exactly_inside_their_intervals(kind: str) -> None:
    _, faulty, truth, mask = inject(kind)
    assert np.array_equal(~faulty.present, mask)
    if kind == "dropout":
        assert not faulty.backfill.any()
    else:
        held = union(
            tuple(e for e in truth if e.params["backfill"]),
            T0 + np.arange(8640) * STEP,
            tuple(f"dust-{i + 1:02d}" for i in range(6)),
        )
        assert np.array_equal(faulty.backfill, held)


def test_low_battery_drains_and_silences_only_when_nearly_empty() -> None:
    clean, faulty, _, mask = inject("low_battery")
    assert np.all(faulty.battery[mask] <= clean.battery[mask]) and faulty.battery[mask].min() == 0.0
    assert np.array_equal(faulty.battery[~mask], clean.battery[~mask])
    silent = ~faulty.present
    assert silent.any() and not silent[~mask].any()
    assert np.all(faulty.battery[silent] < 5.0)


@pytest.mark.parametrize(("kind", "field"), [("clock_skew", "clock_offset_s"), ("duplicate", "duplicate")])
def test_publishing_behaviour_flags_match_truth(kind: str, field: str) -> None:
    _, faulty, _, mask = inject(kind)
    assert np.array_equal(getattr(faulty, field) != 0, mask)
    if kind == "clock_skew":
        assert np.all(np.abs(faulty.clock_offset_s[mask]) >= 5.0)


def test_intervals_are_on_the_stream_grid_and_hold_samples() -> None:
    for kind in KINDS:
        _, _, truth, _ = inject(kind)
        for e in truth:
            start, end = int(e.start.timestamp() * 1000), int(e.end.timestamp() * 1000)
            assert (start - T0) % STEP == 0 and (end - T0) % STEP == 0 and end > start


def test_no_faults_means_untouched_data() -> None:
    t = T0 + np.arange(1000, dtype=np.int64) * STEP
    faulty, truth = FaultInjector(FaultSpec.none(), 1, ("dust-01",), T0, STEP).apply(t, readings(1000, 1))
    assert truth == () and np.array_equal(faulty.pm10, readings(1000, 1).pm10) and faulty.present.all()


def test_event_count_follows_the_rate() -> None:
    devices = tuple(f"dust-{i:02d}" for i in range(10))
    days = 20
    t = T0 + np.arange(days * 24, dtype=np.int64) * 3_600_000
    spec = only("spike", per_day=3.0, duration_s=(1.0, 5.0))
    _, truth = FaultInjector(spec, 2, devices, T0, 3_600_000).apply(t, readings(t.size, 10))
    expected = 3.0 * days * 10
    assert abs(len(truth) - expected) < 4 * np.sqrt(expected)


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(KeyError, match="unknown fault kind"):
        FaultSpec().rate("gremlins")
    with pytest.raises(KeyError, match="unknown fault kind"):
        FaultSpec().with_rate("spike_factor", FaultRate(1.0, (1.0, 2.0)))
