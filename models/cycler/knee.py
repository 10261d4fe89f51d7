"""Knee of a capacity-fade curve: where slow, linear fade turns into rapid fade.

Two estimates on the whole curve (post-hoc, e.g. for reports and for labelling):

- ``two_line``: the breakpoint of the best continuous two-segment linear fit (the hinge model
  ``q = a + b n + c (n - n0)+``, the sharp-transition limit of the Bacon-Watts model), searched over every
  cycle with vectorised normal equations;
- ``max_curvature``: the point of the normalised curve farthest from the chord between its ends (the
  Kneedle idea), cheap and without a model.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from models.detectors.base import FloatArray


def _clean(cycles: ArrayLike | None, capacity: ArrayLike) -> tuple[FloatArray, FloatArray]:
    q = np.asarray(capacity, dtype=np.float64)
    n = np.arange(q.size, dtype=np.float64) if cycles is None else np.asarray(cycles, dtype=np.float64)
    if q.ndim != 1 or n.shape != q.shape:
        raise ValueError("capacity and cycles must be 1-d arrays of one length")
    ok = np.isfinite(q) & np.isfinite(n)
    return n[ok], q[ok]


def _hinge_sse(n: FloatArray, q: FloatArray, cand: FloatArray) -> FloatArray:
    """Sum of squared errors of the continuous two-line fit with its break at each of ``cand``."""
    h = np.maximum(n[None, :] - cand[:, None], 0.0)  # (candidates, cycles)
    # Normal equations A^T A beta = A^T q with A = [1, n, h_k] for every candidate k at once.
    ata = np.empty((cand.size, 3, 3))
    ata[:, 0, 0], ata[:, 0, 1], ata[:, 1, 1] = n.size, n.sum(), n @ n
    ata[:, 1, 0] = ata[:, 0, 1]
    ata[:, 0, 2] = ata[:, 2, 0] = h.sum(axis=1)
    ata[:, 1, 2] = ata[:, 2, 1] = h @ n
    ata[:, 2, 2] = (h * h).sum(axis=1)
    aty = np.stack([np.full(cand.size, q.sum()), np.full(cand.size, n @ q), h @ q], axis=1)
    beta = np.linalg.solve(ata, aty[:, :, None])[:, :, 0]
    fitted = beta[:, :1] + beta[:, 1:2] * n[None, :] + beta[:, 2:3] * h
    return np.asarray(((q[None, :] - fitted) ** 2).sum(axis=1), dtype=np.float64)


def two_line_knee(n: FloatArray, q: FloatArray, *, min_segment: int = 5, block: int = 256) -> tuple[float, FloatArray]:
    """Breakpoint of the best continuous two-line fit, and the sum of squared errors per candidate.

    Candidates are evaluated ``block`` at a time, which bounds memory to ``block * len(n)`` floats.
    """
    if n.size < 2 * min_segment + 1:
        raise ValueError(f"need at least {2 * min_segment + 1} valid cycles to fit two lines")
    cand = n[min_segment:-min_segment]
    sse = np.concatenate([_hinge_sse(n, q, cand[i : i + block]) for i in range(0, cand.size, block)])
    return float(cand[int(np.argmin(sse))]), sse


def max_curvature_knee(n: FloatArray, q: FloatArray) -> float:
    """Cycle where the normalised curve bulges farthest above the chord from its first to its last point."""
    if n.size < 3:
        raise ValueError("need at least 3 valid cycles")
    x = (n - n[0]) / (n[-1] - n[0])
    span = q.max() - q.min()
    y = (q - q.min()) / span if span > 0 else np.zeros_like(q)
    chord = y[0] + (y[-1] - y[0]) * x
    return float(n[int(np.argmax(y - chord))]) if span > 0 else float(n[0])


def find_knee(
    capacity: ArrayLike,
    cycles: ArrayLike | None = None,
    *,
    method: Literal["two_line", "max_curvature"] = "two_line",
    min_segment: int = 5,
) -> float:
    """Cycle at which the capacity curve bends down (NaN capacities are skipped).

    Examples
    --------
    >>> import numpy as np
    >>> n = np.arange(300.0)
    >>> q = 1.0 - 1e-4 * n - 2e-3 * np.maximum(n - 200, 0)
    >>> find_knee(q, n)
    200.0
    """
    x, y = _clean(cycles, capacity)
    if x.size > 1 and np.any(np.diff(x) <= 0):
        raise ValueError("cycles must be strictly increasing")
    if method == "two_line":
        return two_line_knee(x, y, min_segment=min_segment)[0]
    if method == "max_curvature":
        return max_curvature_knee(x, y)
    raise ValueError(f"unknown method {method!r}")
