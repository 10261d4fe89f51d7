"""The one-day plots are written as PNG files."""

from __future__ import annotations

from pathlib import Path

from simulators.plots import plot_simulated_day


def test_plots_of_a_simulated_day_are_written(tmp_path: Path) -> None:
    paths = plot_simulated_day(tmp_path / "docs", seed=1)
    assert [p.name for p in paths] == [
        "simulated-day-wind-rose.png",
        "simulated-day-episode.png",
        "simulated-day-overview.png",
    ]
    for p in paths:
        data = p.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
