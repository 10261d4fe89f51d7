"""Robust statistics over trailing windows, NaN-aware and vectorised (no per-sample loops).

A trailing window of sample ``i`` holds the ``window`` samples *before* it, so a sample never takes part in
its own baseline. Missing samples are NaN and are ignored by the statistics.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from models.detectors.base import FloatArray

#: Factor that turns a median absolute deviation into a standard deviation for normal data.
MAD_TO_SIGMA = 1.482602218505602


def nanmedian_rows(rows: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Median of each row ignoring NaN, and the number of finite values per row (median NaN when none).

    Sorting puts NaN last, so the median is picked by index from the finite head of each sorted row.
    """
    if rows.shape[1] == 0:
        return np.full(rows.shape[0], np.nan), np.zeros(rows.shape[0])
    srt = np.sort(rows, axis=1)
    count = np.isfinite(rows).sum(axis=1)
    lo = np.maximum((count - 1) // 2, 0)
    hi = np.maximum(count // 2, 0)
    hi = np.minimum(hi, rows.shape[1] - 1)
    r = np.arange(rows.shape[0])
    med = 0.5 * (srt[r, lo] + srt[r, hi])
    med = np.where(count > 0, med, np.nan)
    return med, count.astype(np.float64)


def median_mad_rows(rows: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Row-wise median, MAD scaled to a standard deviation, and count of finite values."""
    med, count = nanmedian_rows(rows)
    mad, _ = nanmedian_rows(np.abs(rows - med[:, None]))
    return med, MAD_TO_SIGMA * mad, count


def trailing_rows(history: FloatArray, x: FloatArray, window: int) -> tuple[FloatArray, FloatArray]:
    """Rows of the ``window`` values preceding each sample of ``x``, and the new history.

    ``history`` holds the last values of the stream before ``x`` (fewer than ``window`` at the start).
    Row ``j`` is ``[..., x[j-2], x[j-1]]`` continuing into ``history``; missing positions are NaN.
    The returned history is the last ``window`` values of ``history + x``.
    """
    pad = np.full(max(window - history.size, 0), np.nan)
    full = np.concatenate([pad, history[-window:] if window else history[:0], x])
    rows = sliding_window_view(full, window)[: x.size] if window else np.empty((x.size, 0))
    return rows, full[-window:] if window else full[:0]


def to_json_list(values: FloatArray) -> list[float | None]:
    """Floats as a strict-JSON list: NaN (a missing sample) becomes ``None``."""
    return [None if v != v else v for v in values.tolist()]


def from_json_list(values: list[float | None]) -> FloatArray:
    """Inverse of :func:`to_json_list`."""
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
