"""Export stored history to notebook-friendly files: ``.npz`` (numpy) or ``.parquet`` (pandas, polars, arrow).

Both hold one row per sample: ``device_id``, ``time`` (UTC, microseconds) and one column per metric or tag.
``np.load(path)`` or ``pandas.read_parquet(path)`` opens them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from store.history import History


def to_npz(hist: History, path: Path) -> Path:
    """Arrays ``device_id``, ``time`` (datetime64[us]), ``values`` (n, k) and ``columns``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        np.savez_compressed(
            fh,
            device_id=hist.devices.astype(str),
            time=(hist.times * 1e6).round().astype("datetime64[us]"),
            values=hist.values,
            columns=np.array(hist.columns, dtype=str),
        )
    return path


def to_parquet(hist: History, path: Path) -> Path:
    """A parquet table with ``device_id``, ``time`` (timestamp[us, UTC]) and one float column per metric."""
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {
        "device_id": pa.array(hist.devices.astype(str).tolist(), type=pa.string()),
        "time": pa.array((hist.times * 1e6).round().astype(np.int64), type=pa.timestamp("us", tz="UTC")),
        **{c: pa.array(hist.values[:, i], type=pa.float64(), from_pandas=True) for i, c in enumerate(hist.columns)},
    }
    pq.write_table(pa.table(arrays), path)
    return path


def export(hist: History, path: Path) -> Path:
    """By the file's suffix: ``.npz`` or ``.parquet``."""
    if path.suffix == ".npz":
        return to_npz(hist, path)
    if path.suffix == ".parquet":
        return to_parquet(hist, path)
    raise ValueError(f"export to .npz or .parquet, not {path.suffix or 'no suffix'!r}")
