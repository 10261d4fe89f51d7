"""Where things live in the lake, and how a block of rows is written into it.

Layout (Hive-style partitions, readable by DuckDB, Polars, Dask, Spark and pyarrow alike)::

    ROOT/cycler_samples/month=YYYY-MM/device=ID/part-<window>-<n>.parquet
    ROOT/process_values/month=YYYY-MM/device=ID/part-<window>-<n>.parquet
    ROOT/registry/cell_tests.parquet        (cells, their channels and test windows; rewritten each export)
    ROOT/_state.json                        (export watermarks; deleting the lake deletes them too)

The date partition is the calendar month: a cycler channel writes a few hundred thousand rows a month, and
day partitions would split a long test into thousands of small files, whose opening would cost an engine
more than their reading. Within a file rows are in time order, so row-group statistics prune by time.

A file name carries the token of the export window that wrote it, so writing the same window again (after a
crash between writing and recording the watermark) replaces the same files instead of adding duplicates.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Final

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.dataset as ds  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

KINDS: Final = ("cycler_samples", "process_values")
_PARTITIONING: Final = ds.partitioning(pa.schema([("month", pa.string()), ("device", pa.string())]), flavor="hive")


class Lake:
    """A lake rooted at a directory (created on first write)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # -- paths ----------------------------------------------------------------------------------------------
    def kind_dir(self, kind: str) -> Path:
        if kind not in KINDS:
            raise ValueError(f"unknown lake kind {kind!r}; known: {KINDS}")
        return self.root / kind

    @property
    def registry_path(self) -> Path:
        return self.root / "registry" / "cell_tests.parquet"

    def files(self, kind: str) -> list[Path]:
        return sorted(self.kind_dir(kind).rglob("*.parquet"))

    def glob(self, kind: str) -> str:
        """A glob of every data file of a kind (for DuckDB's ``read_parquet``)."""
        return str(self.kind_dir(kind) / "**" / "*.parquet")

    # -- state ----------------------------------------------------------------------------------------------
    @property
    def _state_path(self) -> Path:
        return self.root / "_state.json"

    def state(self) -> dict[str, Any]:
        try:
            loaded: dict[str, Any] = json.loads(self._state_path.read_text())
        except FileNotFoundError:
            return {"watermarks": {}, "pending": {}}
        return loaded

    def save_state(self, state: dict[str, Any]) -> None:
        """Write the state atomically (write a temporary file, then rename over the old one)."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self._state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
        os.replace(tmp, self._state_path)

    # -- writing --------------------------------------------------------------------------------------------
    def write(self, kind: str, table: pa.Table, *, token: str) -> int:
        """Write rows (with ``device_id`` and a UTC ``time``) into their date/device partitions."""
        if table.num_rows == 0:
            return 0
        month = pc.strftime(table.column("time"), format="%Y-%m")
        table = table.append_column("month", month).append_column("device", table.column("device_id"))
        ds.write_dataset(
            table,
            self.kind_dir(kind),
            format="parquet",
            partitioning=_PARTITIONING,
            basename_template=f"part-{token}-{{i}}.parquet",
            existing_data_behavior="overwrite_or_ignore",
            max_rows_per_group=1 << 20,
        )
        return int(table.num_rows)

    def write_registry(self, table: pa.Table) -> None:
        self.registry_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.registry_path.with_suffix(".tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, self.registry_path)

    def clear(self) -> None:
        """Remove every derived file (the lake is rebuilt from the database)."""
        for kind in KINDS:
            shutil.rmtree(self.root / kind, ignore_errors=True)
        shutil.rmtree(self.root / "registry", ignore_errors=True)
        self._state_path.unlink(missing_ok=True)

    def rows(self, kind: str) -> int:
        """Rows of a kind, from the Parquet footers (no data read)."""
        return sum(pq.ParquetFile(p).metadata.num_rows for p in self.files(kind))
