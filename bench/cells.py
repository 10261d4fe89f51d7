"""Cell analytics: feature-job rate on the lake against PostgreSQL, cycle-life prediction on held-out simulated
cells, and recovery of the process drivers the simulator planted.

1. A fleet (``--batches`` lots x ``--cells-per-lot`` cells, seed ``--seed``) is simulated to the end of every
   cell's life and written straight into a Parquet lake (first 100 cycles logged in full, later ones sparsely).
2. Life: the feature job runs on the lake (DuckDB); the cells are split at random (seeded) into training and
   held-out cells; the feature set is chosen by 5-fold cross-validation on the training cells only; the
   held-out cells give ``life_rmse_cycles`` and ``life_mape`` beside the mean-life and fade-extrapolation
   baselines.
3. Rate: ``--pg-cells`` cells of the fleet are loaded into a fresh database on the test stack and exported to a
   second lake; the same feature job then runs on PostgreSQL and on DuckDB over the same rows (best of
   ``--repeat``), giving ``lake_vs_postgres_ratio``; Dask runs it too.
4. Drivers: each cell's lot's batch tag data (the process line simulator) against its outcomes; the rank of the
   best-ranked tag that carries the planted cause is ``true_driver_rank`` (1 = first).
5. Smoke test: the real Arbin, Maccor and Neware sample files are imported and given to the life model.
6. Optionally (``--scale-cells``), a larger fleet straight into a lake for the engines' rates at scale.

    .venv/bin/python bench/cells.py                      # about ten minutes on two cores
    .venv/bin/python bench/cells.py --scale-cells 1000 --scale-cycles 1000   # + a 1,000 x 1,000 fleet lake
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from _common import RESULTS_DIR, machine, markdown_table, update_results_md, write_results

from lake import export, jobs
from lake.fleet import write_fleet
from lake.layout import Lake
from models.cells import drivers, service
from models.cells.features import split_cells
from simulators.cells_fleet import TRUE_DRIVERS, CellFleet, FleetConfig
from simulators.cells_fleet_store import load
from store import admin, migrate
from store import cell_features as store_cf
from store.db import connect

ROOT = Path(__file__).resolve().parent.parent
SMOKE_FILES = ("20160805_test001_45_cc_01.res", "maccor_001.txt", "maccor_002.txt", "nw_regular_export_ife_example.csv")


def _best(fn: Any, repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _life(fleet: CellFleet, lake: Lake, *, seed: int, n_cycles: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    tables = jobs.duckdb_job(lake, max_cycle=n_cycles)
    job_s = time.perf_counter() - t0
    cells = split_cells(tables["cycles"], tables["qv"])
    lots = dict(zip(fleet.cell_ids, fleet.cell_lot, strict=True))
    cs = service.CellSet(cells, dict.fromkeys(cells, fleet.config.nominal_ah), {c: lots[c] for c in cells})
    model, report = service.train_and_evaluate(cs, n_cycles=n_cycles, ref_cycle=10, test_share=0.3, seed=seed)
    held = report["held_out"]
    return {
        "job_s": job_s,
        "model": model,
        "cs": cs,
        "report": {k: v for k, v in report.items() if k not in ("train_cells", "skipped")},
        "held_out": {k: v for k, v in held.items() if k != "per_cell"},
        "per_cell": held["per_cell"],
        "skipped": len(report["skipped"]),
    }


def _drivers(fleet: CellFleet, cs: service.CellSet, *, seed: int) -> dict[str, Any]:
    values = {}
    for b, batch in enumerate(fleet.batches):
        frame = fleet.process_frame(b)
        values[batch.batch_id] = {t: frame.values[:, j] for j, t in enumerate(frame.tags)}
    lot_batches = {b.lot_id: [b.batch_id] for b in fleet.batches}
    ids, names, x, groups = drivers.cell_matrix(values, lot_batches, cs.lots)
    ys = service.cell_outcomes(cs, ids)
    out: dict[str, Any] = {}
    for outcome in drivers.OUTCOMES:
        a = drivers.analyse(x, ys[outcome], groups, names, outcome=outcome, seed=seed)
        truth = TRUE_DRIVERS[outcome]
        ranks = [r for r in (a.rank_of(t) for t in truth["tags"]) if r is not None]
        out[outcome] = {
            "true_driver_rank": min(ranks),
            "named_tag_rank": a.rank_of(str(truth["tag"])),
            "true_tags": list(truth["tags"]),
            "top_tags": [t for t, _ in a.tag_ranking[:5]],
            "cv_r2": a.cv_r2,
            "lots": a.n_lots,
        }
    return out


def _rates(fleet: CellFleet, url: str, lake: Lake, *, cells: int, repeat: int) -> dict[str, Any]:
    sub = CellFleet(
        fleet.config,
        fleet.batches,
        fleet.cell_ids[:cells],
        fleet.cell_lot[:cells],
        fleet.cell_batch[:cells],
        fleet.life[:cells],
        {k: v[:cells] for k, v in fleet.params.items()},
        fleet.states,
    )
    with connect(url) as conn:
        t0 = time.perf_counter()
        counts = load(conn, sub, detail_cycles=100)
        conn.commit()
        load_s = time.perf_counter() - t0
        conn.execute("ANALYZE cycler_samples")
        conn.commit()
        export.export(conn, lake, lag_s=0)
        rows = lake.rows("cycler_samples")
        pg_s, pg = _best(lambda: store_cf.run_job(conn, max_cycle=100), repeat)
    duck_s, duck = _best(lambda: jobs.duckdb_job(lake, max_cycle=100), repeat)
    dask_s, _ = _best(lambda: jobs.dask_job(lake, max_cycle=100), 1)
    if pg["cycles"].num_rows != duck["cycles"].num_rows or pg["qv"].num_rows != duck["qv"].num_rows:
        raise RuntimeError("PostgreSQL and DuckDB disagree on the feature job's output")
    return {
        "cells": cells,
        "samples": rows,
        "db_load_samples_per_s": counts["samples"] / load_s,
        "postgres_s": pg_s,
        "duckdb_s": duck_s,
        "dask_s": dask_s,
        "postgres_samples_per_s": rows / pg_s,
        "duckdb_samples_per_s": rows / duck_s,
        "dask_samples_per_s": rows / dask_s,
        "lake_vs_postgres_ratio": pg_s / duck_s,
    }


def _smoke(url: str, record_state: dict[str, Any]) -> list[dict[str, Any]]:
    from kipsense.cellimport import import_file
    from models.cells import life as lifemod

    data = Path(os.environ.get("KIPSENSE_CYCLER_SAMPLES", ROOT.parent / "shared" / "data" / "cycler-samples"))
    if not data.is_dir():
        data = Path("/work/shared/data/cycler-samples")
    model = lifemod.LifeModel.from_state(record_state)
    out = []
    with connect(url) as conn:
        for name in SMOKE_FILES:
            path = data / name
            if not path.exists():
                out.append({"file": name, "status": "missing"})
                continue
            res = import_file(conn, path)
            conn.commit()
            cid = getattr(res, "cell_id", None)
            if getattr(res, "error", None) or cid is None:
                out.append({"file": name, "status": "import failed", "detail": str(getattr(res, "error", ""))})
                continue
            cs = service.load_cells(conn, cell_ids=[cid], max_cycle=model.n_cycles)
            cell = cs.cells.get(cid)
            seen = int(cell.cycle_index.max()) if cell is not None and cell.cycle_index.size else 0
            entry: dict[str, Any] = {
                "file": name,
                "cell_id": cid,
                "cycles": seen,
                "curves": len(cell.curves) if cell else 0,
            }
            try:
                from models.cells.features import early_features

                if cell is None:
                    raise ValueError("no cycles")
                n = min(model.n_cycles, seen)
                f = early_features(cell, n_cycles=n, ref_cycle=min(model.ref_cycle, max(n - 6, 1)))
                entry["status"] = f"features from {n} cycles"
                entry["log_var_dq"] = f["log_var_dq"]
            except ValueError as exc:
                entry["status"] = f"no prediction: {exc}"
            out.append(entry)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, default=50)
    ap.add_argument("--cells-per-lot", type=int, default=4)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--cycles", type=int, default=100, help="predict from the first N cycles")
    ap.add_argument("--pg-cells", type=int, default=60, help="cells loaded into PostgreSQL for the rate ratio")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--stack", default="test")
    ap.add_argument("--scale-cells", type=int, default=0, help="also: a fleet this large straight into a lake")
    ap.add_argument("--scale-cycles", type=int, default=1000)
    ap.add_argument("--scale-detail-cycles", type=int, default=100, help="scale: cycles logged in full, then sparse")
    args = ap.parse_args()

    from kipsense.stack import LocalStack

    tmp = Path(tempfile.mkdtemp(prefix="kipsense-cells-bench-"))
    results: dict[str, Any] = {"args": vars(args), "machine": machine()}
    try:
        t0 = time.perf_counter()
        cfg = FleetConfig(n_batches=args.batches, cells_per_lot=args.cells_per_lot, seed=args.seed)
        fleet = CellFleet.simulate(cfg)
        results["fleet"] = {
            "cells": len(fleet.cell_ids),
            "lots": cfg.n_batches,
            "simulate_s": time.perf_counter() - t0,
            "life_cycles": {
                q: float(np.percentile(fleet.life, p)) for q, p in (("p10", 10), ("median", 50), ("p90", 90))
            },
        }
        lake = Lake(tmp / "fleet-lake")
        t0 = time.perf_counter()
        rows = write_fleet(fleet, lake, detail_cycles=args.cycles)
        results["fleet"].update(samples=rows, lake_write_samples_per_s=rows / (time.perf_counter() - t0))
        print(f"fleet: {len(fleet.cell_ids)} cells, {rows} samples in the lake", flush=True)

        life = _life(fleet, lake, seed=args.seed, n_cycles=args.cycles)
        held = life["held_out"]
        results["life"] = {**life["report"], "held_out": held, "skipped_cells": life["skipped"]}
        results["life_rmse_cycles"] = held["model"]["rmse_cycles"]
        results["life_mape"] = held["model"]["mape"]
        results["life_baseline_mean_mape"] = held["baseline_mean_life"]["mape"]
        results["life_baseline_fade_mape"] = held["baseline_fade_extrapolation"]["mape"]
        print(f"life: held-out MAPE {results['life_mape']:.3f}, RMSE {results['life_rmse_cycles']:.0f}", flush=True)
        from models.cells.plots import predicted_vs_observed

        (RESULTS_DIR / "cells-life.png").write_bytes(
            predicted_vs_observed(life["per_cell"], title=f"Held-out simulated cells (seed {args.seed})")
        )

        results["drivers"] = _drivers(fleet, life["cs"], seed=args.seed)
        results["true_driver_rank"] = results["drivers"]["fade_rate"]["true_driver_rank"]
        print(f"drivers: {json.dumps({k: v['true_driver_rank'] for k, v in results['drivers'].items()})}", flush=True)

        stack = LocalStack(ROOT / ".local", args.stack)
        stack.up()
        admin_url = stack.admin_url()
        name = f"bench_cells_{secrets.token_hex(3)}"
        admin.ensure_database(admin_url, name)
        url = admin_url.rsplit("/", 1)[0] + "/" + name
        try:
            migrate.apply(url)
            rates = _rates(fleet, url, Lake(tmp / "db-lake"), cells=args.pg_cells, repeat=args.repeat)
            results["rates"] = rates
            results["lake_vs_postgres_ratio"] = rates["lake_vs_postgres_ratio"]
            results["lake_samples_per_s"] = rates["duckdb_samples_per_s"]
            results["postgres_samples_per_s"] = rates["postgres_samples_per_s"]
            print(f"rates: {json.dumps({k: round(v, 2) for k, v in rates.items()})}", flush=True)
            results["real_file_smoke"] = _smoke(url, life["model"].to_state())
        finally:
            admin.drop_database(admin_url, name)

        if args.scale_cells:
            big = CellFleet.simulate(
                FleetConfig(
                    n_batches=max(1, args.scale_cells // 10),
                    cells_per_lot=10,
                    seed=args.seed + 1,
                    max_cycles=args.scale_cycles,
                )
            )
            blake = Lake(tmp / "scale-lake")
            t0 = time.perf_counter()
            n = write_fleet(
                big,
                blake,
                last_cycle=args.scale_cycles,
                detail_cycles=args.scale_detail_cycles,
                cells_per_block=25,
            )
            write_s = time.perf_counter() - t0
            duck_s, _ = _best(lambda: jobs.duckdb_job(blake, max_cycle=100), 1)
            dask_s, _ = _best(lambda: jobs.dask_job(blake, max_cycle=100), 1)
            results["scale"] = {
                "cells": len(big.cell_ids),
                "cycles": args.scale_cycles,
                "detail_cycles": args.scale_detail_cycles,
                "samples": n,
                "files": len(blake.files("cycler_samples")),
                "write_samples_per_s": n / write_s,
                "duckdb_samples_per_s": n / duck_s,
                "dask_samples_per_s": n / dask_s,
            }
            print(f"scale: {json.dumps(results['scale'])}", flush=True)

        imp = RESULTS_DIR / "cells_import.json"
        if imp.exists():
            results["import_samples_per_s"] = json.loads(imp.read_text()).get("import_samples_per_s")
            results["import_source"] = "bench/results/cells_import.json (bench/cells_import.py)"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    path = write_results("cells", results)
    mapes = (results["life_mape"], results["life_baseline_mean_mape"], results["life_baseline_fade_mape"])
    rows_md = [
        ["held-out life MAPE (model / mean life / fade extrapolation)", " / ".join(f"{m:.3f}" for m in mapes)],
        ["held-out life RMSE (cycles)", f"{results['life_rmse_cycles']:.0f}"],
        ["feature set (chosen by CV on training cells)", results["life"]["feature_set"]],
        ["true_driver_rank (fade rate / life / initial capacity)",
         " / ".join(str(results["drivers"][o]["true_driver_rank"]) for o in ("fade_rate", "life", "initial_capacity"))],
        ["feature job samples/s: DuckDB lake / PostgreSQL / Dask",
         f"{results['rates']['duckdb_samples_per_s']:.0f} / {results['rates']['postgres_samples_per_s']:.0f} /"
         f" {results['rates']['dask_samples_per_s']:.0f}"],
        ["lake_vs_postgres_ratio", f"{results['lake_vs_postgres_ratio']:.1f}"],
    ]  # fmt: skip
    update_results_md(
        "cells",
        "## Cell life and process drivers (`.venv/bin/python bench/cells.py`)\n\n"
        + markdown_table(["measure", "value"], rows_md)
        + "\n\nSee the section *Cell analytics: how the figures are made* below for the generator and the split.",
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
