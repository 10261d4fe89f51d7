"""The cell fleet simulator: seeded, knee-shaped fade from its mechanisms, the process link in its truth."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from simulators.cells_fleet import TRUE_DRIVERS, CellFleet, FleetConfig, driver_tags

CFG = FleetConfig(n_batches=8, cells_per_lot=3, seed=4, lam_rate=4e-4, max_cycles=1000)


@pytest.fixture(scope="module")
def fleet() -> CellFleet:
    return CellFleet.simulate(CFG)


def test_seeded(fleet: CellFleet) -> None:
    again = CellFleet.simulate(CFG)
    assert np.array_equal(again.life, fleet.life)
    other = CellFleet.simulate(dataclasses.replace(CFG, seed=5))
    assert not np.array_equal(other.life, fleet.life)


def test_fade_has_a_knee(fleet: CellFleet) -> None:
    q = fleet.discharge_capacity()
    for i in range(len(fleet.cell_ids)):
        life = int(fleet.life[i])
        assert 50 < life <= CFG.max_cycles
        early = (q[i, 10] - q[i, life // 2]) / (life // 2 - 10)  # Ah per cycle in the first half
        late = (q[i, life - 21] - q[i, life - 1]) / 20  # Ah per cycle just before the end of life
        assert late > 5 * early  # the fade accelerates: a knee, not a straight line
        assert q[i, life - 1] < CFG.eol_fraction * CFG.nominal_ah <= q[i, life - 2]


def test_ph_excursions_shorten_lives(fleet: CellFleet) -> None:
    ph = fleet.params["ph_exposure"]
    assert ph.max() > 0
    # the causal link: more exposure, faster active-material loss (cell-to-cell noise on top)
    assert np.corrcoef(ph, np.log(fleet.params["lam"]))[0, 1] > 0.3
    assert np.corrcoef(ph, np.log(fleet.life))[0, 1] < -0.2


def test_truth_names_the_drivers(fleet: CellFleet) -> None:
    truth = fleet.truth()
    assert truth["true_drivers"]["fade_rate"]["tag"] == "reactor_ph"
    assert "reactor_ph" in truth["true_drivers"]["fade_rate"]["tags"]
    assert "stirrer_speed" not in truth["true_drivers"]["fade_rate"]["tags"]
    assert set(driver_tags("thermal")) >= {"reactor_temp", "jacket_outlet_temp"}
    assert TRUE_DRIVERS["initial_capacity"]["tag"] == "reactor_temp"
    assert [c["life_cycles"] for c in truth["cells"]] == fleet.life.tolist()
    events = fleet.truth_events()
    assert {e.params["target"] for e in events} <= {"ph_balance", "thermal", "throughput", "slurry", "stirrer_speed"}


def test_samples_are_a_cycler_log(fleet: CellFleet) -> None:
    block = fleet.samples(np.array([0, 1]), last_cycle=20, rng=np.random.default_rng(1))
    c = block.columns
    assert len(block) == 2 * 20 * CFG.samples_per_cycle
    assert set(np.unique(c["cycle_index"])) == set(range(1, 21))
    dis = c["current"] < 0
    assert np.all(c["step_type"][dis] == "cc_discharge")
    assert 2.45 < c["voltage"].min() and c["voltage"].max() < 4.25
    # per-cycle counters (BEEP): the discharge counter starts at zero in every cycle
    for cyc in (1, 20):
        sel = (c["cycle_index"] == cyc) & (block.device_id == fleet.channel(0))
        assert c["discharge_capacity"][sel].min() == 0.0
        assert c["discharge_capacity"][sel].max() == pytest.approx(fleet.discharge_capacity()[0, cyc - 1])
    assert np.all(np.diff(block.time[block.device_id == fleet.channel(0)].astype(np.int64)) > 0)


def test_sparse_logging_keeps_cycle_totals(fleet: CellFleet) -> None:
    full = fleet.samples(np.array([2]), last_cycle=30, rng=np.random.default_rng(2))
    sparse = fleet.samples(np.array([2]), last_cycle=30, detail_cycles=10, rng=np.random.default_rng(2))
    assert len(sparse) < len(full)
    for cyc in (5, 25):
        a = full.columns["discharge_capacity"][full.columns["cycle_index"] == cyc]
        b = sparse.columns["discharge_capacity"][sparse.columns["cycle_index"] == cyc]
        assert a.max() == b.max()
    assert (sparse.columns["cycle_index"] == 5).sum() == CFG.samples_per_cycle


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="n_batches"):
        FleetConfig(n_batches=0)
