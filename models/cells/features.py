"""Per-cycle features of a cell and the early-life features of Severson et al. (Nature Energy 2019).

Input is the output of the feature job (``store.cell_features``: the ``cycles`` and ``qv`` tables, from
PostgreSQL, DuckDB or Dask alike), split per cell into :class:`CellCycles`. From it:

- per-cycle capacity, coulombic efficiency, resistance and temperature;
- the discharge curve Q(V) of a cycle, interpolated on a common voltage grid;
- ΔQ(V) = Q_late(V) − Q_ref(V) between two early cycles (100 and 10 by default) and its summary statistics,
  the strongest early predictor of cycle life in the anchor paper (log variance alone carries most of it);
- the observed life (first cycle under a fraction of nominal capacity) and the knee onset.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
from numpy.typing import NDArray

from models.cycler.knee import find_knee

FloatArray = NDArray[np.float64]

#: Feature sets of the life model, as in the anchor ("variance", "discharge", "full").
FEATURE_SETS: Final[dict[str, tuple[str, ...]]] = {
    "variance": ("log_var_dq",),
    "discharge": ("log_var_dq", "log_abs_min_dq", "skew_dq", "kurt_dq", "q_2", "q_max_minus_q_2"),
    "full": (
        "log_var_dq",
        "log_abs_min_dq",
        "q_2",
        "q_max_minus_q_2",
        "fade_slope",
        "fade_intercept",
        "ir_2",
        "ir_min",
        "ir_delta",
        "max_temp_mean",
        "ce_mean",
    ),
}
ALL_FEATURES: Final = tuple(dict.fromkeys(f for fs in FEATURE_SETS.values() for f in fs))


class FeatureError(ValueError):
    """A cell's data cannot give the requested features (too few cycles, a missing reference cycle, ...)."""


@dataclass(frozen=True, slots=True)
class CellCycles:
    """One cell's per-cycle table and its early discharge curves (cycle -> (voltage, discharged Ah))."""

    cell_id: str
    cycle_index: NDArray[np.int64]
    discharge_capacity: FloatArray
    charge_capacity: FloatArray
    internal_resistance: FloatArray
    max_temperature: FloatArray
    curves: dict[int, tuple[FloatArray, FloatArray]] = field(default_factory=dict)

    @property
    def coulombic_efficiency(self) -> FloatArray:
        with np.errstate(divide="ignore", invalid="ignore"):
            ce: FloatArray = np.where(self.charge_capacity > 0, self.discharge_capacity / self.charge_capacity, np.nan)
        return ce

    def upto(self, n_cycles: int) -> CellCycles:
        """The cell as it was after its first ``n_cycles`` cycles (what a prediction may look at)."""
        keep = self.cycle_index <= n_cycles
        return CellCycles(
            self.cell_id,
            self.cycle_index[keep],
            self.discharge_capacity[keep],
            self.charge_capacity[keep],
            self.internal_resistance[keep],
            self.max_temperature[keep],
            {k: v for k, v in self.curves.items() if k <= n_cycles},
        )


def _col(table: pa.Table, name: str) -> FloatArray:
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)


def split_cells(cycles: pa.Table, qv: pa.Table) -> dict[str, CellCycles]:
    """Per-cell :class:`CellCycles` from the job's two tables (any engine's output)."""
    out: dict[str, CellCycles] = {}
    cids = np.asarray(cycles.column("cell_id").to_pylist(), dtype=object)
    cyc = _col(cycles, "cycle_index").astype(np.int64)
    qd, qc = _col(cycles, "discharge_capacity_ah"), _col(cycles, "charge_capacity_ah")
    ir, tmax = _col(cycles, "internal_resistance_ohm"), _col(cycles, "max_temperature_c")
    dmin = _col(cycles, "discharge_counter_min")
    base: dict[tuple[str, int], float] = {}
    for cid in dict.fromkeys(cids.tolist()):
        sel = np.flatnonzero(cids == cid)
        sel = sel[np.argsort(cyc[sel], kind="stable")]
        out[cid] = CellCycles(cid, cyc[sel], qd[sel], qc[sel], ir[sel], tmax[sel], {})
        base.update({(cid, int(c)): float(m) for c, m in zip(cyc[sel], dmin[sel], strict=True)})
    if qv.num_rows:
        qids = np.asarray(qv.column("cell_id").to_pylist(), dtype=object)
        qcyc = _col(qv, "cycle_index").astype(np.int64)
        volt, qq = _col(qv, "voltage"), _col(qv, "discharge_counter")
        order = np.lexsort((volt, qcyc, qids.astype(str)))
        qids, qcyc, volt, qq = qids[order], qcyc[order], volt[order], qq[order]
        keys = np.flatnonzero(np.r_[True, (qids[1:] != qids[:-1]) | (qcyc[1:] != qcyc[:-1])])
        for lo, hi in zip(keys, np.r_[keys[1:], qids.size], strict=True):
            cid, c = str(qids[lo]), int(qcyc[lo])
            if cid in out:
                # per-cycle counters (BEEP) start at 0; counters running through the test start at the min
                out[cid].curves[c] = (volt[lo:hi], qq[lo:hi] - base.get((cid, c), 0.0))
    return out


def qv_on_grid(curve: tuple[FloatArray, FloatArray], grid: FloatArray) -> FloatArray:
    """Discharged capacity at each grid voltage (NaN outside the curve's voltage range)."""
    v, q = curve
    ok = np.isfinite(v) & np.isfinite(q)
    v, q = v[ok], q[ok]
    if v.size < 2:
        return np.full(grid.shape, np.nan)
    order = np.argsort(v, kind="stable")
    out: FloatArray = np.interp(grid, v[order], q[order], left=np.nan, right=np.nan)
    return out


def delta_q(cell: CellCycles, *, late: int = 100, ref: int = 10, points: int = 1000) -> tuple[FloatArray, FloatArray]:
    """(voltage grid, Q_late(V) - Q_ref(V)) over the voltage range both curves cover."""
    for c in (late, ref):
        if c not in cell.curves or cell.curves[c][0].size < 4:
            raise FeatureError(f"cell {cell.cell_id}: no discharge curve for cycle {c}")
    (v1, _), (v2, _) = cell.curves[late], cell.curves[ref]
    lo, hi = max(np.nanmin(v1), np.nanmin(v2)), min(np.nanmax(v1), np.nanmax(v2))
    if not hi - lo > 0.1:
        raise FeatureError(f"cell {cell.cell_id}: cycles {ref} and {late} share less than 0.1 V")
    pad = 0.02 * (hi - lo)
    grid = np.linspace(lo + pad, hi - pad, points)
    return grid, qv_on_grid(cell.curves[late], grid) - qv_on_grid(cell.curves[ref], grid)


def _at(cell: CellCycles, values: FloatArray, cycle: int) -> float:
    hit = np.flatnonzero(cell.cycle_index == cycle)
    if hit.size == 0:
        raise FeatureError(f"cell {cell.cell_id}: no cycle {cycle}")
    return float(values[hit[0]])


def early_features(cell: CellCycles, *, n_cycles: int = 100, ref_cycle: int = 10) -> dict[str, float]:
    """Every feature of :data:`ALL_FEATURES` from the cell's first ``n_cycles`` cycles."""
    if n_cycles <= ref_cycle + 5:
        raise FeatureError("n_cycles must exceed the reference cycle by more than 5")
    cell = cell.upto(n_cycles)
    if cell.cycle_index.size == 0 or cell.cycle_index.max() < n_cycles:
        raise FeatureError(f"cell {cell.cell_id}: fewer than {n_cycles} cycles")
    _, dq = delta_q(cell, late=n_cycles, ref=ref_cycle)
    dq = dq[np.isfinite(dq)]
    if dq.size < 10:
        raise FeatureError(f"cell {cell.cell_id}: ΔQ(V) has too few points")
    var = float(np.var(dq))
    sd = np.sqrt(var) if var > 0 else np.nan
    centred = dq - dq.mean()
    q = cell.discharge_capacity
    first = int(cell.cycle_index.min())
    c2 = 2 if 2 in cell.cycle_index else first
    window = (cell.cycle_index > n_cycles - 10) & np.isfinite(q)
    slope, intercept = (
        np.polyfit(cell.cycle_index[window].astype(float), q[window], 1) if window.sum() >= 2 else (np.nan, np.nan)
    )
    ir = cell.internal_resistance
    ir_ok = np.isfinite(ir) & (ir > 0)
    ce = cell.coulombic_efficiency
    return {
        "log_var_dq": float(np.log10(max(var, 1e-20))),
        "log_abs_min_dq": float(np.log10(max(abs(float(dq.min())), 1e-10))),
        "skew_dq": float(np.mean(centred**3) / sd**3) if np.isfinite(sd) else 0.0,
        "kurt_dq": float(np.mean(centred**4) / sd**4) if np.isfinite(sd) else 0.0,
        "q_2": _at(cell, q, c2),
        "q_max_minus_q_2": float(np.nanmax(q) - _at(cell, q, c2)),
        "fade_slope": float(slope),
        "fade_intercept": float(intercept),
        "ir_2": _at(cell, ir, c2) if ir_ok.any() else np.nan,
        "ir_min": float(ir[ir_ok].min()) if ir_ok.any() else np.nan,
        "ir_delta": float(_at(cell, ir, n_cycles) - _at(cell, ir, c2)) if ir_ok.any() else np.nan,
        "max_temp_mean": float(np.nanmean(cell.max_temperature)) if np.isfinite(cell.max_temperature).any() else np.nan,
        "ce_mean": float(np.nanmean(ce[(cell.cycle_index > ref_cycle) & np.isfinite(ce)]))
        if np.isfinite(ce).any()
        else np.nan,
    }


def observed_life(cell: CellCycles, *, nominal_ah: float, eol_fraction: float = 0.8) -> int | None:
    """First cycle whose discharge capacity is below ``eol_fraction`` of nominal; None if not reached yet."""
    below = np.flatnonzero(np.isfinite(cell.discharge_capacity) & (cell.discharge_capacity < eol_fraction * nominal_ah))
    return int(cell.cycle_index[below[0]]) if below.size else None


def fade_extrapolation(
    cell: CellCycles, *, n_cycles: int, nominal_ah: float, eol_fraction: float = 0.8, cap: float = 10_000.0
) -> float:
    """Naive life: the straight line through the capacity of cycles n/2..n, extended to the end-of-life line."""
    c = cell.upto(n_cycles)
    sel = (c.cycle_index >= n_cycles // 2) & np.isfinite(c.discharge_capacity)
    if sel.sum() < 2:
        raise FeatureError(f"cell {cell.cell_id}: too few cycles to extrapolate")
    slope, intercept = np.polyfit(c.cycle_index[sel].astype(float), c.discharge_capacity[sel], 1)
    if slope >= 0:
        return cap
    return float(np.clip((eol_fraction * nominal_ah - intercept) / slope, n_cycles, cap))


def knee_onset(cell: CellCycles) -> float | None:
    """Cycle where the capacity curve bends down (two-line fit); None with fewer than 20 cycles."""
    ok = np.isfinite(cell.discharge_capacity)
    if ok.sum() < 20:
        return None
    return find_knee(cell.discharge_capacity[ok], cell.cycle_index[ok].astype(float))


def incremental_capacity(
    curve: tuple[FloatArray, FloatArray], *, step_v: float = 0.01
) -> tuple[FloatArray, FloatArray]:
    """dQ/dV of a discharge curve (Ah/V) on a regular voltage grid, lightly smoothed (incremental capacity)."""
    v, _ = curve
    lo, hi = float(np.nanmin(v)), float(np.nanmax(v))
    if hi - lo < 4 * step_v:
        return np.zeros(0), np.zeros(0)
    grid = np.arange(lo, hi, step_v)
    q = qv_on_grid(curve, grid)
    dqdv = np.gradient(q, grid)
    kernel = np.array([1.0, 2.0, 3.0, 2.0, 1.0]) / 9.0
    smooth: FloatArray = np.convolve(dqdv, kernel, mode="same")
    return grid, -smooth  # discharged capacity grows as the voltage falls: report a positive peak


def feature_matrix(
    cells: dict[str, CellCycles], names: tuple[str, ...], *, n_cycles: int, ref_cycle: int
) -> tuple[list[str], FloatArray, dict[str, str]]:
    """(cell ids, feature rows, cells skipped with the reason) for the cells that have the features."""
    ids: list[str] = []
    rows: list[list[float]] = []
    skipped: dict[str, str] = {}
    for cid, cell in cells.items():
        try:
            f = early_features(cell, n_cycles=n_cycles, ref_cycle=ref_cycle)
        except FeatureError as exc:
            skipped[cid] = str(exc)
            continue
        row = [f[n] for n in names]
        if not np.all(np.isfinite(row)):
            skipped[cid] = "a feature is undefined (missing resistance or capacity)"
            continue
        ids.append(cid)
        rows.append(row)
    return ids, np.asarray(rows, dtype=np.float64).reshape(len(rows), len(names)), skipped


def summary(cell: CellCycles) -> dict[str, Any]:
    """A short JSON description of a cell's cycles."""
    return {
        "cell_id": cell.cell_id,
        "cycles": int(cell.cycle_index.size),
        "first_cycle": int(cell.cycle_index.min()) if cell.cycle_index.size else None,
        "last_cycle": int(cell.cycle_index.max()) if cell.cycle_index.size else None,
        "curves": sorted(cell.curves),
    }
