"""The lake: incremental export from the database, rebuild, and one feature job on three engines.

Against the real TimescaleDB: a small simulated fleet is loaded through the store, exported to Parquet, and
the feature job's tables from PostgreSQL, DuckDB and Dask (local threads and a local distributed cluster)
must agree row for row.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pytest

from lake import export, jobs
from lake.layout import Lake
from simulators.cells_fleet import CellFleet, FleetConfig
from simulators.cells_fleet_store import load
from store import cell_features
from store import lake as store_lake
from store.db import Conn, connect

pytestmark = pytest.mark.stack
CFG = FleetConfig(n_batches=3, cells_per_lot=2, seed=7, lam_rate=4e-4, max_cycles=800, batch_hours=2.0)


@pytest.fixture(scope="module")
def fleet() -> CellFleet:
    return CellFleet.simulate(CFG)


@pytest.fixture(scope="module")
def conn(database_url: str, fleet: CellFleet) -> Iterator[Conn]:
    with connect(database_url) as c:
        load(c, fleet, detail_cycles=30, last_cycle=60)
        c.commit()
        yield c


def _same(a: pa.Table, b: pa.Table) -> None:
    assert a.column_names == b.column_names
    assert a.num_rows == b.num_rows > 0
    for name in a.column_names:
        x, y = a.column(name).to_pylist(), b.column(name).to_pylist()
        if name == "cell_id":
            assert x == y
        else:
            np.testing.assert_allclose(np.array(x, dtype=float), np.array(y, dtype=float), rtol=1e-9, atol=1e-12)


def _sorted(t: pa.Table) -> pa.Table:
    keys = [k for k in ("cell_id", "cycle_index", "vbin") if k in t.column_names]
    target = pa.schema(
        [(f, pa.string() if f == "cell_id" else pa.int64() if f in ("cycle_index", "vbin", "n_samples", "n") else
          pa.float64()) for f in t.column_names]
    )  # fmt: skip
    return t.cast(target).sort_by([(k, "ascending") for k in keys])


def test_export_is_incremental_and_the_engines_agree(conn: Conn, tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    first = {r.table: r.rows for r in export.export(conn, lake, lag_s=0)}
    stored = store_lake.high_water(conn, table="cycler_samples")
    assert stored is not None
    n_db = conn.execute("SELECT count(*) AS n FROM cycler_samples").fetchone()
    assert n_db is not None and first["cycler_samples"] == n_db["n"] == lake.rows("cycler_samples")
    assert first["process_values"] == lake.rows("process_values") > 0
    assert all("month=" in str(p) and "device=" in str(p) for p in lake.files("cycler_samples"))
    # nothing new: nothing exported, nothing duplicated
    assert {r.table: r.rows for r in export.export(conn, lake, lag_s=0)} == {"cycler_samples": 0, "process_values": 0}
    assert lake.rows("cycler_samples") == n_db["n"]

    db = cell_features.run_job(conn, max_cycle=40)
    duck = jobs.duckdb_job(lake, max_cycle=40)
    dask = jobs.dask_job(lake, max_cycle=40)
    for name in ("cycles", "qv"):
        _same(_sorted(db[name]), duck[name])
        _same(duck[name], dask[name])
    assert set(duck["cycles"].column("cell_id").to_pylist()) == set(CellFleet.simulate(CFG).cell_ids)
    one = jobs.duckdb_job(lake, cell_ids=["fc-0001"], max_cycle=40)
    assert set(one["cycles"].column("cell_id").to_pylist()) == {"fc-0001"}


def test_a_cut_off_export_is_redone_without_duplicates(conn: Conn, tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    export.export(conn, lake, lag_s=0)
    total = lake.rows("cycler_samples")
    # as if the last run had written its files and died before recording the watermark
    state = lake.state()
    state["pending"] = {"cycler_samples": {"after": None, "until": state["watermarks"]["cycler_samples"]}}
    del state["watermarks"]["cycler_samples"]
    lake.save_state(state)
    redo = {r.table: r.rows for r in export.export(conn, lake, lag_s=0)}
    assert redo["cycler_samples"] == total
    assert lake.rows("cycler_samples") == total  # same window, same file names: replaced, not added
    rebuilt = export.rebuild(conn, lake, lag_s=0)
    assert {r.table: r.rows for r in rebuilt}["cycler_samples"] == total == lake.rows("cycler_samples")


def test_new_rows_reach_the_lake_on_the_next_run(conn: Conn, fleet: CellFleet, tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    export.export(conn, lake, lag_s=0)
    before = lake.rows("cycler_samples")
    extra = load(conn, _with_new_cells(fleet), detail_cycles=30, last_cycle=20)
    conn.commit()
    run = {r.table: r.rows for r in export.export(conn, lake, lag_s=0)}
    assert run["cycler_samples"] == extra["samples"] > 0
    assert lake.rows("cycler_samples") == before + extra["samples"]


def _with_new_cells(fleet: CellFleet) -> CellFleet:
    """The same fleet under other cell ids (and channels): new cells whose samples arrive later."""
    import dataclasses

    cfg = dataclasses.replace(fleet.config, cell_prefix="fd")
    return CellFleet.simulate(cfg)


def test_the_job_refuses_an_empty_lake(tmp_path: Path) -> None:
    with pytest.raises(jobs.LakeError, match="no cycler samples"):
        jobs.duckdb_job(Lake(tmp_path / "empty"))
    with pytest.raises(ValueError, match="engine"):
        jobs.run(Lake(tmp_path / "empty"), engine="spark")


def test_dask_on_a_local_distributed_cluster(conn: Conn, tmp_path: Path) -> None:
    from distributed import LocalCluster

    lake = Lake(tmp_path / "lake")
    export.export(conn, lake, lag_s=0)
    cluster_args = {"n_workers": 1, "threads_per_worker": 1, "processes": False, "dashboard_address": None}
    with LocalCluster(**cluster_args) as cluster:  # type: ignore[no-untyped-call]
        remote = jobs.dask_job(lake, max_cycle=40, scheduler=cluster.scheduler_address)
    local = jobs.duckdb_job(lake, max_cycle=40)
    for name in ("cycles", "qv"):
        _same(local[name], remote[name])
