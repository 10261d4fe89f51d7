"""Cycle-life model: log10 cycle life from early-cycle features, an elastic net as in Severson et al. 2019.

Training standardises the features, chooses the elastic-net penalty and mix by k-fold cross-validation
(scikit-learn's ``ElasticNetCV``) and keeps the out-of-fold residuals: their spread in log space gives the
prediction interval (a life 10^(mu ± z·sd)). The fitted model is plain numbers (means, scales,
coefficients), stored as strict JSON in the model registry — no pickle, nothing to trust on load.

Evaluation is on cells the model never saw, beside two naive baselines: the training cells' mean life, and a
straight line through the capacity of the last half of the early cycles extended to the end-of-life line.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from models.cells.features import (
    FEATURE_SETS,
    CellCycles,
    FeatureError,
    fade_extrapolation,
    feature_matrix,
    observed_life,
)

FloatArray = NDArray[np.float64]

DETECTOR: Final = "cell_life"
_Z90: Final = 1.6448536269514722  # two-sided 90 % normal interval


@dataclass(frozen=True, slots=True)
class LifeModel:
    """A fitted cycle-life model. ``predict`` takes feature rows in ``features`` order."""

    features: tuple[str, ...]
    mean: FloatArray
    scale: FloatArray
    coef: FloatArray
    intercept: float
    log_sd: float
    n_cycles: int
    ref_cycle: int
    eol_fraction: float
    alpha: float
    l1_ratio: float
    train_mean_life: float
    cv: dict[str, float]

    def predict_log(self, x: FloatArray) -> FloatArray:
        z = (np.asarray(x, dtype=np.float64) - self.mean) / self.scale
        out: FloatArray = z @ self.coef + self.intercept
        return out

    def predict(self, x: FloatArray) -> FloatArray:
        """Predicted cycle life of each row."""
        out: FloatArray = 10.0 ** self.predict_log(x)
        return out

    def interval(self, x: FloatArray, *, z: float = _Z90) -> tuple[FloatArray, FloatArray]:
        """Lower and upper bounds of the 90 % interval (from the cross-validated residual spread)."""
        mu = self.predict_log(x)
        lo: FloatArray = 10.0 ** (mu - z * self.log_sd)
        hi: FloatArray = 10.0 ** (mu + z * self.log_sd)
        return lo, hi

    def to_state(self) -> dict[str, Any]:
        return {
            "detector": DETECTOR,
            "features": list(self.features),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
            "log_sd": self.log_sd,
            "n_cycles": self.n_cycles,
            "ref_cycle": self.ref_cycle,
            "eol_fraction": self.eol_fraction,
            "alpha": self.alpha,
            "l1_ratio": self.l1_ratio,
            "train_mean_life": self.train_mean_life,
            "cv": self.cv,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LifeModel:
        if state.get("detector") != DETECTOR:
            raise ValueError(f"not a cell-life model state: {state.get('detector')!r}")
        return cls(
            features=tuple(state["features"]),
            mean=np.asarray(state["mean"], dtype=np.float64),
            scale=np.asarray(state["scale"], dtype=np.float64),
            coef=np.asarray(state["coef"], dtype=np.float64),
            intercept=float(state["intercept"]),
            log_sd=float(state["log_sd"]),
            n_cycles=int(state["n_cycles"]),
            ref_cycle=int(state["ref_cycle"]),
            eol_fraction=float(state["eol_fraction"]),
            alpha=float(state["alpha"]),
            l1_ratio=float(state["l1_ratio"]),
            train_mean_life=float(state["train_mean_life"]),
            cv=dict(state["cv"]),
        )


def fit(
    x: FloatArray,
    life: FloatArray,
    *,
    features: tuple[str, ...],
    n_cycles: int,
    ref_cycle: int,
    eol_fraction: float = 0.8,
    folds: int = 5,
    seed: int = 0,
) -> LifeModel:
    """Fit the elastic net on log10 life with k-fold CV for its penalty; needs at least ``2 * folds`` cells."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import ElasticNet, ElasticNetCV
    from sklearn.model_selection import KFold

    x = np.asarray(x, dtype=np.float64)
    y = np.log10(np.asarray(life, dtype=np.float64))
    if x.ndim != 2 or x.shape[0] != y.size or x.shape[1] != len(features):
        raise ValueError("x must be (n_cells, n_features) and match life and features")
    if y.size < 2 * folds:
        raise FeatureError(f"need at least {2 * folds} cells with a known life to train, got {y.size}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("features and lives must be finite")
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    z = (x - mean) / scale
    kf = KFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # the weakest penalties of the path may stop short of the tolerance; they are the ones CV rejects
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = ElasticNetCV(l1_ratio=[0.1, 0.5, 0.9, 0.99, 1.0], alphas=60, cv=kf, max_iter=50_000).fit(z, y)
        alpha, l1 = float(search.alpha_), float(search.l1_ratio_)
        # out-of-fold predictions with the chosen penalty: the honest spread for intervals and the CV error
        oof = np.empty_like(y)
        for tr, te in kf.split(z):
            m = ElasticNet(alpha=alpha, l1_ratio=l1, max_iter=50_000).fit(z[tr], y[tr])
            oof[te] = m.predict(z[te])
    resid = y - oof
    life_true, life_oof = 10.0**y, 10.0**oof
    return LifeModel(
        features=features,
        mean=mean,
        scale=scale,
        coef=np.asarray(search.coef_, dtype=np.float64),
        intercept=float(search.intercept_),
        log_sd=float(np.sqrt(np.mean(resid**2))),
        n_cycles=n_cycles,
        ref_cycle=ref_cycle,
        eol_fraction=eol_fraction,
        alpha=alpha,
        l1_ratio=l1,
        train_mean_life=float(np.mean(life_true)),
        cv={
            "folds": folds,
            "rmse_cycles": rmse(life_true, life_oof),
            "mape": mape(life_true, life_oof),
            "cells": int(y.size),
        },
    )


def rmse(true: FloatArray, pred: FloatArray) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred) - np.asarray(true)) ** 2)))


def mape(true: FloatArray, pred: FloatArray) -> float:
    """Mean absolute percentage error as a fraction."""
    t = np.asarray(true, dtype=np.float64)
    return float(np.mean(np.abs(np.asarray(pred) - t) / t))


def scores(true: FloatArray, pred: FloatArray) -> dict[str, float]:
    return {"rmse_cycles": rmse(true, pred), "mape": mape(true, pred)}


def feature_names(feature_set: str) -> tuple[str, ...]:
    try:
        return FEATURE_SETS[feature_set]
    except KeyError:
        raise ValueError(f"unknown feature set {feature_set!r}; known: {sorted(FEATURE_SETS)}") from None


def split_cells(cell_ids: list[str], *, test_share: float, seed: int) -> tuple[list[str], list[str]]:
    """A seeded random split of cells into (train, test), sorted; the test cells are never used to fit."""
    if not 0 < test_share < 1:
        raise ValueError("test_share must be between 0 and 1")
    rng = np.random.default_rng(seed)
    order = rng.permutation(sorted(cell_ids))
    n_test = max(1, round(test_share * len(order)))
    return sorted(order[n_test:].tolist()), sorted(order[:n_test].tolist())


@dataclass(frozen=True, slots=True)
class Dataset:
    """Cells with their early features and observed lives (cells without either are in ``skipped``)."""

    cell_ids: list[str]
    x: FloatArray
    life: FloatArray
    skipped: dict[str, str]


def dataset(
    cells: dict[str, CellCycles],
    *,
    names: tuple[str, ...],
    nominal_ah: dict[str, float],
    n_cycles: int,
    ref_cycle: int,
    eol_fraction: float = 0.8,
) -> Dataset:
    """Features from the first ``n_cycles`` cycles and the observed life of every cell that has both.

    A cell still above the end-of-life line has no label yet; a cell that reached it within the first
    ``n_cycles`` cycles cannot be predicted from them. Both are skipped, with the reason.
    """
    ids, x, skipped = feature_matrix(cells, names, n_cycles=n_cycles, ref_cycle=ref_cycle)
    keep, lives = [], []
    for i, cid in enumerate(ids):
        nom = nominal_ah.get(cid)
        if nom is None or not nom > 0:
            skipped[cid] = "no nominal capacity"
            continue
        life = observed_life(cells[cid], nominal_ah=nom, eol_fraction=eol_fraction)
        if life is None:
            skipped[cid] = "still above the end-of-life line (no observed life yet)"
        elif life <= n_cycles:
            skipped[cid] = f"reached end of life within the first {n_cycles} cycles"
        else:
            keep.append(i)
            lives.append(float(life))
    return Dataset([ids[i] for i in keep], x[keep], np.asarray(lives, dtype=np.float64), skipped)


def evaluate(
    model: LifeModel, data: Dataset, cells: dict[str, CellCycles], nominal_ah: dict[str, float]
) -> dict[str, Any]:
    """Errors on ``data`` (cells the model was not fitted on) beside the two naive baselines."""
    if not data.cell_ids:
        raise FeatureError("no cells to evaluate on")
    pred = model.predict(data.x)
    lo, hi = model.interval(data.x)
    naive_mean = np.full(data.life.shape, model.train_mean_life)
    fade = np.array(
        [
            fade_extrapolation(
                cells[c], n_cycles=model.n_cycles, nominal_ah=nominal_ah[c], eol_fraction=model.eol_fraction
            )
            for c in data.cell_ids
        ]
    )
    return {
        "cells": len(data.cell_ids),
        "model": scores(data.life, pred),
        "baseline_mean_life": scores(data.life, naive_mean),
        "baseline_fade_extrapolation": scores(data.life, fade),
        "interval_coverage": float(np.mean((data.life >= lo) & (data.life <= hi))),
        "per_cell": [
            {"cell_id": c, "observed": float(t), "predicted": float(p), "lower": float(a), "upper": float(b)}
            for c, t, p, a, b in zip(data.cell_ids, data.life, pred, lo, hi, strict=True)
        ],
    }
