"""Tennessee Eastman (Braatz set): a monitor chosen without the test files, then reported once on them.

Data: the Braatz files shipped in the bibmon wheel. ``d00.dat`` is 500 normal samples (stored transposed);
``dNN.dat`` (NN = 01..21) are the training fault runs, 480 samples each with the fault present from the first
sample (checked: the step faults 4-7 are out of control from row 0 of their training run, while their test
runs are in control until the onset); ``dNN_te.dat`` are the 960-sample test runs with the fault from sample
160 on, and ``d00_te.dat`` is the normal test run.

Procedure, in this order:

1. **Model.** Every candidate statistic is a detector (``RecentredPCAChart``, ``DiffVarianceChart``) fitted on
   ``d00.dat`` only.
2. **Limits.** From normal data only: ``d00.dat`` cut into 5 contiguous folds; each fold is scored by a model
   fitted on the other four, and the limit is the 99th percentile of these 500 out-of-sample scores (a
   combination of several statistics is the largest of their ratios to their own such percentiles, limited
   the same way). The final model is refitted on all of ``d00.dat``. An honest false-alarm estimate on normal
   data (**nested FAR**) repeats the whole limit-setting on four folds and counts flags on the fifth.
3. **Selection.** Over a grid declared here (PCA and dynamic PCA T²/SPE with EWMA smoothing, the variance
   of first differences, EWMA of PCA residuals and of the raw variables), a forward search keeps adding the
   statistic that raises the mean detection rate on the *training* fault runs (all 480 samples, faults 3,
   9, 15 excluded) the most, among candidates whose nested FAR is at most 5 %; it stops at three statistics
   or when the gain is below 0.005.
4. **Recentring.** The PCA-based statistics follow slow normal change with an alarm-gated moving mean
   (memory ``M`` samples, updated per 20-sample block from the rows the statistic did not flag). Steps 1-3
   run for every ``M`` in ``MEMORIES``; the shortest ``M`` whose training mean DR is within ``MAX_DR_COST`` of
   the fixed-mean monitor's is kept (see :func:`pick_memory`). No ``_te`` file is read before the choice.
5. **Report.** The chosen monitor, the fixed-mean monitor of the previous report, the static PCA floor
   (textbook 99 % limits) and dynamic PCA are scored on the test runs: FAR on ``d00_te.dat``, detection rate
   on the 800 samples after the onset, delay to the first flag after the onset. ``TEST_EVALUATIONS`` lists
   every design whose test numbers have been seen.

Run: ``.venv/bin/python bench/tep.py`` -> bench/results/tep.json and a section of bench/RESULTS.md.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from _common import machine, markdown_table, update_results_md, write_results

from models.detectors.base import BaseDetector, FloatArray
from models.detectors.diff_variance import DiffVarianceChart
from models.detectors.dynamic_pca import DynamicPCA
from models.detectors.pca import PCADetector
from models.detectors.recentred import RecentredPCAChart

COMMAND = ".venv/bin/python bench/tep.py"
ONSET = 160
FAULTS = tuple(range(1, 22))
UNDETECTABLE = (3, 9, 15)
N_FOLDS = 5
QUANTILE = 0.99
MAX_NESTED_FAR = 0.05
MAX_MEMBERS = 3
MIN_GAIN = 0.005
SAMPLE_MINUTES = 3
SMOOTHING = (1.0, 0.3, 0.1, 0.05)  # EWMA lambda applied to a per-sample statistic (1.0 = none)
BLOCK = 20  # samples per recentring step (1 h)
#: Recentring memories tried, in samples (0 = fixed mean, the previous monitor); 500 samples = 25 h = d00.dat.
MEMORIES = (0.0, 2000.0, 1000.0, 500.0, 250.0, 125.0)
MAX_DR_COST = 0.01  # training mean DR a memory may cost against the fixed mean

#: A fresh, unfitted detector of one candidate statistic.
Factory = Callable[[], BaseDetector]


def data_dir() -> Path:
    """The Braatz .dat files shipped with bibmon, found through the import system."""
    spec = importlib.util.find_spec("bibmon")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("bibmon is not installed; it ships the Tennessee Eastman data")
    return Path(next(iter(spec.submodule_search_locations))) / "tennessee_eastman"


def load_training(root: Path) -> tuple[FloatArray, dict[int, FloatArray]]:
    """Normal training data (d00.dat is stored transposed) and the 21 training fault runs."""
    normal = np.loadtxt(root / "d00.dat")
    if normal.shape[0] == 52:
        normal = normal.T
    return normal, {k: np.loadtxt(root / f"d{k:02d}.dat") for k in FAULTS}


def load_test(root: Path) -> dict[int, FloatArray]:
    """The 22 test runs keyed by fault number (0 = normal)."""
    return {k: np.loadtxt(root / f"d{k:02d}_te.dat") for k in (0, *FAULTS)}


#: (name, lags, components) of the PCA models in the grid; dpca2 as in Russell, Chiang and Braatz (2000).
PCA_MODELS = (("pca9", 0, 9), ("pca15", 0, 15), ("dpca1", 1, 20), ("dpca2", 2, 29))
OFFSET_COMPONENTS = 9
LOOSE_LAMS = (0.2, 0.1, 0.05)  # EWMA lambda of the already averaged statistics


def candidates(memory: float) -> dict[str, Factory]:
    """The declared search grid: statistic name -> unfitted detector, PCA members recentred with ``memory``."""
    out: dict[str, Factory] = {}
    for model, lags, comps in PCA_MODELS:
        for stat in ("t2", "spe"):
            for lam in SMOOTHING:
                name = f"{model}_{stat}" if lam == 1.0 else f"{model}_{stat}_ewma{lam:g}"
                out[name] = partial(
                    RecentredPCAChart,
                    n_components=comps,
                    statistic=stat,
                    lags=lags,
                    lam=lam,
                    memory=memory,
                    block=BLOCK,
                    quantile=QUANTILE,
                    folds=N_FOLDS,
                )
    for lam in LOOSE_LAMS:
        out[f"diffvar_logvar{lam:g}"] = partial(DiffVarianceChart, lam=lam, quantile=QUANTILE, folds=N_FOLDS)
    for kind in ("resid", "raw"):
        for lam in LOOSE_LAMS:
            out[f"offsets_{kind}{lam:g}"] = partial(
                RecentredPCAChart,
                n_components=OFFSET_COMPONENTS,
                statistic=kind,
                lam=lam,
                memory=memory,
                block=BLOCK,
                quantile=QUANTILE,
                folds=N_FOLDS,
            )
    return out


@dataclass
class Scores:
    """Scores of every candidate on normal training data (out of sample) and on the training fault runs."""

    cv: dict[str, FloatArray]  # (500,) each fold scored by a model fitted on the other folds
    inner: list[dict[str, FloatArray]]  # per outer fold: the other four folds scored the same way on four folds
    faults: dict[str, dict[int, FloatArray]]  # full model (all of d00.dat) on the training fault runs


def out_of_sample(factory: Factory, normal: FloatArray, folds: Sequence[np.ndarray]) -> FloatArray:
    """Every fold scored (as one stream) by a detector fitted on the other folds, concatenated in fold order."""
    parts = []
    for j, held_out in enumerate(folds):
        fit = normal[np.concatenate([f for i, f in enumerate(folds) if i != j])]
        parts.append(factory().fit(fit).decision_function(normal[held_out]))
    return np.concatenate(parts)


def training_scores(normal: FloatArray, fault_runs: dict[int, FloatArray], grid: dict[str, Factory]) -> Scores:
    """Out-of-sample scores on d00.dat (outer and inner folds) and full-model scores on the training faults."""
    folds = np.array_split(np.arange(normal.shape[0]), N_FOLDS)
    cv: dict[str, FloatArray] = {}
    inner: list[dict[str, FloatArray]] = [{} for _ in folds]
    faults: dict[str, dict[int, FloatArray]] = {}
    for name, factory in grid.items():
        cv[name] = out_of_sample(factory, normal, folds)
        for o in range(len(folds)):
            inner[o][name] = out_of_sample(factory, normal, [f for i, f in enumerate(folds) if i != o])
        detector = factory().fit(normal)
        faults[name] = {k: detector.decision_function(X) for k, X in fault_runs.items()}
    return Scores(cv, inner, faults)


@dataclass(frozen=True, slots=True)
class Calibration:
    """Per-member scales and the limit of their combination (the largest scaled score)."""

    scales: dict[str, float]
    limit: float

    def flags(self, scores: dict[str, FloatArray], only: str | None = None) -> np.ndarray:
        """Flags of the combination (or of one member ``only`` at the combination's limit)."""
        names = [only] if only is not None else list(self.scales)
        combined = np.max([scores[n] / self.scales[n] for n in names], axis=0)
        return np.asarray(np.nan_to_num(combined, nan=-np.inf) > self.limit)


def calibrate(names: Sequence[str], normal_scores: dict[str, FloatArray]) -> Calibration:
    """Limits from out-of-sample normal scores only: each member's 99th percentile, then the combination's."""
    scales = {n: float(np.nanquantile(normal_scores[n], QUANTILE)) for n in names}
    combined = np.max([normal_scores[n] / s for n, s in scales.items()], axis=0)
    return Calibration(scales, float(np.nanquantile(combined, QUANTILE)))


def nested_far(names: Sequence[str], scores: Scores) -> float:
    """False-alarm rate on each held-out fold of d00.dat with limits set on the other four folds only."""
    folds = np.array_split(np.arange(scores.cv[names[0]].size), N_FOLDS)
    rates = []
    for o, rows in enumerate(folds):
        cal = calibrate(names, scores.inner[o])
        rates.append(float(cal.flags({n: scores.cv[n][rows] for n in names}).mean()))
    return float(np.mean(rates))


def training_dr(names: Sequence[str], scores: Scores) -> tuple[float, dict[int, float]]:
    """Mean detection rate over the training fault runs (faults 3, 9, 15 excluded) and per fault."""
    cal = calibrate(names, scores.cv)
    rates = {k: float(cal.flags({n: scores.faults[n][k] for n in names}).mean()) for k in FAULTS}
    return float(np.mean([r for k, r in rates.items() if k not in UNDETECTABLE])), rates


def select(scores: Scores, members: Sequence[str]) -> tuple[list[str], list[dict[str, Any]]]:
    """Forward selection on the training fault runs under the nested-FAR constraint; returns the log too."""
    chosen: list[str] = []
    best = 0.0
    log: list[dict[str, Any]] = []
    while len(chosen) < MAX_MEMBERS:
        step: list[dict[str, Any]] = []
        for member in members:
            if member in chosen:
                continue
            names = [*chosen, member]
            far = nested_far(names, scores)
            dr, _ = training_dr(names, scores)
            step.append({"members": names, "train_mean_dr": dr, "nested_far": far, "admissible": far <= MAX_NESTED_FAR})
        ok = [s for s in step if s["admissible"]]
        if not ok:
            break
        top = max(ok, key=lambda s: s["train_mean_dr"])
        log.append({"step": len(chosen) + 1, "best": top, "top5": sorted(ok, key=lambda s: -s["train_mean_dr"])[:5]})
        if chosen and top["train_mean_dr"] - best < MIN_GAIN:
            break
        chosen, best = list(top["members"]), float(top["train_mean_dr"])
    return chosen, log


def test_scores_selected(
    names: Sequence[str], grid: dict[str, Factory], normal: FloatArray, tests: dict[int, FloatArray]
) -> dict[int, dict[str, FloatArray]]:
    """Scores of the chosen members on every test run (detectors fitted on all of d00.dat)."""
    fitted = {n: grid[n]().fit(normal) for n in names}
    return {k: {n: det.decision_function(X) for n, det in fitted.items()} for k, X in tests.items()}


def textbook_flags(normal: FloatArray, tests: dict[int, FloatArray]) -> dict[str, dict[int, np.ndarray]]:
    """Reference monitors with their textbook 99 % limits, fitted on d00.dat."""
    out: dict[str, dict[int, np.ndarray]] = {}
    for stat in ("t2", "spe", "combined"):
        pca = PCADetector(n_components=9, statistic=stat).fit(normal)
        out[f"pca_{stat}"] = {k: pca.predict(X) for k, X in tests.items()}
        dpca = DynamicPCA(lags=2, n_components=29, statistic=stat).fit(normal)
        out[f"dpca_{stat}"] = {k: dpca.predict(X) for k, X in tests.items()}
    return out


def evaluate(flags: dict[int, np.ndarray]) -> dict[str, Any]:
    """False-alarm rate on d00_te, per-fault detection rate after the onset and delay to the first flag."""
    rates, delays = {}, {}
    for k in FAULTS:
        after = flags[k][ONSET:]
        rates[str(k)] = float(after.mean())
        delays[str(k)] = int(np.argmax(after)) * SAMPLE_MINUTES if after.any() else -1
    return {
        "far": float(flags[0].mean()),
        "mean_dr_excl_3_9_15": float(np.mean([rates[str(k)] for k in FAULTS if k not in UNDETECTABLE])),
        "detection_rate": rates,
        "detection_delay_min": delays,
    }


def forward_far(normal: FloatArray, grid: dict[str, Factory], members: Sequence[str]) -> float:
    """FAR on the second half of d00.dat of the monitor fitted and limited on the first half only.

    The closest the training data come to the test situation (a model running on past its training window):
    if normal drift within d00.dat mattered, this would exceed the nested FAR.
    """
    half = normal.shape[0] // 2
    first, second = normal[:half], normal[half:]
    folds = np.array_split(np.arange(half), N_FOLDS)
    cal = calibrate(members, {n: out_of_sample(grid[n], first, folds) for n in members})
    return float(cal.flags({n: grid[n]().fit(first).decision_function(second) for n in members}).mean())


@dataclass
class Choice:
    """The monitor the selection picks for one recentring memory, with its training figures."""

    memory: float
    grid: dict[str, Factory]
    scores: Scores
    members: list[str]
    log: list[dict[str, Any]]
    train_dr: float
    train_per_fault: dict[int, float]
    nested_far: float

    def summary(self) -> dict[str, Any]:
        return {
            "memory_samples": self.memory,
            "members": self.members,
            "train_mean_dr_excl_3_9_15": self.train_dr,
            "nested_far": self.nested_far,
            "train_per_fault_detection_rate": {str(k): v for k, v in self.train_per_fault.items()},
            "selection_log": self.log,
        }


def choose(normal: FloatArray, fault_runs: dict[int, FloatArray], memory: float) -> Choice:
    """Scores of the grid recentred with ``memory`` on the training data and the forward selection on them."""
    grid = candidates(memory)
    scores = training_scores(normal, fault_runs, grid)
    members, log = select(scores, list(grid))
    dr, per_fault = training_dr(members, scores)
    return Choice(memory, grid, scores, members, log, dr, per_fault, nested_far(members, scores))


def pick_memory(choices: Sequence[Choice]) -> Choice:
    """The shortest memory whose monitor loses at most ``MAX_DR_COST`` training DR against the fixed mean.

    The training data cannot show drift beyond its own 25 h (a model fitted on the first half of d00.dat
    raises no more alarms on the second half than cross-validation predicts), so they cannot measure what
    recentring gains; they can measure what it costs, because a chart that follows its data may absorb a
    slowly growing fault. The fastest following that the training faults show to be nearly free is taken.
    """
    fixed = next(c for c in choices if c.memory == 0)
    cheap = [c for c in choices if c.memory > 0 and c.train_dr >= fixed.train_dr - MAX_DR_COST]
    return min(cheap, key=lambda c: c.memory) if cheap else fixed


def far_parts(cal: Calibration, normal_scores: dict[str, FloatArray], members: Sequence[str]) -> dict[str, float]:
    """FAR on both halves of d00_te and of each member alone at the combination's limit."""
    flags = cal.flags(normal_scores)
    half = flags.size // 2
    return {
        "first_half": float(flags[:half].mean()),
        "second_half": float(flags[half:].mean()),
        **{n: float(cal.flags(normal_scores, only=n).mean()) for n in members},
    }


#: Every monitor design whose test-run numbers anyone has seen, in order. Kept by hand: the script cannot know.
TEST_EVALUATIONS = (
    "fixed-mean monitor pca15_spe_ewma0.05 OR offsets_resid0.05 OR diffvar_logvar0.05 (commit 686ab98)",
    "recentred monitor chosen by pick_memory (this procedure), scored after the choice was fixed; reruns of "
    "this deterministic script repeat the same numbers",
)


def report(
    results: dict[str, dict[str, Any]],
    choices: Sequence[Choice],
    picked: Choice,
    parts: dict[str, dict[str, float]],
    forward: dict[str, float],
    n_grid: int,
) -> str:
    """Markdown for bench/RESULTS.md."""
    primary, previous = "recentred", "fixed_mean"
    summary = [[name, f"{r['mean_dr_excl_3_9_15']:.3f}", f"{r['far']:.3f}"] for name, r in results.items()]
    columns = ["pca_spe", previous, primary]
    per_fault = [
        [str(k)]
        + [f"{results[c]['detection_rate'][str(k)]:.2f}" for c in columns]
        + [f"{picked.train_per_fault[k]:.2f}", str(results[primary]["detection_delay_min"][str(k)])]
        for k in FAULTS
    ]
    memories = [
        [
            "fixed" if c.memory == 0 else f"{c.memory:g}",
            " OR ".join(f"`{n}`" for n in c.members),
            f"{c.train_dr:.3f}",
            f"{c.nested_far:.3f}",
        ]
        for c in choices
    ]
    best = results[primary]
    met = best["mean_dr_excl_3_9_15"] >= 0.90 and best["far"] <= 0.05
    verdict = "meets" if met else "does not meet"
    mem_h = picked.memory * SAMPLE_MINUTES / 60
    return "\n\n".join(
        [
            "## Tennessee Eastman fault detection (Braatz data)",
            f"Command: `{COMMAND}`. Data: the Braatz files of the bibmon 1.2.0 wheel, read with numpy. The "
            "training fault runs `d01.dat`..`d21.dat` (480 samples) carry the fault from their first sample "
            "(checked: faults 4-7 are out of control from row 0); the test runs `dNN_te.dat` (960 samples) from "
            "sample 160. Goal: mean detection rate (DR) over the 18 detectable faults (3, 9, 15 excluded) >= "
            "0.90 at a false-alarm rate (FAR) <= 5 % on `d00_te.dat`.",
            "Selection procedure (no `_te` file is read until the monitor is fixed):\n\n"
            "1. every candidate statistic is a detector fitted on `d00.dat` only "
            "(`models.detectors.recentred.RecentredPCAChart`, `models.detectors.diff_variance.DiffVarianceChart`);\n"
            f"2. limits come from normal data only: `d00.dat` in {N_FOLDS} contiguous folds, each scored by a "
            "detector fitted on the other four; the limit is the 99th percentile of those out-of-sample scores "
            "(a combination is the largest of its members' ratios to their own percentiles, limited the same "
            "way). The *nested FAR* repeats this limit-setting on four folds and counts flags on the fifth;\n"
            f"3. over a declared grid of {n_grid} statistics (static PCA with 9 or 15 components and dynamic PCA "
            "with 1 or 2 lags, T² or SPE, EWMA lambda 1/0.3/0.1/0.05; EWMA variance of first differences; EWMA "
            "of PCA residuals and of the raw variables, lambda 0.2/0.1/0.05) a forward search adds the "
            "statistic that most raises the mean DR on the *training* fault runs (faults 3, 9, 15 excluded), "
            f"among combinations with nested FAR <= {MAX_NESTED_FAR:.0%}, up to {MAX_MEMBERS} statistics or "
            f"until the gain is below {MIN_GAIN};\n"
            "4. **recentring** (new): every PCA-based statistic is computed on data shifted by a moving mean that "
            f"is updated once per {BLOCK}-sample block from the rows the statistic did *not* flag, with an "
            "exponential memory of M samples (adaptive MSPC in the manner of Choi, Martin, Morris and Lee, "
            "2006). Flagged rows teach nothing, so a fault once flagged stays measured against the mean from "
            "before it; normal change slower than M is followed (the variance of first differences does not "
            "see the mean and is not recentred). Steps 1-3 are run for each M of "
            f"{', '.join('fixed' if m == 0 else f'{m:g}' for m in MEMORIES)} samples, and the shortest M whose "
            f"training mean DR is within {MAX_DR_COST} of the fixed-mean monitor's is taken. The training "
            "data cannot show what recentring gains: fitted and limited on the first half of `d00.dat` only, "
            f"the fixed-mean monitor flags {forward['fixed_mean']:.3f} of the second half (the recentred one "
            f"{forward['recentred']:.3f}), no more than cross-validation predicts, so its 25 h show no drift "
            "that matters. They can show what it costs (a chart that follows its data can absorb a slowly "
            "growing fault), hence a rule that buys as much following as the training faults show to be "
            "nearly free;\n"
            "5. the chosen monitor is scored once on the test runs: FAR on `d00_te.dat`, DR on the 800 samples "
            "after the onset, delay to the first flag after the onset.",
            "Training figures per memory (the choice is made from these alone):",
            markdown_table(["memory (samples)", "selected members", "train mean DR", "nested FAR (d00.dat)"], memories),
            f"Chosen: memory {picked.memory:g} samples ({mem_h:g} h), `{primary}` = "
            f"{' OR '.join(f'`{n}`' for n in picked.members)}. `{previous}` is the monitor of the previous "
            "report (same procedure without recentring), recomputed here with the new detectors (same members, "
            "training figures and test numbers as before); the static PCA charts (9 "
            "components, textbook 99 % limits: `pca_spe` is the floor) and dynamic PCA (2 lags, 29 "
            "components) are the references.",
            markdown_table(["monitor", "mean DR (18 faults, test)", "FAR (d00_te)"], summary),
            f"FAR on the two halves of `d00_te.dat`: `{previous}` {parts[previous]['first_half']:.3f} / "
            f"{parts[previous]['second_half']:.3f}, `{primary}` {parts[primary]['first_half']:.3f} / "
            f"{parts[primary]['second_half']:.3f}. Members of `{primary}` alone at the combination's limit: "
            + ", ".join(f"`{n}` {parts[primary][n]:.3f}" for n in picked.members)
            + ".",
            f"Per fault (DR on the test runs; `train` = `{primary}` on the training run; delay = minutes from "
            f"onset to the first flag of `{primary}` on the test run, -1 = never):",
            markdown_table(["fault", *columns, "train", "delay (min)"], per_fault),
            f"Result: `{primary}` reaches mean DR {best['mean_dr_excl_3_9_15']:.3f} at FAR {best['far']:.3f} on "
            f"the test runs, which {verdict} the goal (was DR {results[previous]['mean_dr_excl_3_9_15']:.3f} at "
            f"FAR {results[previous]['far']:.3f} with a fixed mean; static PCA SPE "
            f"{results['pca_spe']['mean_dr_excl_3_9_15']:.3f} at {results['pca_spe']['far']:.3f}). DR of the "
            "undetectable faults, a rough gauge of how much of any DR is false alarms: "
            + ", ".join(f"{k} ({best['detection_rate'][str(k)]:.2f})" for k in UNDETECTABLE)
            + ".",
            f"Test-set use, stated so the numbers can be weighed: besides the textbook references, "
            f"{len(TEST_EVALUATIONS)} monitor designs have been scored on the `_te` files in all: "
            + "; ".join(f"({i}) {t}" for i, t in enumerate(TEST_EVALUATIONS, 1))
            + ". The need for recentring was learnt from the first one's FAR on the second half of `d00_te.dat` "
            "(0.173), which is a look at test data; the memory grid, the block length, the gate and the "
            f"{MAX_DR_COST} cost rule were fixed before the second was scored, and nothing was changed after it.",
            "Caveats: the rule took the shortest memory of the grid (no shorter one was tried, and none will be "
            "on the test runs); the FAR is measured on one normal run of 960 strongly autocorrelated samples "
            "whose alarms come in runs, so the margin under 5 % is within the run-to-run spread such a figure "
            "has; and recentring halves the second-day alarms rather than removing them, so part of the plant's "
            "second-day movement is faster than a 6 h memory follows.",
        ]
    )


def main() -> None:
    root = data_dir()
    normal, fault_runs = load_training(root)
    choices = [choose(normal, fault_runs, memory) for memory in MEMORIES]
    picked = pick_memory(choices)
    fixed = next(c for c in choices if c.memory == 0)
    forward = {
        label: forward_far(normal, c.grid, c.members) for label, c in (("fixed_mean", fixed), ("recentred", picked))
    }
    # The choice is fixed: only now are the test runs read.
    tests = load_test(root)
    results = {name: evaluate(f) for name, f in textbook_flags(normal, tests).items()}
    parts = {}
    for label, choice in (("fixed_mean", fixed), ("recentred", picked)):
        cal = calibrate(choice.members, choice.scores.cv)
        scored = test_scores_selected(choice.members, choice.grid, normal, tests)
        results[label] = evaluate({k: cal.flags(s) for k, s in scored.items()})
        parts[label] = far_parts(cal, scored[0], choice.members)
    best = results["recentred"]
    payload = {
        "mean_dr_excl_3_9_15": best["mean_dr_excl_3_9_15"],
        "far": best["far"],
        "far_first_half": parts["recentred"]["first_half"],
        "far_second_half": parts["recentred"]["second_half"],
        "per_fault_detection_rate": best["detection_rate"],
        "per_fault_detection_delay_min": best["detection_delay_min"],
        "primary_monitor": "recentred",
        "memory_samples": picked.memory,
        "selected_members": picked.members,
        "previous_monitor": {
            "name": "fixed_mean",
            "members": fixed.members,
            "mean_dr_excl_3_9_15": results["fixed_mean"]["mean_dr_excl_3_9_15"],
            "far": results["fixed_mean"]["far"],
            "far_first_half": parts["fixed_mean"]["first_half"],
            "far_second_half": parts["fixed_mean"]["second_half"],
        },
        "static_pca_floor": {k: results["pca_spe"][k] for k in ("mean_dr_excl_3_9_15", "far")},
        "forward_far_d00": forward,
        "test_evaluations": list(TEST_EVALUATIONS),
        "n_test_evaluations": len(TEST_EVALUATIONS),
        "training": {label: c.summary() for label, c in (("recentred", picked), ("fixed_mean", fixed))},
        "memory_search": [{k: v for k, v in c.summary().items() if k != "selection_log"} for c in choices],
        "test_far_parts": parts,
        "grid": list(picked.grid),
        "monitors": results,
        "settings": {
            "folds": N_FOLDS,
            "quantile": QUANTILE,
            "max_nested_far": MAX_NESTED_FAR,
            "max_members": MAX_MEMBERS,
            "min_gain": MIN_GAIN,
            "onset": ONSET,
            "block": BLOCK,
            "memories": list(MEMORIES),
            "max_dr_cost": MAX_DR_COST,
        },
        "machine": machine(),
        "command": COMMAND,
    }
    write_results("tep", payload)
    update_results_md("tep", report(results, choices, picked, parts, forward, len(picked.grid)))
    for c in choices:
        print(
            f"memory {c.memory:6g}: {' + '.join(c.members)} (train DR {c.train_dr:.3f}, nested FAR {c.nested_far:.3f})"
        )
    print(f"chosen memory {picked.memory:g}")
    print(f"{'monitor':20s} {'mean DR':>8s} {'FAR':>6s}")
    for name, r in results.items():
        print(f"{name:20s} {r['mean_dr_excl_3_9_15']:8.3f} {r['far']:6.3f}")
    print("FAR halves:", {k: (round(v["first_half"], 3), round(v["second_half"], 3)) for k, v in parts.items()})
    print("per fault DR: " + " ".join(f"{k}:{v:.2f}" for k, v in best["detection_rate"].items()))


if __name__ == "__main__":
    main()
