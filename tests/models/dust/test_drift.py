from __future__ import annotations

import numpy as np
import pytest

from models.dust.drift import NeighbourDrift, distances_m, neighbours_of
from tests.models.detector_checks import assert_chunked_equals_whole, assert_protocol

# A cluster of five sensors ~100-300 m apart and one 20 km away.
POSITIONS = ((52.0, 13.0), (52.001, 13.0), (52.0, 13.002), (52.002, 13.002), (51.999, 12.999), (52.2, 13.0))


def _network(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    common = 20.0 * np.exp(0.6 * np.sin(2 * np.pi * np.arange(n) / 144) + rng.normal(0.0, 0.2, n))
    return common[:, None] * rng.lognormal(0.0, 0.1, (n, len(POSITIONS)))


def test_distances_and_neighbours_from_positions() -> None:
    d = distances_m(POSITIONS)
    assert d[0, 1] == pytest.approx(111.2, rel=0.01)
    np.testing.assert_allclose(d, d.T)
    nb = neighbours_of(0, POSITIONS, k=3, max_distance_m=1000.0)
    assert nb == [1, 4, 2]  # 111 m, 134 m, 137 m
    assert 5 not in neighbours_of(0, POSITIONS, k=10, max_distance_m=1000.0)


def test_drifting_sensor_flagged_after_the_window_fills() -> None:
    X = _network(2000)
    X[1000:, 2] *= np.linspace(1.0, 2.0, 1000)  # sensor 2 drifts up to double
    det = NeighbourDrift(target=2, positions=POSITIONS, window=144).fit(X[:800])
    flags = det.predict(X)
    assert not flags[:1000].any()
    assert flags[1500:].all()
    healthy = NeighbourDrift(target=1, positions=POSITIONS, window=144).fit(X[:800])
    assert not healthy.predict(X).any()


def test_learned_offset_removes_a_constant_bias() -> None:
    X = _network(1000, 1)
    X[:, 0] *= 1.6
    assert NeighbourDrift(target=0, positions=POSITIONS, window=50).fit().predict(X)[100:].all()
    assert not NeighbourDrift(target=0, positions=POSITIONS, window=50).fit(X[:300]).predict(X).any()


def test_missing_values_and_isolated_sensor() -> None:
    X = _network(300, 2)
    X[:100, 0] = np.nan
    scores = NeighbourDrift(target=0, positions=POSITIONS, window=20).fit().decision_function(X)
    assert np.isnan(scores[:109]).all() and np.isfinite(scores[110:]).all()
    with pytest.raises(ValueError, match="neighbours"):
        NeighbourDrift(target=5, positions=POSITIONS, max_distance_m=1000.0).fit()
    with pytest.raises(ValueError, match="columns"):
        NeighbourDrift(target=0, positions=POSITIONS).fit().decision_function(X[:, :3])


def test_chunked_equals_whole() -> None:
    X = _network(500, 3)
    X[[10, 200], 0] = np.nan
    X[300:, 0] *= 1.5
    assert_chunked_equals_whole(NeighbourDrift(target=0, positions=POSITIONS, window=30).fit(), X)


def test_protocol() -> None:
    assert_protocol(NeighbourDrift(target=1, positions=POSITIONS))
