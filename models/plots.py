"""PNG plots of an assessment: each device's scores, the threshold and the ground-truth spans.

Figures are built with ``matplotlib.figure.Figure`` and the Agg canvas (no pyplot, no display, no global
state), so plotting works in servers and tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.assessment import Assessment

_MAX_PANELS = 12


def plot_assessment(result: Assessment, directory: Path, *, max_panels: int = _MAX_PANELS) -> list[Path]:
    """Write one PNG per group of up to ``max_panels`` devices; returns the files written."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    model = result.model
    for page, lo in enumerate(range(0, len(result.scores), max_panels)):
        panel = result.scores[lo : lo + max_panels]
        fig = Figure(figsize=(11, 1.9 * len(panel) + 0.8), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(len(panel), 1, sharex=True, squeeze=False)[:, 0]
        for ax, dev in zip(axes, panel, strict=True):
            hours = (dev.times - dev.times[0]) / 3600.0 if dev.times.size else dev.times
            ax.plot(hours, dev.scores, lw=0.7, color="tab:blue", label="score")
            ax.axhline(result.threshold, color="tab:red", lw=0.8, ls="--", label="limit")
            for span in (s for s in result.truth if s.device_id == dev.device_id):
                a = (span.start - dev.times[0]) / 3600.0
                b = (span.end - dev.times[0]) / 3600.0
                ax.axvspan(a, b, color="tab:orange", alpha=0.25, lw=0)
            finite = dev.scores[np.isfinite(dev.scores)]
            if finite.size and finite.min() > 0 and finite.max() / max(finite.min(), 1e-12) > 1e3:
                ax.set_yscale("log")
            ax.set_ylabel(dev.device_id, fontsize=8)
        axes[0].legend(loc="upper right", fontsize=7)
        axes[-1].set_xlabel("hours since the first sample (orange: ground-truth events)")
        fig.suptitle(f"{model.name}@{model.version} ({model.detector}) - scores, limit and truth", fontsize=10)
        path = directory / f"{model.name}-v{model.version}-{page + 1}.png"
        fig.savefig(path, dpi=100)
        written.append(path)
    return written
