"""The cycle-life model: fit with cross-validation, JSON state, intervals, evaluation beside baselines."""

from __future__ import annotations

import json

import numpy as np
import pytest

from models.cells import life as lifemod
from models.cells.features import FeatureError


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    log_life = 3.0 - 0.25 * x[:, 0] + 0.1 * x[:, 1] + 0.02 * rng.normal(size=n)
    return x, 10.0**log_life


def test_fit_recovers_a_log_linear_law() -> None:
    x, y = _data(80, 0)
    m = lifemod.fit(x, y, features=("a", "b", "c"), n_cycles=100, ref_cycle=10)
    assert m.coef[0] / m.scale[0] == pytest.approx(-0.25, rel=0.1)
    assert abs(m.coef[2]) < 0.02
    xt, yt = _data(40, 1)
    assert lifemod.mape(yt, m.predict(xt)) < 0.1
    assert m.cv["mape"] < 0.1 and m.cv["cells"] == 80
    lo, hi = m.interval(xt)
    assert np.all(lo < m.predict(xt)) and np.all(m.predict(xt) < hi)
    assert 0.75 < np.mean((yt >= lo) & (yt <= hi)) <= 1.0


def test_state_is_strict_json_and_round_trips() -> None:
    x, y = _data(30, 2)
    m = lifemod.fit(x, y, features=("a", "b", "c"), n_cycles=100, ref_cycle=10)
    state = json.loads(json.dumps(m.to_state(), allow_nan=False))
    again = lifemod.LifeModel.from_state(state)
    assert np.allclose(again.predict(x), m.predict(x))
    with pytest.raises(ValueError, match="cell-life"):
        lifemod.LifeModel.from_state({**state, "detector": "pca"})


def test_too_few_cells_is_refused() -> None:
    x, y = _data(6, 3)
    with pytest.raises(FeatureError, match="at least 10"):
        lifemod.fit(x, y, features=("a", "b", "c"), n_cycles=100, ref_cycle=10)


def test_split_is_seeded_and_disjoint() -> None:
    ids = [f"c{i}" for i in range(20)]
    tr, te = lifemod.split_cells(ids, test_share=0.25, seed=3)
    assert (tr, te) == lifemod.split_cells(list(reversed(ids)), test_share=0.25, seed=3)
    assert len(te) == 5 and not set(tr) & set(te) and sorted(tr + te) == sorted(ids)


def test_scores() -> None:
    true = np.array([100.0, 200.0])
    assert lifemod.mape(true, np.array([110.0, 180.0])) == pytest.approx(0.1)
    assert lifemod.rmse(true, np.array([110.0, 190.0])) == pytest.approx(10.0)
