"""Figures of simulated cycler data (matplotlib, Agg backend, written to files)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from simulators.cycler.bank import CyclerBank
from simulators.cycler.config import AgeingParams, CyclerConfig, CyclerFault
from simulators.cycler.frame import CyclerFrame, datetime64_ms
from simulators.cycler.protocol import REFERENCE_START, REGULAR_START


def cycle_discharge_capacity(
    frame: CyclerFrame, channel: int, *, regular_only: bool = False
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Per-cycle discharge capacity (Ah) of one channel: the counter's value at each cycle's last sample.

    Only cycles completed inside the frame are listed. ``regular_only`` drops formation and reference
    cycles (their slower rates give more capacity) and the regular cycle right after a reference cycle.
    """
    cyc = frame.cycle_index[:, channel]
    qd = frame.discharge_capacity[:, channel]
    last = np.flatnonzero(np.diff(cyc) != 0)
    n, q = cyc[last], qd[last]
    if not regular_only:
        return n, q
    step = frame.step_index[:, channel]
    special = np.unique(cyc[(step <= REGULAR_START - 1) | (step >= REFERENCE_START)])
    keep = ~np.isin(n, special) & ~np.isin(n - 1, special)
    return n[keep], q[keep]


def plot_capacity_fade(frame: CyclerFrame, channels: dict[int, str], path: Path) -> Path:
    """Discharge capacity against cycle number for the given ``{channel: label}``, saved as PNG at ``path``.

    Regular cycles are drawn as lines; a dotted vertical line marks where a fault began on a channel.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 4.2), dpi=110)
    ax = fig.add_subplot()
    t0 = frame.times[0]
    for ch, label in channels.items():
        n, q = cycle_discharge_capacity(frame, ch, regular_only=True)
        (line,) = ax.plot(n, q, linewidth=1.2, label=f"{frame.device_ids[ch]}: {label}")
        for ev in frame.truth:
            if ev.device_id != frame.device_ids[ch]:
                continue
            row = np.searchsorted(frame.times, datetime64_ms(ev.start))
            if row < frame.times.size and frame.times[row] >= t0:
                at = int(frame.cycle_index[row, ch])
                ax.axvline(at, color=line.get_color(), linestyle=":", linewidth=1.0)
                ax.annotate(f" {ev.kind} from cycle {at}", xy=(at, float(np.nanmax(q))), fontsize=8)
    ax.set_xlabel("cycle index")
    ax.set_ylabel("discharge capacity at 1C (Ah)")
    ax.set_title("Simulated NMC/graphite cells: capacity fade, healthy vs early knee")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def save_fade_figure(path: Path, *, seed: int = 11) -> Path:
    """Simulate a healthy and an early-knee channel (accelerated ageing, 2-minute samples) and plot both."""
    cycle_s = 9000.0  # about one 1C cycle with its rests
    cfg = CyclerConfig(
        n_channels=2,
        seed=seed,
        sample_interval_s=120.0,
        ageing=AgeingParams(fade_per_cycle=2e-4, knee_cycle=260.0, knee_width=8.0, knee_curvature=2e-5),
        faults=(CyclerFault(channel=1, kind="early_knee", start_s=80 * cycle_s, magnitude=2.0),),
    )
    frame = CyclerBank(cfg).generate(datetime(2024, 1, 1, tzinfo=UTC), int(330 * cycle_s / 120.0))
    return plot_capacity_fade(frame, {0: "healthy", 1: "early knee"}, path)
