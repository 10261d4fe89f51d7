"""Cell analytics over the store: train and evaluate life models, predict a cell's life (and alert), drivers.

Every entry point takes an open connection and reads through the store; the feature job runs on the
database (``store.cell_features.run_job``) unless the caller passes the job's tables from the lake.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]

from models.artifacts import library_versions
from models.cells import drivers as drv
from models.cells import life as lifemod
from models.cells.features import FEATURE_SETS, CellCycles, FeatureError, early_features, observed_life, split_cells
from store import alerts as store_alerts
from store import cell_features as store_cf
from store import cells as store_cells
from store import models as store_models
from store.models import ModelRecord

Conn = Any
ALERT_TYPE: Final = "cell_life"


@dataclass(frozen=True, slots=True)
class CellSet:
    """Cells read from the store: their cycles, nominal capacities and lots."""

    cells: dict[str, CellCycles]
    nominal: dict[str, float]
    lots: dict[str, str | None]


def load_cells(
    conn: Conn,
    *,
    cell_ids: Sequence[str] | None = None,
    max_cycle: int = 100,
    tables: dict[str, pa.Table] | None = None,
) -> CellSet:
    """Cells (all registered ones by default) from the feature job's tables (run on the database if not given)."""
    registry = {c.cell_id: c for c in store_cells.list_cells(conn, limit=1_000_000)}
    ids = list(cell_ids) if cell_ids is not None else sorted(registry)
    unknown = [c for c in ids if c not in registry]
    if unknown:
        raise FeatureError(f"unknown cells: {', '.join(unknown[:5])}")
    if tables is None:
        tables = store_cf.run_job(conn, cell_ids=ids, max_cycle=max_cycle)
    cells = {k: v for k, v in split_cells(tables["cycles"], tables["qv"]).items() if k in set(ids)}
    nominal: dict[str, float] = {}
    for cid in cells:
        nom = registry[cid].nominal_capacity_ah
        if nom is None:  # no nominal on record: the cell's first full cycle stands in for it
            q = cells[cid].discharge_capacity
            nom = float(q[np.isfinite(q)][min(1, int(np.isfinite(q).sum()) - 1)]) if np.isfinite(q).any() else None
        if nom:
            nominal[cid] = float(nom)
    return CellSet(cells, nominal, {c: registry[c].lot_id for c in cells})


def _fingerprint(ids: list[str], x: np.ndarray, y: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(ids).encode())
    h.update(np.ascontiguousarray(x, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(y, dtype=np.float64).tobytes())
    return "sha256:" + h.hexdigest()


def train_and_evaluate(
    cs: CellSet,
    *,
    feature_set: str = "auto",
    n_cycles: int = 100,
    ref_cycle: int = 10,
    eol_fraction: float = 0.8,
    test_share: float = 0.3,
    seed: int = 0,
) -> tuple[lifemod.LifeModel, dict[str, Any]]:
    """Hold out ``test_share`` of the cells (seeded), fit on the rest (feature set chosen by cross-validation
    on the training cells when ``auto``), and evaluate on the held-out cells beside the baselines."""
    train_ids, test_ids = lifemod.split_cells(list(cs.cells), test_share=test_share, seed=seed)
    sets = tuple(FEATURE_SETS) if feature_set == "auto" else (feature_set,)
    fitted: list[tuple[float, lifemod.LifeModel, lifemod.Dataset]] = []
    for fs in sets:
        names = lifemod.feature_names(fs)
        data = lifemod.dataset(
            {c: cs.cells[c] for c in train_ids},
            names=names,
            nominal_ah=cs.nominal,
            n_cycles=n_cycles,
            ref_cycle=ref_cycle,
            eol_fraction=eol_fraction,
        )
        m = lifemod.fit(data.x, data.life, features=names, n_cycles=n_cycles, ref_cycle=ref_cycle, seed=seed)
        fitted.append((m.cv["mape"], m, data))
    _, model, train_data = min(fitted, key=lambda t: t[0])
    test = lifemod.dataset(
        {c: cs.cells[c] for c in test_ids},
        names=model.features,
        nominal_ah=cs.nominal,
        n_cycles=n_cycles,
        ref_cycle=ref_cycle,
        eol_fraction=eol_fraction,
    )
    report: dict[str, Any] = {
        "feature_set": next(k for k, v in FEATURE_SETS.items() if v == model.features),
        "features": list(model.features),
        "n_cycles": n_cycles,
        "ref_cycle": ref_cycle,
        "train_cells": train_data.cell_ids,
        "cv": model.cv,
        "cv_by_feature_set": {next(k for k, v in FEATURE_SETS.items() if v == m.features): m.cv for _, m, _ in fitted},
        "skipped": {**train_data.skipped, **test.skipped},
        "fingerprint": _fingerprint(train_data.cell_ids, train_data.x, train_data.life),
    }
    report["held_out"] = lifemod.evaluate(model, test, cs.cells, cs.nominal) if test.cell_ids else {"cells": 0}
    return model, report


def register_model(
    conn: Conn, model: lifemod.LifeModel, report: dict[str, Any], *, name: str, created_by: str = "cli"
) -> ModelRecord:
    """Save a life model in the model registry (JSON state), with its evaluation as the model's metrics."""
    tests = [t for c in report["train_cells"] for t in store_cells.list_tests(conn, cell_id=c)]
    start = min((t.start_time for t in tests), default=datetime.now(UTC))
    end = max((t.end_time or t.start_time for t in tests), default=start)
    end = max(end, start + timedelta(seconds=1))  # the registry wants a window, a single instant is none
    state = model.to_state()
    json.dumps(state, allow_nan=False)
    record = store_models.register(
        conn,
        name=name,
        detector=lifemod.DETECTOR,
        kind="cycler",
        params={"feature_set": report["feature_set"], "n_cycles": model.n_cycles, "ref_cycle": model.ref_cycle},
        columns=list(model.features),
        devices=report["train_cells"],
        train_start=start,
        train_end=end,
        n_samples=len(report["train_cells"]),
        fingerprint=report["fingerprint"],
        versions=library_versions(),
        state=state,
        created_by=created_by,
    )
    metrics = {k: report[k] for k in ("cv", "cv_by_feature_set", "feature_set")}
    held = report.get("held_out", {})
    metrics["held_out"] = {k: v for k, v in held.items() if k != "per_cell"}
    store_models.set_metrics(conn, model_id=record.model_id, metrics=metrics)
    return record


def load_model(record: ModelRecord) -> lifemod.LifeModel:
    if record.detector != lifemod.DETECTOR:
        raise ValueError(f"model {record.model_id} is a {record.detector!r} model, not a cell-life model")
    return lifemod.LifeModel.from_state(record.state)


def latest_model(conn: Conn, ref: str | None = None) -> ModelRecord | None:
    """A life model by reference (id, name, name@version), else the newest one.

    Life models are never *active* in the registry's sense: that flag hands a model to the streaming scorer,
    which runs detectors on readings; a life model runs on a cell's cycles when asked.
    """
    if ref is not None:
        return store_models.find(conn, ref=ref)
    models = [m for m in store_models.list_models(conn, kind="cycler") if m.detector == lifemod.DETECTOR]
    return models[0] if models else None


def predict_cell(
    conn: Conn,
    record: ModelRecord,
    cell_id: str,
    *,
    early_fraction: float = 0.8,
    save: bool = True,
    cs: CellSet | None = None,
) -> dict[str, Any]:
    """The cell's predicted end of life (with a 90 % interval) from the model's first N cycles.

    ``status`` is ``waiting`` (fewer than N cycles yet), ``predicted``, or ``ended`` (the cell has crossed the
    end-of-life line: its observed life is given beside the prediction). While the cell runs on past the
    predicted life, the prediction and its lower bound are raised to the cycles it has survived. With
    ``save`` the prediction is stored, and a cell predicted to fail before ``early_fraction`` of the
    training cells' mean life raises an alert on its channel (once per cell, model and N).
    """
    model = load_model(record)
    cs = cs or load_cells(conn, cell_ids=[cell_id], max_cycle=model.n_cycles)
    cell = cs.cells.get(cell_id)
    out: dict[str, Any] = {"cell_id": cell_id, "model": f"{record.name}@{record.version}", "n_cycles": model.n_cycles}
    seen = int(cell.cycle_index.max()) if cell is not None and cell.cycle_index.size else 0
    out["cycles_seen"] = seen
    if cell is None or seen < model.n_cycles:
        return {**out, "status": "waiting", "detail": f"a prediction needs the first {model.n_cycles} cycles"}
    try:
        f = early_features(cell, n_cycles=model.n_cycles, ref_cycle=model.ref_cycle)
    except FeatureError as exc:
        return {**out, "status": "unavailable", "detail": str(exc)}
    x = np.array([[f[n] for n in model.features]])
    if not np.all(np.isfinite(x)):
        return {**out, "status": "unavailable", "detail": "a feature of the model is undefined for this cell"}
    pred = float(model.predict(x)[0])
    lo, hi = (float(v[0]) for v in model.interval(x))
    observed = observed_life(cell, nominal_ah=cs.nominal.get(cell_id, np.nan), eol_fraction=model.eol_fraction)
    if observed is None:  # it has survived `seen` cycles: the life is longer than that
        pred, lo, hi = max(pred, seen + 1.0), max(lo, seen + 1.0), max(hi, seen + 1.0)
    threshold = early_fraction * model.train_mean_life
    early = pred < threshold
    out.update(
        status="ended" if observed is not None else "predicted",
        predicted_life=pred,
        lower=lo,
        upper=hi,
        interval=0.9,
        observed_life=observed,
        early=early,
        early_threshold=threshold,
        features={k: f[k] for k in model.features},
    )
    if save:
        # one alert per cell and model: only the first early prediction raises it (replays raise nothing)
        already = any(p.early for p in store_cf.predictions(conn, cell_id=cell_id, model_id=record.model_id))
        store_cf.save_prediction(
            conn,
            cell_id=cell_id,
            model_id=record.model_id,
            n_cycles=seen,
            predicted_life=pred,
            lower=lo,
            upper=hi,
            early=early,
            features=out["features"],
        )
        channel = store_cf.cell_channel(conn, cell_id=cell_id)
        if early and observed is None and channel is not None and not already:
            store_alerts.raise_alert(
                conn,
                device_id=channel[0],
                site_id=channel[1],
                type=f"{ALERT_TYPE}:{cell_id}",
                severity=record.severity,
                value=pred,
                threshold=threshold,
                at=datetime.now(UTC),
                details={
                    "cell_id": cell_id,
                    "model": out["model"],
                    "predicted_life": pred,
                    "interval": [lo, hi],
                    "cycles_seen": seen,
                },
            )
            out["alert"] = True
    return out


# -- process drivers ---------------------------------------------------------------------------------------
def driver_inputs(conn: Conn, cs: CellSet) -> tuple[list[str], list[str], np.ndarray, list[str]]:
    """The cell × process-feature matrix of the cells' lots' batches, read from the store."""
    lots = {lot for lot in cs.lots.values() if lot is not None}
    lot_batches = {}
    for lot in lots:
        rec = store_cells.get_lot(conn, lot_id=lot)
        if rec is not None:
            lot_batches[lot] = rec.batch_ids
    batch_ids = sorted({b for bs in lot_batches.values() for b in bs})
    values = {b: {t: v for t, (_, v) in store_cf.batch_values(conn, batch_id=b).items()} for b in batch_ids}
    alarms = store_cf.batch_alert_counts(conn, batch_ids=batch_ids)
    return drv.cell_matrix(values, lot_batches, cs.lots, alarms=alarms)


def cell_outcomes(cs: CellSet, cell_ids: Sequence[str], *, eol_fraction: float = 0.8) -> dict[str, np.ndarray]:
    """Each outcome of :data:`models.cells.drivers.OUTCOMES` per cell (NaN where unknown)."""
    rows = [
        drv.outcomes(
            cs.cells[c].discharge_capacity,
            cs.cells[c].cycle_index,
            nominal_ah=cs.nominal.get(c, np.nan),
            eol_fraction=eol_fraction,
        )
        if c in cs.cells
        else dict.fromkeys(drv.OUTCOMES, np.nan)
        for c in cell_ids
    ]
    return {o: np.array([r[o] for r in rows], dtype=np.float64) for o in drv.OUTCOMES}
