"""PNG pictures of cells: capacity fade by lot, Q(V) and dQ/dV of early cycles, predicted vs observed life,
process drivers. Built on ``matplotlib.figure.Figure`` with the Agg canvas (no pyplot, no global state), each
returned as PNG bytes so the API can serve them and the command line can write them.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from models.cells.drivers import DriverAnalysis
from models.cells.features import CellCycles, incremental_capacity

KINDS = ("fade", "qv", "dqdv")


def _figure(size: tuple[float, float]) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots()


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def capacity_fade(
    cells: Mapping[str, CellCycles], lots: Mapping[str, str | None], *, nominal_ah: float | None = None
) -> bytes:
    """Discharge capacity against cycle for every cell, one colour per lot."""
    fig, ax = _figure((9, 5))
    lot_names = sorted({str(lots.get(c)) for c in cells})
    cmap = __import__("matplotlib").colormaps["tab20"]
    colour = {lot: cmap(i % 20) for i, lot in enumerate(lot_names)}
    seen: set[str] = set()
    for cid, cell in sorted(cells.items()):
        lot = str(lots.get(cid))
        ax.plot(
            cell.cycle_index,
            cell.discharge_capacity,
            lw=0.8,
            color=colour[lot],
            label=lot if lot not in seen else None,
        )
        seen.add(lot)
    if nominal_ah:
        ax.axhline(0.8 * nominal_ah, color="k", ls="--", lw=0.8, label="80 % of nominal")
    ax.set_xlabel("cycle")
    ax.set_ylabel("discharge capacity (Ah)")
    ax.set_title(f"Capacity fade of {len(cells)} cells, coloured by material lot")
    if len(lot_names) <= 20:
        ax.legend(fontsize=7, ncol=2)
    return _png(fig)


def _cycles(cell: CellCycles, cycles: Sequence[int] | None) -> list[int]:
    chosen = [c for c in (cycles or sorted(cell.curves)) if c in cell.curves]
    if not chosen:
        raise ValueError(f"cell {cell.cell_id} has no discharge curve for the cycles asked")
    if cycles is None and len(chosen) > 8:  # an even spread over the early cycles
        chosen = [chosen[int(i)] for i in np.linspace(0, len(chosen) - 1, 8)]
    return chosen


def qv_curves(cell: CellCycles, *, cycles: Sequence[int] | None = None) -> bytes:
    """Discharge Q(V) curves of early cycles."""
    fig, ax = _figure((8, 5))
    chosen = _cycles(cell, cycles)
    cmap = __import__("matplotlib").colormaps["viridis"]
    for i, c in enumerate(chosen):
        v, q = cell.curves[c]
        order = np.argsort(v)
        ax.plot(q[order], v[order], lw=1.0, color=cmap(i / max(len(chosen) - 1, 1)), label=f"cycle {c}")
    ax.set_xlabel("discharged capacity (Ah)")
    ax.set_ylabel("voltage (V)")
    ax.set_title(f"{cell.cell_id}: discharge curves Q(V)")
    ax.legend(fontsize=7)
    return _png(fig)


def dqdv(cell: CellCycles, *, cycles: Sequence[int] | None = None) -> bytes:
    """Incremental capacity dQ/dV of early cycles (peaks: the electrodes' phase transitions)."""
    fig, ax = _figure((8, 5))
    chosen = _cycles(cell, cycles)
    cmap = __import__("matplotlib").colormaps["viridis"]
    for i, c in enumerate(chosen):
        grid, ic = incremental_capacity(cell.curves[c])
        ax.plot(grid, ic, lw=1.0, color=cmap(i / max(len(chosen) - 1, 1)), label=f"cycle {c}")
    ax.set_xlabel("voltage (V)")
    ax.set_ylabel("dQ/dV (Ah/V)")
    ax.set_title(f"{cell.cell_id}: incremental capacity")
    ax.legend(fontsize=7)
    return _png(fig)


def predicted_vs_observed(per_cell: Sequence[Mapping[str, Any]], *, title: str = "") -> bytes:
    """Predicted against observed life with the 90 % intervals, and the line of perfect prediction."""
    fig, ax = _figure((6, 6))
    obs = np.array([p["observed"] for p in per_cell], dtype=float)
    pred = np.array([p["predicted"] for p in per_cell], dtype=float)
    lo = np.array([p["lower"] for p in per_cell], dtype=float)
    hi = np.array([p["upper"] for p in per_cell], dtype=float)
    ax.errorbar(obs, pred, yerr=[pred - lo, hi - pred], fmt="o", ms=3, lw=0.6, alpha=0.7, label="held-out cells")
    top = float(np.nanmax(np.r_[obs, hi])) * 1.05 if obs.size else 1.0
    ax.plot([0, top], [0, top], "k--", lw=0.8, label="perfect")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("observed life (cycles)")
    ax.set_ylabel("predicted life (cycles)")
    ax.set_title(title or "Cycle life: predicted vs observed")
    ax.legend(fontsize=8)
    return _png(fig)


def drivers(analysis: DriverAnalysis, *, top: int = 12) -> bytes:
    """Tag importance for one outcome, and the partial dependence on the top features."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 5), layout="constrained")
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2)
    tags = analysis.tag_ranking[:top][::-1]
    ax1.barh([t for t, _ in tags], [v for _, v in tags], color="tab:blue")
    ax1.set_xlabel("permutation importance (share of the outcome's variance lost)")
    ax1.set_title(f"Process tags driving {analysis.outcome} ({analysis.n_lots} lots, CV R² {analysis.cv_r2:.2f})")
    for name, (x, y) in analysis.partial_dependence.items():
        ax2.plot(x, y, lw=1.2, label=name)
    ax2.set_xlabel("feature value (process units of the line's normal spread)")
    ax2.set_ylabel(f"{analysis.outcome} (partial dependence)")
    ax2.legend(fontsize=7)
    return _png(fig)
