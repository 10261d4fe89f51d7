"""Load a simulated cell fleet into the store: line and channels, batches, lots, cells, tests and their data.

The fleet's process tag data, cycler samples and ground truth go through the store's own bulk writers, so
everything downstream (per-cycle summaries, the lake export, the life model, the driver analysis) reads them
as it reads real data. Loading is idempotent per cell: a cell that already has a test is left as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np

from kipsense.records import DeviceKind
from simulators.cells_fleet import CellFleet
from store import cells as store_cells
from store import devices as store_devices
from store import ground_truth
from store.cell_features import copy_process_values
from store.cell_samples import SAMPLE_COLUMNS, copy_samples

Conn = Any


def _device(conn: Conn, device_id: str, kind: DeviceKind, site_id: str, interval_s: float) -> None:
    if store_devices.get(conn, device_id=device_id) is None:
        store_devices.create(conn, device_id=device_id, kind=kind, site_id=site_id, expected_interval_s=interval_s)


def load(
    conn: Conn,
    fleet: CellFleet,
    *,
    site_id: str = "park",
    detail_cycles: int | None = 100,
    last_cycle: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Write the fleet into the store in the caller's transaction; returns counts of what was written."""
    c = fleet.config
    now = datetime.now(UTC)
    counts = {"batches": 0, "process_values": 0, "cells": 0, "samples": 0}
    _device(conn, c.line_device, DeviceKind.PROCESS, site_id, c.process_interval_s)
    for b, batch in enumerate(fleet.batches):
        if store_cells.get_batch(conn, batch_id=batch.batch_id) is None:
            frame = fleet.process_frame(b)
            counts["process_values"] += copy_process_values(
                conn, device_id=c.line_device, times=frame.times, tags=frame.tags, values=frame.values, received_at=now
            )
            store_cells.register_batch(
                conn, batch_id=batch.batch_id, device_id=c.line_device, start_time=batch.start, end_time=batch.end
            )
            counts["batches"] += 1
        if store_cells.get_lot(conn, lot_id=batch.lot_id) is None:
            store_cells.register_lot(
                conn, lot_id=batch.lot_id, material="NMC811", produced_at=batch.end, batch_ids=[batch.batch_id]
            )
    ground_truth.add_many(conn, fleet.truth_events(), run_id=f"cells-fleet-{c.seed}")
    todo = [
        i
        for i, cid in enumerate(fleet.cell_ids)
        if store_cells.get_cell(conn, cell_id=cid) is None or not store_cells.list_tests(conn, cell_id=cid)
    ]
    for k, i in enumerate(todo):
        cid, channel = fleet.cell_ids[i], fleet.channel(i)
        _device(conn, channel, DeviceKind.CYCLER, site_id, 60.0)
        if store_cells.get_cell(conn, cell_id=cid) is None:
            store_cells.register_cell(
                conn,
                cell_id=cid,
                chemistry="NMC811/graphite",
                format="18650",
                nominal_capacity_ah=c.nominal_ah,
                maker="simulated",
                lot_id=fleet.cell_lot[i],
            )
        block = fleet.samples(
            np.array([i]),
            last_cycle=last_cycle,
            detail_cycles=detail_cycles,
            rng=np.random.default_rng([c.seed, i]),
        )
        cols: dict[str, Any] = {"time": block.time.astype("datetime64[us]").astype(np.int64)}
        for name in SAMPLE_COLUMNS[1:]:
            cols[name] = block.columns[name]
        counts["samples"] += copy_samples(conn, device_id=channel, columns=cols, time_estimated=False)
        start = block.time[0].astype("datetime64[us]").item().replace(tzinfo=UTC)
        end = block.time[-1].astype("datetime64[us]").item().replace(tzinfo=UTC)
        test_id = store_cells.add_test(conn, cell_id=cid, device_id=channel, start_time=start, end_time=end)
        store_cells.rebuild_cycles(conn, test_id=test_id)
        counts["cells"] += 1
        if progress is not None:
            progress(k + 1, len(todo))
    return counts
