"""Process → cell analysis: batch features against a robust band, and the driver ranking."""

from __future__ import annotations

import numpy as np
import pytest

from models.cells import drivers


def test_batch_features_measure_excursions_against_a_robust_band() -> None:
    rng = np.random.default_rng(0)
    normal = [{"ph": 11.3 + 0.04 * rng.normal(size=200), "flow": 12 + rng.normal(size=200)} for _ in range(9)]
    bad = {"ph": 11.3 + 0.04 * rng.normal(size=200), "flow": 12 + rng.normal(size=200)}
    bad["ph"][50:150] += 0.2  # five standard deviations for half the batch
    band = drivers.baseline([*normal, bad])
    assert band["ph"][1] == pytest.approx(0.04, rel=0.2)  # the excursion does not widen the band
    f = drivers.batch_features(bad, band, alarms=2)
    g = drivers.batch_features(normal[0], band)
    assert f["ph:out_of_band"] == pytest.approx(0.5, abs=0.05) and g["ph:out_of_band"] < 0.02
    assert f["ph:mean_dev"] > 2 and f["alarms"] == 2
    assert abs(f["flow:mean_dev"]) < 0.5


def test_outcomes_of_a_cell() -> None:
    n = np.arange(1, 301)
    q = 3.0 - 1e-3 * n - 0.02 * np.maximum(n - 200, 0)
    o = drivers.outcomes(q, n, nominal_ah=3.0)
    assert o["initial_capacity"] == pytest.approx(2.998)
    assert 200 < o["life"] < 300 and o["fade_rate"] > 0.1
    assert np.isnan(drivers.outcomes(q[:50], n[:50], nominal_ah=3.0)["life"])


@pytest.mark.parametrize("model", ["forest", "linear"])
def test_the_true_driver_ranks_first(model: str) -> None:
    rng = np.random.default_rng(1)
    n_lots, per_lot, tags = 24, 3, ("ph", "temp", "flow", "speed", "level")
    batch_values = {}
    exposure = np.where(rng.random(n_lots) < 0.5, rng.uniform(0.2, 0.6, n_lots), 0.0)
    for b in range(n_lots):
        values = {t: rng.normal(size=240) for t in tags}
        values["ph"][: int(240 * exposure[b])] += 4.0  # a pH excursion for a share of the batch
        values["flow"][: int(240 * rng.uniform(0, 0.5))] += 4.0 * (rng.random() < 0.5)  # a harmless one
        batch_values[f"b{b}"] = values
    lot_batches = {f"lot{b}": [f"b{b}"] for b in range(n_lots)}
    cell_lot = {f"c{b}-{k}": f"lot{b}" for b in range(n_lots) for k in range(per_lot)}
    cells, names, x, groups = drivers.cell_matrix(batch_values, lot_batches, cell_lot)
    lot_idx = np.array([int(g[3:]) for g in groups])
    y = 1.0 + 2.0 * exposure[lot_idx] + 0.1 * rng.normal(size=len(cells))
    a = drivers.analyse(x, y, groups, names, outcome="fade_rate", model=model)
    assert a.rank_of("ph") == 1
    assert a.cv_r2 > 0.5
    assert a.n_lots == n_lots and a.n_cells == n_lots * per_lot
    doc = a.to_json(top=3)
    assert doc["tags"][0]["tag"] == "ph" and doc["features"][0]["feature"].startswith("ph:")
    assert doc["partial_dependence"]


def test_too_few_lots_is_refused() -> None:
    x = np.random.default_rng(0).normal(size=(6, 2))
    with pytest.raises(ValueError, match="lots"):
        drivers.analyse(x, x[:, 0], ["l1", "l1", "l2", "l2", "l3", "l3"], ["a:mean_dev", "b:mean_dev"], outcome="life")


def test_a_tag_missing_from_some_batches_does_not_drop_their_cells() -> None:
    rng = np.random.default_rng(2)
    exposure = np.where(rng.random(16) < 0.5, 0.5, 0.0)
    batch_values = {}
    for b in range(16):
        values = {"ph": rng.normal(size=100), "flow": rng.normal(size=100)}
        values["ph"][: int(100 * exposure[b])] += 4.0
        if b == 3:
            del values["flow"]  # this batch's flow meter was down
        batch_values[f"b{b}"] = values
    cells, names, x, groups = drivers.cell_matrix(
        batch_values, {f"lot{b}": [f"b{b}"] for b in range(16)}, {f"c{b}": f"lot{b}" for b in range(16)}
    )
    assert np.isnan(x[cells.index("c3"), names.index("flow:mean_dev")])
    y = 1.0 + exposure[[int(g[3:]) for g in groups]]
    a = drivers.analyse(x, y, groups, names, outcome="life", model="linear")
    assert a.n_cells == 16 and a.rank_of("ph") == 1
