"""Cell analytics: ``kipsense cell-life``, ``cell-drivers``, ``cell-plot``, ``cell-fleet`` and ``lake``.

cell-life train --name NAME          fit a cycle-life model on cells with an observed life (held-out share kept)
cell-life evaluate MODEL --cells ..  errors on cells the model was not trained on, beside the naive baselines
cell-life predict CELL... | --all    predicted end of life with a 90 % interval; early failures raise alerts
cell-drivers [--outcome O]           which process conditions of the batches behind the cells drive outcome O
cell-plot fade|qv|dqdv CELL...       PNG pictures of cells (``--out FILE``)
cell-fleet load                      a simulated fleet (batches, lots, cells, samples, truth) into the store
lake export | rebuild | status       the Parquet lake, derived from the database (``KIPSENSE_LAKE_ROOT``)
lake features --engine duckdb|dask   the cell feature job on the lake (``--scheduler`` for a Dask cluster)
lake fleet                           a simulated fleet straight into the lake (for benchmarks at scale)

``--json`` prints machine-readable output.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def _csv(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _fail(message: str) -> int:
    sys.stderr.write(f"kipsense: {message}\n")
    return 1


def _connect() -> Any:
    from kipsense.settings import DatabaseSettings
    from store.db import connect

    return connect(DatabaseSettings().database_url)


def _lake(args: argparse.Namespace) -> Any:
    from kipsense.settings import LakeSettings
    from lake.layout import Lake

    settings = LakeSettings()
    return Lake(args.root or settings.root), settings


def _cell_ids(conn: Any, args: argparse.Namespace) -> list[str] | None:
    from store import cells as store_cells

    ids = [c for group in (args.cells or []) for c in group]
    if getattr(args, "lot", None):
        ids += [c.cell_id for c in store_cells.list_cells(conn, lot_id=args.lot, limit=1_000_000)]
    return ids or None


def _tables(args: argparse.Namespace, max_cycle: int) -> Any:
    """The feature job's tables from the lake when ``--lake`` is given (else None: the database runs it)."""
    if not getattr(args, "lake", False):
        return None
    from lake import jobs

    lk, _ = _lake(args)
    return jobs.run(lk, engine=args.engine, max_cycle=max_cycle)


# -- cell-life -----------------------------------------------------------------------------------------------
def cmd_life(args: argparse.Namespace) -> int:
    from models.cells.features import FeatureError

    with _connect() as conn:
        try:
            if args.action == "train":
                return _train(conn, args)
            if args.action == "evaluate":
                return _evaluate(conn, args)
            return _predict(conn, args)
        except (FeatureError, ValueError) as exc:
            return _fail(str(exc))


def _train(conn: Any, args: argparse.Namespace) -> int:
    from models.cells import service

    if not args.name:
        return _fail("cell-life train needs --name")
    tables = _tables(args, args.cycles)
    cs = service.load_cells(conn, cell_ids=_cell_ids(conn, args), max_cycle=args.cycles, tables=tables)
    model, report = service.train_and_evaluate(
        cs,
        feature_set=args.features,
        n_cycles=args.cycles,
        ref_cycle=args.ref_cycle,
        test_share=args.test_share,
        seed=args.seed,
    )
    record = service.register_model(conn, model, report, name=args.name, created_by=args.by)
    conn.commit()
    held = report["held_out"]
    if args.plot and held.get("per_cell"):
        from models.cells.plots import predicted_vs_observed

        args.plot.write_bytes(predicted_vs_observed(held["per_cell"], title=f"{record.name}@{record.version}"))
    if args.json:
        _out(json.dumps({"model_id": record.model_id, "name": record.name, "version": record.version, **report}))
        return 0
    _out(
        f"model {record.model_id}: {record.name}@{record.version} ({report['feature_set']} features) on"
        f" {len(report['train_cells'])} cells; CV MAPE {model.cv['mape']:.3f}, RMSE {model.cv['rmse_cycles']:.0f}"
    )
    if held.get("cells"):
        for key in ("model", "baseline_mean_life", "baseline_fade_extrapolation"):
            _out(f"  held-out {key:28} RMSE {held[key]['rmse_cycles']:8.0f} cycles   MAPE {held[key]['mape']:.3f}")
        _out(f"  90 % interval covers {held['interval_coverage']:.0%} of {held['cells']} held-out cells")
    if report["skipped"]:
        _out(f"  {len(report['skipped'])} cells skipped (no observed life yet, or too few cycles)")
    return 0


def _evaluate(conn: Any, args: argparse.Namespace) -> int:
    from models.cells import life as lifemod
    from models.cells import service
    from store import models as store_models

    record = service.latest_model(conn, args.cells_or_model[0] if args.cells_or_model else None)
    if record is None:
        return _fail("no cell-life model")
    model = service.load_model(record)
    ids = _cell_ids(conn, args)
    cs = service.load_cells(conn, cell_ids=ids, max_cycle=model.n_cycles, tables=_tables(args, model.n_cycles))
    trained = set(record.devices)
    pool = {c: v for c, v in cs.cells.items() if c not in trained}
    data = lifemod.dataset(
        pool, names=model.features, nominal_ah=cs.nominal, n_cycles=model.n_cycles, ref_cycle=model.ref_cycle
    )
    result = lifemod.evaluate(model, data, cs.cells, cs.nominal)
    summary = {k: v for k, v in result.items() if k != "per_cell"}
    store_models.set_metrics(conn, model_id=record.model_id, metrics={**record.metrics, "evaluation": summary})
    conn.commit()
    if args.plot:
        from models.cells.plots import predicted_vs_observed

        args.plot.write_bytes(predicted_vs_observed(result["per_cell"], title=f"{record.name}@{record.version}"))
    if args.json:
        _out(json.dumps({**result, "skipped": data.skipped}))
        return 0
    _out(f"{record.name}@{record.version} on {result['cells']} cells it was not trained on:")
    for key in ("model", "baseline_mean_life", "baseline_fade_extrapolation"):
        _out(f"  {key:28} RMSE {result[key]['rmse_cycles']:8.0f} cycles   MAPE {result[key]['mape']:.3f}")
    return 0


def _predict(conn: Any, args: argparse.Namespace) -> int:
    if args.every is None:
        return _predict_once(conn, args)
    import signal
    import threading

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.is_set():  # predictions move as cycles arrive; each pass stores them and alerts early ones
        code = _predict_once(conn, args)
        if code != 0:
            return code
        stop.wait(args.every)
    return 0


def _predict_once(conn: Any, args: argparse.Namespace) -> int:
    from models.cells import service
    from store import cells as store_cells

    record = service.latest_model(conn, args.model)
    if record is None:
        return _fail("no cell-life model (train one with kipsense cell-life train)")
    model = service.load_model(record)
    ids = list(args.cells_or_model) + [c for g in (args.cells or []) for c in g]
    if args.all or not ids:
        ids = [c.cell_id for c in store_cells.list_cells(conn, limit=1_000_000)]
    cs = service.load_cells(conn, cell_ids=ids, max_cycle=model.n_cycles)
    results = [
        service.predict_cell(conn, record, cid, early_fraction=args.early_fraction, save=not args.no_save, cs=cs)
        for cid in ids
    ]
    conn.commit()
    if args.json:
        _out(json.dumps(results))
        return 0
    for r in results:
        if r["status"] in ("predicted", "ended"):
            flag = "  EARLY" if r["early"] else ""
            obs = f", observed {r['observed_life']}" if r["observed_life"] else ""
            _out(
                f"{r['cell_id']:16} {r['predicted_life']:7.0f} cycles (90 %: {r['lower']:.0f}-{r['upper']:.0f}),"
                f" {r['cycles_seen']} seen{obs}{flag}"
            )
        else:
            _out(f"{r['cell_id']:16} {r['status']}: {r['detail']}")
    return 0


# -- cell-drivers ----------------------------------------------------------------------------------------------
def cmd_drivers(args: argparse.Namespace) -> int:
    from models.cells import drivers, service
    from models.cells.features import FeatureError

    outcomes = drivers.OUTCOMES if args.outcome == "all" else (args.outcome,)
    with _connect() as conn:
        try:
            cs = service.load_cells(conn, cell_ids=_cell_ids(conn, args), max_cycle=0)
            ids, names, x, groups = service.driver_inputs(conn, cs)
        except FeatureError as exc:
            return _fail(str(exc))
    if not ids:
        return _fail("no cells with a lot made from registered process batches with tag data")
    ys = service.cell_outcomes(cs, ids)
    out = []
    for outcome in outcomes:
        try:
            a = drivers.analyse(x, ys[outcome], groups, names, outcome=outcome, model=args.model, seed=args.seed)
        except ValueError as exc:
            return _fail(str(exc))
        out.append(a.to_json(top=args.top))
        if args.plot:
            from models.cells.plots import drivers as plot

            args.plot.mkdir(parents=True, exist_ok=True)
            (args.plot / f"drivers-{outcome}.png").write_bytes(plot(a))
    if args.json:
        _out(json.dumps(out))
        return 0
    for res in out:
        _out(f"{res['outcome']}: {res['cells']} cells of {res['lots']} lots, cross-validated R² {res['cv_r2']:.2f}")
        for i, t in enumerate(res["tags"]):
            _out(f"  {i + 1:2}. {t['tag']:22} {t['importance']:.3f}")
    return 0


# -- cell-plot ---------------------------------------------------------------------------------------------------
def cmd_plot(args: argparse.Namespace) -> int:
    from models.cells import plots, service
    from models.cells.features import FeatureError

    cycles = [int(c) for c in args.cycles] if args.cycles else None
    with _connect() as conn:
        try:
            ids = args.cells or None
            cs = service.load_cells(conn, cell_ids=ids, max_cycle=max(cycles or [100]))
        except FeatureError as exc:
            return _fail(str(exc))
    if not cs.cells:
        return _fail("no cycles for the cells asked")
    try:
        if args.kind == "fade":
            png = plots.capacity_fade(cs.cells, cs.lots, nominal_ah=next(iter(cs.nominal.values()), None))
        else:
            cell = cs.cells[sorted(cs.cells)[0]]
            png = (plots.qv_curves if args.kind == "qv" else plots.dqdv)(cell, cycles=cycles)
    except ValueError as exc:
        return _fail(str(exc))
    args.out.write_bytes(png)
    _out(f"wrote {args.out}")
    return 0


# -- cell-fleet ----------------------------------------------------------------------------------------------------
def cmd_fleet(args: argparse.Namespace) -> int:
    from simulators.cells_fleet import CellFleet, FleetConfig
    from simulators.cells_fleet_store import load

    fleet = CellFleet.simulate(FleetConfig(n_batches=args.batches, cells_per_lot=args.cells_per_lot, seed=args.seed))
    with _connect() as conn:
        counts = load(conn, fleet, site_id=args.site, detail_cycles=args.detail_cycles)
        conn.commit()
    if args.truth:
        args.truth.write_text(json.dumps(fleet.truth(), indent=1))
    _out(json.dumps(counts) if args.json else ", ".join(f"{v} {k}" for k, v in counts.items()))
    return 0


# -- lake -------------------------------------------------------------------------------------------------------------
def cmd_lake(args: argparse.Namespace) -> int:
    lk, settings = _lake(args)
    if args.action in ("export", "rebuild"):
        from lake import export

        with _connect() as conn:
            run = export.rebuild if args.action == "rebuild" else export.export
            results = run(conn, lk, lag_s=settings.lag_s if args.lag_s is None else args.lag_s)
        for r in results:
            _out(f"{r.table}: {r.rows} rows" + (f" up to {r.until.isoformat()}" if r.until else ""))
        return 0
    if args.action == "status":
        state = lk.state()
        info = {k: {"rows": lk.rows(k), "files": len(lk.files(k))} for k in ("cycler_samples", "process_values")}
        _out(json.dumps({"root": str(lk.root), **state, "tables": info}, indent=1, default=str))
        return 0
    if args.action == "fleet":
        from lake.fleet import write_fleet
        from simulators.cells_fleet import CellFleet, FleetConfig

        fleet = CellFleet.simulate(
            FleetConfig(n_batches=args.batches, cells_per_lot=args.cells_per_lot, seed=args.seed)
        )
        rows = write_fleet(fleet, lk, last_cycle=args.last_cycle, detail_cycles=args.detail_cycles)
        _out(f"{rows} samples of {len(fleet.cell_ids)} cells in {lk.root}")
        return 0
    from lake import jobs

    try:
        tables = jobs.run(lk, engine=args.engine, max_cycle=args.max_cycle, **(
            {"scheduler": args.scheduler} if args.engine == "dask" else {}))  # fmt: skip
    except jobs.LakeError as exc:
        return _fail(str(exc))
    if args.out:
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        args.out.mkdir(parents=True, exist_ok=True)
        for name, table in tables.items():
            pq.write_table(table, args.out / f"{name}.parquet")
    _out(f"cycles: {tables['cycles'].num_rows} rows, qv: {tables['qv'].num_rows} rows ({args.engine})")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fmt = argparse.RawDescriptionHelpFormatter

    def cells(q: argparse.ArgumentParser) -> None:
        q.add_argument("--cells", type=_csv, action="append", help="comma-separated cell ids (repeatable)")
        q.add_argument("--lot", help="the cells of this material lot")

    def lake_source(q: argparse.ArgumentParser) -> None:
        q.add_argument("--lake", action="store_true", help="run the feature job on the lake instead of the database")
        q.add_argument("--engine", choices=["duckdb", "dask"], default="duckdb")
        q.add_argument("--root", type=Path, help="lake root (default KIPSENSE_LAKE_ROOT or .local/lake)")

    p = sub.add_parser("cell-life", help="cycle-life models: train, evaluate, predict", description=__doc__,
                       formatter_class=fmt)  # fmt: skip
    p.add_argument("action", choices=["train", "evaluate", "predict"])
    p.add_argument("cells_or_model", nargs="*", help="evaluate: the model; predict: cell ids")
    cells(p)
    lake_source(p)
    p.add_argument("--name", help="train: model name (a new version per run)")
    p.add_argument("--features", default="auto", choices=["auto", "variance", "discharge", "full"])
    p.add_argument("--cycles", type=int, default=100, help="train: predict from the first N cycles")
    p.add_argument("--ref-cycle", type=int, default=10, help="train: ΔQ(V) = Q_N(V) - Q_ref(V)")
    p.add_argument("--test-share", type=float, default=0.3, help="train: share of cells held out for evaluation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--by", default="cli")
    p.add_argument("--model", help="predict: model id, name or name@version (default: the newest cell-life model)")
    p.add_argument("--all", action="store_true", help="predict: every registered cell")
    p.add_argument("--early-fraction", type=float, default=0.8, help="alert below this share of the mean life")
    p.add_argument("--no-save", action="store_true", help="predict: neither store predictions nor raise alerts")
    p.add_argument("--every", type=float, help="predict: run again every this many seconds until stopped")
    p.add_argument("--plot", type=Path, help="train/evaluate: PNG of predicted vs observed life")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_life)

    p = sub.add_parser("cell-drivers", help="process conditions behind poor cells", description=__doc__,
                       formatter_class=fmt)  # fmt: skip
    cells(p)
    p.add_argument("--outcome", default="all", choices=["all", "initial_capacity", "fade_rate", "life"])
    p.add_argument("--model", default="forest", choices=["forest", "linear"])
    p.add_argument("--top", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", type=Path, help="directory for drivers-<outcome>.png")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_drivers)

    p = sub.add_parser("cell-plot", help="PNG pictures of cells", description=__doc__, formatter_class=fmt)
    p.add_argument("kind", choices=["fade", "qv", "dqdv"])
    p.add_argument("cells", nargs="*", help="cells (fade: default all; qv/dqdv: the first is drawn)")
    p.add_argument("--cycles", type=_csv, help="qv/dqdv: cycles to draw, e.g. 2,10,100")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("cell-fleet", help="load a simulated cell fleet into the store", description=__doc__,
                       formatter_class=fmt)  # fmt: skip
    p.add_argument("action", choices=["load"])
    p.add_argument("--batches", type=int, default=12)
    p.add_argument("--cells-per-lot", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--site", default="park")
    p.add_argument("--detail-cycles", type=int, default=100, help="cycles logged in full; later ones sparsely")
    p.add_argument("--truth", type=Path, help="write the ground truth JSON here")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_fleet)

    p = sub.add_parser("lake", help="the Parquet analytics lake", description=__doc__, formatter_class=fmt)
    p.add_argument("action", choices=["export", "rebuild", "status", "features", "fleet"])
    p.add_argument("--root", type=Path, help="lake root (default KIPSENSE_LAKE_ROOT or .local/lake)")
    p.add_argument("--lag-s", type=float, help="export: leave rows younger than this (default KIPSENSE_LAKE_LAG_S)")
    p.add_argument("--engine", choices=["duckdb", "dask"], default="duckdb")
    p.add_argument("--scheduler", help="features: address of a dask.distributed scheduler (default: local threads)")
    p.add_argument("--max-cycle", type=int, default=100, help="features: Q(V) of cycles up to this one")
    p.add_argument("--out", type=Path, help="features: write cycles.parquet and qv.parquet here")
    p.add_argument("--batches", type=int, default=100)
    p.add_argument("--cells-per-lot", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--last-cycle", type=int, help="fleet: cycles per cell (default: to end of life)")
    p.add_argument("--detail-cycles", type=int, default=100, help="fleet: cycles logged in full, later ones sparsely")
    p.set_defaults(func=cmd_lake)
