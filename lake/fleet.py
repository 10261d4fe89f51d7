"""A simulated cell fleet written straight into the lake (for benchmarks at scale; no database involved)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]

from lake.layout import Lake
from simulators.cells_fleet import CellBlock, CellFleet
from store.lake import schema


def block_table(block: CellBlock, *, received_at: datetime) -> pa.Table:
    """A fleet block as rows of the lake's ``cycler_samples`` schema."""
    sch = schema("cycler_samples")
    cols: dict[str, pa.Array] = {
        "device_id": pa.array(block.device_id.astype(str), pa.string()),
        "time": pa.array(block.time.astype("datetime64[us]"), pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC")),
    }
    for name, values in block.columns.items():
        typ = sch.field(name).type
        if values.dtype.kind == "f":
            cols[name] = pa.array(values, type=typ, mask=np.isnan(values))
        else:
            cols[name] = pa.array(values, type=typ)
    stamp = pa.scalar(received_at, type=pa.timestamp("us", tz="UTC"))
    cols["received_at"] = pa.array(np.full(len(block), stamp.value, dtype="int64"), pa.int64()).cast(
        pa.timestamp("us", tz="UTC")
    )
    return pa.table([cols[f.name] for f in sch], schema=sch)


def registry_table(fleet: CellFleet) -> pa.Table:
    """The fleet's cells, channels and test windows in the lake's registry schema."""
    n = len(fleet.cell_ids)
    start = fleet.test_start
    return pa.table(
        {
            "test_id": pa.array(np.arange(1, n + 1), pa.int64()),
            "cell_id": pa.array(list(fleet.cell_ids), pa.string()),
            "device_id": pa.array([fleet.channel(i) for i in range(n)], pa.string()),
            "start_time": pa.array([start] * n, pa.timestamp("us", tz="UTC")),
            "end_time": pa.array([None] * n, pa.timestamp("us", tz="UTC")),
            "lot_id": pa.array(list(fleet.cell_lot), pa.string()),
            "nominal_capacity_ah": pa.array([fleet.config.nominal_ah] * n, pa.float64()),
        }
    )


def write_fleet(
    fleet: CellFleet,
    lake: Lake,
    *,
    last_cycle: int | None = None,
    detail_cycles: int | None = None,
    cells_per_block: int = 16,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Write the fleet's samples, registry and ground truth into the lake; returns the rows written."""
    now = datetime.now(UTC)
    rows = 0
    n_blocks = -(-len(fleet.cell_ids) // cells_per_block)
    for k, block in enumerate(
        fleet.blocks(last_cycle=last_cycle, detail_cycles=detail_cycles, cells_per_block=cells_per_block)
    ):
        rows += lake.write(
            "cycler_samples", block_table(block, received_at=now), token=f"fleet{fleet.config.seed}-{k:05d}"
        )
        if progress is not None:
            progress(k + 1, n_blocks)
    lake.write_registry(registry_table(fleet))
    (lake.root / "fleet_truth.json").write_text(json.dumps(fleet.truth(), indent=1))
    return rows
