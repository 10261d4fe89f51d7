"""Per-cycle and early-life features: Q(V) on a grid, ΔQ(V), observed life, the naive extrapolation, knee."""

from __future__ import annotations

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pytest

from models.cells.features import (
    ALL_FEATURES,
    CellCycles,
    FeatureError,
    delta_q,
    early_features,
    fade_extrapolation,
    feature_matrix,
    incremental_capacity,
    knee_onset,
    observed_life,
    qv_on_grid,
    split_cells,
)


def _curve(shift: float = 0.0, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    q = np.linspace(0.0, 3.0, 200) * scale
    v = 4.1 - 0.4 * q / 3.0 - 0.2 * np.tanh((q - 2.8) * 8) - shift
    return v, q


def _cell(n: int = 120, fade: float = 1e-3, knee: int | None = None) -> CellCycles:
    cyc = np.arange(1, n + 1)
    q = np.asarray(3.0 - fade * cyc, dtype=np.float64)
    if knee is not None:
        q = np.asarray(q - 0.02 * np.maximum(cyc - knee, 0), dtype=np.float64)
    curves = {c: _curve(shift=0.0005 * c, scale=q[c - 1] / 3.0) for c in (2, 10, 100) if c <= n}
    ir = np.asarray(0.02 + 1e-5 * cyc, dtype=np.float64)
    return CellCycles("c1", cyc, q, q + 0.001, ir, np.full(n, 31.0), curves)


def test_qv_on_grid_interpolates_and_leaves_gaps() -> None:
    v, q = _curve()
    grid = np.array([v.min() - 0.1, float(np.median(v)), v.max() + 0.1])
    out = qv_on_grid((v, q), grid)
    assert np.isnan(out[0]) and np.isnan(out[2])
    assert 0 < out[1] < 3


def test_delta_q_of_a_uniform_shrink_is_negative() -> None:
    cell = _cell()
    grid, dq = delta_q(cell, late=100, ref=10)
    assert grid.size == 1000 and np.all(np.diff(grid) > 0)
    assert np.nanmean(dq) < 0  # cycle 100 delivers less charge down to any voltage


def test_early_features_are_complete_and_finite() -> None:
    f = early_features(_cell(), n_cycles=100, ref_cycle=10)
    assert set(f) == set(ALL_FEATURES)
    assert all(np.isfinite(v) for v in f.values())
    assert f["fade_slope"] == pytest.approx(-1e-3, rel=1e-6)
    assert f["ir_delta"] == pytest.approx(98e-5, rel=1e-6)


def test_missing_reference_cycle_is_a_clear_error() -> None:
    cell = _cell()
    del cell.curves[10]
    with pytest.raises(FeatureError, match="cycle 10"):
        early_features(cell, n_cycles=100, ref_cycle=10)
    with pytest.raises(FeatureError, match="fewer than 150 cycles"):
        early_features(_cell(), n_cycles=150, ref_cycle=10)
    ids, x, skipped = feature_matrix({"c1": cell}, ("log_var_dq",), n_cycles=100, ref_cycle=10)
    assert ids == [] and x.shape == (0, 1) and "cycle 10" in skipped["c1"]


def test_observed_life_and_fade_extrapolation() -> None:
    cell = _cell(n=400, fade=1e-3, knee=200)
    life = observed_life(cell, nominal_ah=3.0)
    assert life is not None and 200 < life < 400
    assert observed_life(_cell(n=50), nominal_ah=3.0) is None
    naive = fade_extrapolation(cell, n_cycles=100, nominal_ah=3.0)
    assert naive == pytest.approx(600.0, rel=0.01)  # the straight line knows nothing of the knee
    assert knee_onset(cell) == pytest.approx(200, abs=3)


def test_incremental_capacity_peaks_where_the_curve_is_flat() -> None:
    v, q = _curve()
    grid, ic = incremental_capacity((v, q))
    assert grid.size > 10 and np.nanmax(ic) > 0


def test_split_cells_reads_the_job_tables() -> None:
    cycles = pa.table(
        {
            "cell_id": ["a", "a", "b"],
            "cycle_index": [2, 1, 1],
            "n_samples": [3, 3, 3],
            "charge_capacity_ah": [1.0, 1.1, 1.0],
            "discharge_capacity_ah": [0.9, 1.0, 0.95],
            "discharge_counter_min": [10.0, 0.0, 0.0],
            "charge_energy_wh": [1.0, 1.0, 1.0],
            "discharge_energy_wh": [1.0, 1.0, 1.0],
            "internal_resistance_ohm": [0.02, 0.02, None],
            "max_temperature_c": [30.0, 30.0, 30.0],
            "min_voltage_v": [2.5, 2.5, 2.5],
            "max_voltage_v": [4.2, 4.2, 4.2],
        }
    )
    qv = pa.table(
        {
            "cell_id": ["a", "a", "b"],
            "cycle_index": [2, 2, 1],
            "vbin": [300, 400, 300],
            "voltage": [4.0, 3.0, 3.5],
            "discharge_counter": [10.2, 10.9, 0.5],
            "n": [1, 1, 1],
        }
    )
    cells = split_cells(cycles, qv)
    assert list(cells["a"].cycle_index) == [1, 2]
    v, q = cells["a"].curves[2]
    assert list(v) == [3.0, 4.0] and q == pytest.approx([0.9, 0.2])  # counter running through the test
    assert np.isnan(cells["b"].internal_resistance[0])
    assert cells["a"].coulombic_efficiency[0] == pytest.approx(1.0 / 1.1)
