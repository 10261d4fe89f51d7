"""Row-wise statistics of trailing windows over per-cycle series (NaN-aware, vectorised)."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from models.detectors.base import FloatArray


def windows_ending_at(history: FloatArray, x: FloatArray, window: int) -> tuple[FloatArray, FloatArray]:
    """Rows of the last ``window`` values up to and including each sample of ``x``; the new history.

    ``history`` is the tail of the stream before ``x``; positions before the stream's start are NaN.
    The new history is the last ``window - 1`` values, what the next chunk needs.
    """
    keep = window - 1
    tail = history[history.size - keep :] if keep else history[:0]
    full = np.concatenate([np.full(keep - tail.size, np.nan), tail, x])
    return sliding_window_view(full, window), full[full.size - keep :] if keep else full[:0]


def row_nanmedian(rows: FloatArray) -> FloatArray:
    """Median of each row ignoring NaN (NaN for a row without finite values)."""
    srt = np.sort(rows, axis=1)
    count = np.isfinite(rows).sum(axis=1)
    r = np.arange(rows.shape[0])
    lo = np.maximum(count - 1, 0) // 2
    med = 0.5 * (srt[r, lo] + srt[r, np.minimum(count // 2, rows.shape[1] - 1)])
    return np.where(count > 0, med, np.nan)


def row_slope(rows: FloatArray) -> FloatArray:
    """Least-squares slope of each row against its column position, ignoring NaN (NaN below 2 values)."""
    pos = np.arange(rows.shape[1], dtype=np.float64)
    ok = np.isfinite(rows)
    n = ok.sum(axis=1)
    y = np.where(ok, rows, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = (ok * pos).sum(axis=1) / n
        my = y.sum(axis=1) / n
        dx = np.where(ok, pos - mx[:, None], 0.0)
        slope = (dx * (y - my[:, None])).sum(axis=1) / (dx * dx).sum(axis=1)
    return np.where(n >= 2, slope, np.nan)


def row_mean(rows: FloatArray) -> FloatArray:
    """Mean of each row ignoring NaN (NaN for a row without finite values)."""
    ok = np.isfinite(rows)
    n = ok.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.where(ok, rows, 0.0).sum(axis=1) / n, np.nan)


def to_json_list(values: FloatArray) -> list[float | None]:
    """Floats as a strict-JSON list: NaN (a missing value) becomes ``None``."""
    return [None if v != v else v for v in values.tolist()]


def from_json_list(values: list[float | None]) -> FloatArray:
    """Inverse of :func:`to_json_list`."""
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
