"""The capacity-fade figure."""

from __future__ import annotations

from pathlib import Path

from simulators.cycler.plots import cycle_discharge_capacity, plot_capacity_fade
from simulators.cycler.scenarios import scenario_frame


def test_plot_writes_a_png(tmp_path: Path) -> None:
    out = plot_capacity_fade(scenario_frame(), {0: "healthy", 1: "early knee"}, tmp_path / "fade.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 10_000


def test_cycle_capacity_regular_only_is_a_subset() -> None:
    n_all, q_all = cycle_discharge_capacity(scenario_frame(), 0)
    n_reg, _ = cycle_discharge_capacity(scenario_frame(), 0, regular_only=True)
    assert set(n_reg.tolist()) < set(n_all.tolist())
    assert q_all.size == n_all.size
