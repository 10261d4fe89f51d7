"""The cell feature job on the lake: DuckDB (embedded, the default) or Dask (distributed), same results.

DuckDB runs the very statement the database runs (``store.cell_features.feature_sql``) over the Parquet
files. Dask runs the same relational plan — join samples to cell tests, group by cell and cycle (and by
voltage bin for Q(V)) — as dataframe operations, so it scales out on a Dask cluster (``scheduler`` is the
address of a ``dask.distributed`` scheduler) and runs on local threads by default.

Why Dask rather than Spark: the job is a join and two group-bys on columnar Parquet, which Dask does on the
same pandas/pyarrow stack the platform already uses, in-process for tests and on a cluster unchanged, without
a JVM beside the Python services. Spark would read the same lake layout should a site run one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import pyarrow as pa  # type: ignore[import-untyped]

from lake.layout import Lake
from store.cell_features import CYCLE_FIELDS, QV_FIELDS, feature_sql

_SAMPLE_COLS: Final = (
    "device_id",
    "time",
    "cycle_index",
    "voltage",
    "current",
    "temperature",
    "charge_capacity",
    "discharge_capacity",
    "charge_energy",
    "discharge_energy",
    "internal_resistance",
)


_INTS: Final = frozenset({"cycle_index", "vbin", "n_samples", "n"})


class LakeError(RuntimeError):
    """The lake has no data or no registry to run the job on."""


def _check(lake: Lake) -> None:
    if not lake.files("cycler_samples"):
        raise LakeError(f"no cycler samples in the lake at {lake.root}")
    if not lake.registry_path.exists():
        raise LakeError(f"no cell registry in the lake at {lake.root} (run an export)")


def _ordered(table: pa.Table, fields: Sequence[str]) -> pa.Table:
    keys = [k for k in ("cell_id", "cycle_index", "vbin") if k in fields]
    table = table.select(list(fields))
    # one schema whatever the engine: integers as int64, measurements as float64
    target = pa.schema(
        [(f, pa.string() if f == "cell_id" else pa.int64() if f in _INTS else pa.float64()) for f in fields]
    )
    return table.cast(target).sort_by([(k, "ascending") for k in keys])


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def duckdb_job(
    lake: Lake,
    *,
    cell_ids: Sequence[str] | None = None,
    bin_v: float = 0.01,
    max_cycle: int = 100,
    threads: int | None = None,
) -> dict[str, pa.Table]:
    """The job on DuckDB; tables ``cycles`` and ``qv`` as in ``store.cell_features.run_job``."""
    import duckdb

    _check(lake)
    con = duckdb.connect(config={"threads": threads} if threads else {})
    try:
        # a view cannot take parameters: the paths go in as quoted string literals
        con.execute(
            f"CREATE VIEW samples AS SELECT * FROM read_parquet({_literal(lake.glob('cycler_samples'))},"  # noqa: S608
            " hive_partitioning = true, union_by_name = true)"
        )
        con.execute(f"CREATE VIEW tests AS SELECT * FROM read_parquet({_literal(str(lake.registry_path))})")  # noqa: S608
        where = ""
        if cell_ids is not None:
            where = f"AND t.cell_id IN ({', '.join(_literal(c) for c in cell_ids) or 'NULL'})"
        stmts = feature_sql(samples="samples", tests="tests", bin_v=bin_v, max_cycle=max_cycle, cell_filter=where)
        out = {name: con.sql(stmts[name]).to_arrow_table() for name in ("cycles", "qv")}
        return {"cycles": _ordered(out["cycles"], CYCLE_FIELDS), "qv": _ordered(out["qv"], QV_FIELDS)}
    finally:
        con.close()


def dask_job(
    lake: Lake,
    *,
    cell_ids: Sequence[str] | None = None,
    bin_v: float = 0.01,
    max_cycle: int = 100,
    scheduler: str | None = None,
) -> dict[str, pa.Table]:
    """The job on Dask: local threads by default, or the ``dask.distributed`` scheduler at ``scheduler``."""
    import dask
    import dask.dataframe as dd
    import numpy as np
    import pandas as pd  # type: ignore[import-untyped]
    from dask.base import compute

    _check(lake)
    tests = pd.read_parquet(lake.registry_path, columns=["cell_id", "device_id", "start_time", "end_time"])
    if cell_ids is not None:
        tests = tests[tests["cell_id"].isin(list(cell_ids))]
    tests["device_id"] = tests["device_id"].astype("string")
    # the arrow filesystem lets Dask gather the many small date/device files into fewer, larger partitions
    s = dd.read_parquet(str(lake.kind_dir("cycler_samples")), columns=list(_SAMPLE_COLS), filesystem="arrow")
    s["device_id"] = s["device_id"].astype("string")
    m = s.merge(tests, on="device_id", how="inner")
    m = m[(m["time"] >= m["start_time"]) & (m["end_time"].isna() | (m["time"] <= m["end_time"]))]
    m = m[m["cycle_index"].notnull()]
    m = m.assign(ir_pos=m["internal_resistance"].where(m["internal_resistance"] > 0), one=1)
    g = m.groupby(["cell_id", "cycle_index"])
    cyc = g.agg(
        n_samples=("one", "sum"),
        qc_max=("charge_capacity", "max"),
        qc_min=("charge_capacity", "min"),
        qd_max=("discharge_capacity", "max"),
        qd_min=("discharge_capacity", "min"),
        ec_max=("charge_energy", "max"),
        ec_min=("charge_energy", "min"),
        ed_max=("discharge_energy", "max"),
        ed_min=("discharge_energy", "min"),
        internal_resistance_ohm=("ir_pos", "mean"),
        max_temperature_c=("temperature", "max"),
        min_voltage_v=("voltage", "min"),
        max_voltage_v=("voltage", "max"),
    )
    d = m[
        (m["current"] < 0)
        & m["voltage"].notnull()
        & m["discharge_capacity"].notnull()
        & (m["cycle_index"] >= 0)
        & (m["cycle_index"] <= max_cycle)
    ]
    d = d.assign(vbin=np.floor(d["voltage"] / bin_v).astype("int64"))
    qv = d.groupby(["cell_id", "cycle_index", "vbin"]).agg(
        voltage=("voltage", "mean"), discharge_counter=("discharge_capacity", "mean"), n=("one", "sum")
    )
    if scheduler:
        from distributed import Client

        with Client(scheduler) as client:  # type: ignore[no-untyped-call]
            cyc_pd, qv_pd = client.compute([cyc, qv], sync=True)
    else:
        with dask.config.set(scheduler="threads"):
            cyc_pd, qv_pd = compute(cyc, qv)  # type: ignore[no-untyped-call]
    cyc_pd = cyc_pd.reset_index()
    cyc_pd = cyc_pd.assign(
        charge_capacity_ah=cyc_pd["qc_max"] - cyc_pd["qc_min"],
        discharge_capacity_ah=cyc_pd["qd_max"] - cyc_pd["qd_min"],
        discharge_counter_min=cyc_pd["qd_min"],
        charge_energy_wh=cyc_pd["ec_max"] - cyc_pd["ec_min"],
        discharge_energy_wh=cyc_pd["ed_max"] - cyc_pd["ed_min"],
    )
    return {
        "cycles": _ordered(pa.Table.from_pandas(cyc_pd, preserve_index=False), CYCLE_FIELDS),
        "qv": _ordered(pa.Table.from_pandas(qv_pd.reset_index(), preserve_index=False), QV_FIELDS),
    }


def run(lake: Lake, *, engine: str = "duckdb", **kwargs: Any) -> dict[str, pa.Table]:
    """The job on ``engine`` (``duckdb`` or ``dask``)."""
    if engine == "duckdb":
        return duckdb_job(lake, **kwargs)
    if engine == "dask":
        return dask_job(lake, **kwargs)
    raise ValueError(f"unknown engine {engine!r}; use duckdb or dask")
