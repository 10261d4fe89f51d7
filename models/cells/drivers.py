"""Process → cell analysis: which conditions of the batches behind a cell's material make poor cells.

For every batch and tag: the deviation of the batch mean from the line's normal level, the spread against
the normal spread, the share of the batch spent out of band (|z| > 3) and the largest deviation — all in
units of the line's robust normal spread (median and MAD over every batch analysed, so excursions do not
widen the band they are judged against) — plus the alarms the process monitor raised during the batch. A
cell takes the mean over the batches of its lot.

A random forest relates these features to one cell outcome (initial capacity, fade rate or life), at the
level of the lot: a lot's cells share its process features, so the lot is the unit of evidence and its
outcome is the mean of its cells. Importance is permutation importance on held-out lots (k-fold), which
measures what the outcome loses when a feature is scrambled, and does not favour features with many
distinct values as impurity importance does. Tags are
ranked by their most important feature; partial dependence of the outcome on the top features shows the
direction and shape of the effect.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

OUTCOMES: Final = ("initial_capacity", "fade_rate", "life")
STATS: Final = ("mean_dev", "sd_ratio", "out_of_band", "max_abs_dev")
_BAND_Z: Final = 3.0


def baseline(batches: Sequence[Mapping[str, FloatArray]]) -> dict[str, tuple[float, float]]:
    """Per tag (median, robust sd = 1.4826 MAD) over the pooled values of all batches."""
    pooled: dict[str, list[FloatArray]] = {}
    for b in batches:
        for tag, v in b.items():
            pooled.setdefault(tag, []).append(np.asarray(v, dtype=np.float64))
    out = {}
    for tag, parts in pooled.items():
        v = np.concatenate(parts)
        v = v[np.isfinite(v)]
        if v.size < 2:
            continue
        med = float(np.median(v))
        sd = 1.4826 * float(np.median(np.abs(v - med)))
        out[tag] = (med, sd if sd > 0 else float(np.std(v)) or 1.0)
    return out


def batch_features(
    values: Mapping[str, FloatArray], band: Mapping[str, tuple[float, float]], *, alarms: int = 0
) -> dict[str, float]:
    """Features of one batch: ``{tag}:{stat}`` for every tag of the band, and ``alarms``."""
    out: dict[str, float] = {"alarms": float(alarms)}
    for tag, (centre, sd) in band.items():
        v = np.asarray(values.get(tag, np.zeros(0)), dtype=np.float64)
        v = v[np.isfinite(v)]
        if v.size == 0:
            for s in STATS:
                out[f"{tag}:{s}"] = np.nan
            continue
        z = (v - centre) / sd
        out[f"{tag}:mean_dev"] = float(z.mean())
        out[f"{tag}:sd_ratio"] = float(np.std(v) / sd)
        out[f"{tag}:out_of_band"] = float(np.mean(np.abs(z) > _BAND_Z))
        out[f"{tag}:max_abs_dev"] = float(np.abs(z).max())
    return out


def outcomes(
    discharge_capacity: FloatArray, cycle_index: NDArray[np.int64], *, nominal_ah: float, eol_fraction: float = 0.8
) -> dict[str, float]:
    """A cell's initial capacity (Ah, cycle 2 or its first), fade rate (Ah per 100 cycles over its observed
    life, or over all its cycles while it lives) and observed life (NaN while above the end-of-life line)."""
    ok = np.isfinite(discharge_capacity)
    q, n = discharge_capacity[ok], cycle_index[ok]
    if q.size < 3:
        return {"initial_capacity": np.nan, "fade_rate": np.nan, "life": np.nan}
    q0 = float(q[n == 2][0]) if np.any(n == 2) else float(q[0])
    below = np.flatnonzero(q < eol_fraction * nominal_ah)
    life = float(n[below[0]]) if below.size else np.nan
    end = below[0] if below.size else q.size - 1
    span = float(n[end] - n[0])
    fade = 100.0 * (q0 - float(q[end])) / span if span > 0 else np.nan
    return {"initial_capacity": q0, "fade_rate": fade, "life": life}


@dataclass(frozen=True, slots=True)
class DriverAnalysis:
    """Ranked process drivers of one outcome."""

    outcome: str
    n_cells: int
    n_lots: int
    features: list[str]
    importance: FloatArray
    importance_sd: FloatArray
    tag_ranking: list[tuple[str, float]]
    cv_r2: float
    partial_dependence: dict[str, tuple[list[float], list[float]]]

    def rank_of(self, tag: str) -> int | None:
        """1-based rank of a tag (None if it is not among the features)."""
        for i, (name, _) in enumerate(self.tag_ranking):
            if name == tag:
                return i + 1
        return None

    def to_json(self, *, top: int = 10) -> dict[str, Any]:
        order = np.argsort(-self.importance)[:top]
        return {
            "outcome": self.outcome,
            "cells": self.n_cells,
            "lots": self.n_lots,
            "cv_r2": self.cv_r2,
            "tags": [{"tag": t, "importance": v} for t, v in self.tag_ranking[:top]],
            "features": [
                {
                    "feature": self.features[i],
                    "importance": float(self.importance[i]),
                    "sd": float(self.importance_sd[i]),
                }
                for i in order
            ],
            "partial_dependence": {k: {"x": x, "y": y} for k, (x, y) in self.partial_dependence.items()},
        }


MODELS: Final = ("forest", "linear")


def _estimator(model: str, seed: int) -> Any:
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import ElasticNetCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if model == "linear":
        return make_pipeline(StandardScaler(), ElasticNetCV(l1_ratio=[0.5, 0.9, 1.0], cv=3, max_iter=20_000))
    return RandomForestRegressor(n_estimators=300, min_samples_leaf=2, max_features=0.3, random_state=seed)


def _permutation_importance(est: Any, x: FloatArray, y: FloatArray, *, repeats: int, seed: int) -> FloatArray:
    """Mean rise of the squared error when one column is shuffled (scikit-learn's definition with the MSE
    score), with every shuffled copy predicted in one call: a forest's per-call cost is what dominates here."""
    rng = np.random.default_rng(seed)
    n, p = x.shape
    base = float(np.mean((est.predict(x) - y) ** 2))
    stacked = np.repeat(x[None, None, :, :], p, axis=0).repeat(repeats, axis=1)  # (p, repeats, n, p)
    for j in range(p):
        perm = np.argsort(rng.random((repeats, n)), axis=1)
        stacked[j, :, :, j] = x[perm, j]
    pred = est.predict(stacked.reshape(-1, p)).reshape(p, repeats, n)
    out: FloatArray = np.mean((pred - y) ** 2, axis=2).mean(axis=1) - base
    return out


def _tag(feature: str) -> str:
    return feature.split(":", 1)[0]


def analyse(
    x: FloatArray,
    y: FloatArray,
    groups: Sequence[str],
    features: Sequence[str],
    *,
    outcome: str,
    model: str = "forest",
    seed: int = 0,
    folds: int = 5,
    repeats: int = 10,
    pd_top: int = 3,
) -> DriverAnalysis:
    """Rank the features (and tags) that drive ``y`` across cells, lots held out together.

    ``model`` is ``forest`` (random forest: any shape of effect) or ``linear`` (standardised elastic net).
    """
    from sklearn.exceptions import ConvergenceWarning

    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; use one of {MODELS}")

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    g = np.asarray(groups)
    ok = np.isfinite(y)
    x, y, g = x[ok], y[ok], g[ok]
    # A tag a batch did not record leaves a gap: a feature missing for more than a fifth of the cells is
    # dropped, the other gaps take the feature's median (a cell is dropped only for an unknown outcome).
    present = np.isfinite(x)
    usable = present.mean(axis=0) >= 0.8 if x.size else np.zeros(x.shape[1], dtype=bool)
    features = [f for f, u in zip(features, usable, strict=True) if u]
    x = x[:, usable]
    if x.size:
        med = np.nanmedian(np.where(np.isfinite(x), x, np.nan), axis=0)
        x = np.where(np.isfinite(x), x, med)
    n_cells = int(y.size)
    # The cells of a lot share their process features: the lot is the unit of evidence. Its outcome is the
    # mean of its cells (which also averages the cell-to-cell variation out); fitting cells one by one would
    # count each lot as many times as it has cells.
    lots, inverse = np.unique(g, return_inverse=True)
    if lots.size < max(folds, 6):
        raise ValueError(f"need cells from at least {max(folds, 6)} lots with known {outcome}, got {lots.size}")
    y = np.bincount(inverse, weights=y) / np.bincount(inverse)
    first = np.unique(inverse, return_index=True)[1]
    x = x[first]
    keep = np.std(x, axis=0) > 0  # constant features carry nothing
    feats = [f for f, k in zip(features, keep, strict=True) if k]
    x = x[:, keep]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the linear model's weakest penalties; CV drops them
        return _analyse(x, y, feats, lots, n_cells, outcome=outcome, model=model, seed=seed, folds=folds,
                        repeats=repeats, pd_top=pd_top)  # fmt: skip


def _analyse(
    x: FloatArray,
    y: FloatArray,
    feats: list[str],
    lots: NDArray[Any],
    n_cells: int,
    *,
    outcome: str,
    model: str,
    seed: int,
    folds: int,
    repeats: int,
    pd_top: int,
) -> DriverAnalysis:
    from sklearn.inspection import partial_dependence
    from sklearn.model_selection import KFold

    imps = []
    pred = np.empty_like(y)
    for k, (tr, te) in enumerate(KFold(n_splits=folds, shuffle=True, random_state=seed).split(x)):
        est = _estimator(model, seed + k).fit(x[tr], y[tr])
        pred[te] = est.predict(x[te])
        imps.append(_permutation_importance(est, x[te], y[te], repeats=repeats, seed=seed + k))
    var = float(np.var(y)) or 1.0  # importance as the share of the outcome's variance lost
    imp = np.mean(imps, axis=0) / var
    imp_sd = np.std(imps, axis=0) / var
    ss = float(np.sum((y - y.mean()) ** 2))
    cv_r2 = 1.0 - float(np.sum((y - pred) ** 2)) / ss if ss > 0 else 0.0
    by_tag: dict[str, float] = {}
    for f, v in zip(feats, imp, strict=True):
        by_tag[_tag(f)] = max(by_tag.get(_tag(f), -np.inf), float(v))
    ranking = sorted(by_tag.items(), key=lambda kv: -kv[1])
    full = _estimator(model, seed).fit(x, y)
    pdp: dict[str, tuple[list[float], list[float]]] = {}
    for i in np.argsort(-imp)[:pd_top]:
        res = partial_dependence(full, x, [int(i)], grid_resolution=20)
        pdp[feats[int(i)]] = (res["grid_values"][0].tolist(), res["average"][0].tolist())
    return DriverAnalysis(outcome, n_cells, int(lots.size), feats, imp, imp_sd, ranking, cv_r2, pdp)


def cell_matrix(
    batch_values: Mapping[str, Mapping[str, FloatArray]],
    lot_batches: Mapping[str, Sequence[str]],
    cell_lot: Mapping[str, str | None],
    *,
    alarms: Mapping[str, int] | None = None,
) -> tuple[list[str], list[str], FloatArray, list[str]]:
    """(cell ids, feature names, rows, lot of each row) for cells whose lot has batches with tag data."""
    band = baseline(list(batch_values.values()))
    per_batch = {b: batch_features(v, band, alarms=(alarms or {}).get(b, 0)) for b, v in batch_values.items() if v}
    names = sorted({k for f in per_batch.values() for k in f})
    lot_rows: dict[str, FloatArray] = {}
    for lot, batches in lot_batches.items():
        rows = [[per_batch[b].get(n, np.nan) for n in names] for b in batches if b in per_batch]
        if rows:
            with warnings.catch_warnings():  # a tag none of the lot's batches recorded stays NaN
                warnings.simplefilter("ignore", RuntimeWarning)
                lot_rows[lot] = np.nanmean(np.asarray(rows, dtype=np.float64), axis=0)
    cells = sorted(c for c, lot in cell_lot.items() if lot is not None and lot in lot_rows)
    x = np.asarray([lot_rows[str(cell_lot[c])] for c in cells], dtype=np.float64).reshape(len(cells), len(names))
    return cells, names, x, [str(cell_lot[c]) for c in cells]
