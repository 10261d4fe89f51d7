"""Drift check of ``process_monitor``: a short training window, then long normal operation that moves.

Three data sets, each with ``build_detector("process_monitor")`` on its defaults, fitted on a few hundred
normal rows and then scored as one stream:

1. **Simulated process line** (``simulators.process``, 21 tags, one sample a minute): trained on the first
   ``TRAIN_ROWS`` rows (6.7 h), then 7 days of normal operation with every long-term property of real plants
   switched on (``NormalChanges``: slow linear drift of every tag, a daily thermal cycle, a production-rate
   step that persists, quantised values, irregular sample times). The same run with five faults injected on
   days 2-6 (sensor bias, a ramp, a sticking valve, a noisier tag, a process step; 2 h each) gives the
   detection rate and delay; false alarms are counted on the fault-free run.
2. **Tennessee Eastman normal runs**: trained on the first 300 rows of ``d00.dat``, false alarms over the
   960 rows (two days) of ``d00_te.dat``; detection rate on the 21 test fault runs from the same short
   training window.
3. **Real plant data** (``real_process_data.csv`` of the bibmon wheel: 108 anonymised tags every 5 minutes
   over 11 days): trained on the first day (288 rows) and on the first two days, false alarms over the
   rest, per day. Tags missing in more than 1 % of rows are left out, and so are rows with a gap.

Run: ``.venv/bin/python bench/drift.py`` -> bench/results/drift.json and a section of bench/RESULTS.md.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# one BLAS thread (see bench/tep.py); set before numpy is imported
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

# the repository first: bench/simulators.py would shadow the simulators package
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import machine, markdown_table, update_results_md, write_results
from tep import FAULTS, ONSET, UNDETECTABLE, data_dir, load_test, load_training

from models.detectors.base import BoolArray, FloatArray
from models.detectors.registry import build_detector
from simulators.process import NormalChanges, ProcessConfig, ProcessFault, ProcessLine

COMMAND = ".venv/bin/python bench/drift.py"
START = datetime(2024, 3, 1, tzinfo=UTC)
STEP_S = 60.0
TRAIN_ROWS = 400
DAYS = 7
HOUR, DAY = 3600.0, 86_400.0
SEEDS = (0, 1, 2, 3, 4)
NORMAL = NormalChanges(
    drift_sd_per_day=0.5,
    season_sd=0.5,
    setpoint_shifts=((3.5 * DAY, 1.0),),
    resolution_sd=0.05,
    jitter_s=5.0,
)
FAULT_PLAN = (
    ProcessFault("bias", "reactor_ph", start_s=1.5 * DAY, duration_s=2 * HOUR, magnitude=3.0),
    ProcessFault("drift", "reactor_temp", start_s=2.5 * DAY, duration_s=2 * HOUR, magnitude=2.0),
    ProcessFault("stiction", "naoh_feed_flow", start_s=4.2 * DAY, duration_s=2 * HOUR, magnitude=2.0),
    ProcessFault("variance", "free_ammonia", start_s=5.2 * DAY, duration_s=2 * HOUR, magnitude=3.0),
    ProcessFault("step", "ph_balance", start_s=6.2 * DAY, duration_s=2 * HOUR, magnitude=3.0),
)
REAL_TRAIN_ROWS = (288, 576)


def _score(train: FloatArray, test: FloatArray) -> tuple[BoolArray, float]:
    """Flags of ``test`` from a default process monitor fitted on ``train``, and rows scored per second."""
    det = build_detector("process_monitor").fit(train)
    t0 = time.perf_counter()
    flags = det.predict(test)
    return flags, test.shape[0] / max(time.perf_counter() - t0, 1e-9)


def process_line() -> dict[str, Any]:
    """FAR on the fault-free drifting run and DR/delay per fault on the same run with faults, per seed."""
    n = TRAIN_ROWS + int(DAYS * DAY / STEP_S)
    per_seed: list[dict[str, Any]] = []
    for seed in SEEDS:
        clean = ProcessLine(ProcessConfig(seed=seed, sample_interval_s=STEP_S, normal=NORMAL)).generate(START, n)
        faulty = ProcessLine(
            ProcessConfig(seed=seed, sample_interval_s=STEP_S, normal=NORMAL, faults=FAULT_PLAN)
        ).generate(START, n)
        train = clean.values[:TRAIN_ROWS]
        flags, speed = _score(train, clean.values[TRAIN_ROWS:])
        fault_flags, _ = _score(train, faulty.values[TRAIN_ROWS:])
        t = np.arange(n - TRAIN_ROWS) * STEP_S + TRAIN_ROWS * STEP_S
        faults = {}
        for f in FAULT_PLAN:
            inside = (t >= f.start_s) & (t < f.end_s)
            hit = fault_flags[inside]
            faults[f"{f.kind}:{f.target}"] = {
                "dr": float(hit.mean()),
                "delay_min": float(np.argmax(hit)) * STEP_S / 60.0 if hit.any() else -1.0,
            }
        daily = [float(flags[i : i + int(DAY / STEP_S)].mean()) for i in range(0, flags.size, int(DAY / STEP_S))]
        per_seed.append(
            {"seed": seed, "far": float(flags.mean()), "far_by_day": daily, "faults": faults, "rows_per_s": speed}
        )
    kinds = list(per_seed[0]["faults"])
    return {
        "far": float(np.mean([s["far"] for s in per_seed])),
        "far_max_seed": float(np.max([s["far"] for s in per_seed])),
        "mean_dr": float(np.mean([s["faults"][k]["dr"] for s in per_seed for k in kinds])),
        "per_fault": {
            k: {
                "dr": float(np.mean([s["faults"][k]["dr"] for s in per_seed])),
                "delay_min": float(np.median([s["faults"][k]["delay_min"] for s in per_seed])),
            }
            for k in kinds
        },
        "rows_per_s": float(np.median([s["rows_per_s"] for s in per_seed])),
        "per_seed": per_seed,
    }


def tep_short() -> dict[str, Any]:
    """Tennessee Eastman from 300 training rows: FAR over the two normal test days, DR on the fault runs."""
    root = data_dir()
    normal, _ = load_training(root)
    tests = load_test(root)
    det = build_detector("process_monitor").fit(normal[:300])
    flags = {k: det.predict(X) for k, X in tests.items()}
    rates = {str(k): float(flags[k][ONSET:].mean()) for k in FAULTS}
    return {
        "train_rows": 300,
        "far": float(flags[0].mean()),
        "far_second_day": float(flags[0][480:].mean()),
        "mean_dr_excl_3_9_15": float(np.mean([rates[str(k)] for k in FAULTS if k not in UNDETECTABLE])),
        "detection_rate": rates,
    }


def real_data_path() -> Path:
    spec = importlib.util.find_spec("bibmon")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("bibmon is not installed; it ships the real process data")
    return Path(next(iter(spec.submodule_search_locations))) / "real_process_data" / "real_process_data.csv"


def load_real() -> tuple[FloatArray, list[str]]:
    """The real plant table as floats (non-numeric entries such as 'Bad' or 'Scan Timeout' become NaN)."""
    with real_data_path().open(newline="") as fh:
        rows = list(csv.reader(fh))

    def value(text: str) -> float:
        try:
            return float(text)
        except ValueError:
            return float("nan")

    return np.array([[value(x) for x in r[1:]] for r in rows[1:]]), [r[0] for r in rows[1:]]


def real_data() -> dict[str, Any]:
    """FAR on real normal operation after one and two days of training, per day."""
    V, _ = load_real()
    keep = np.isfinite(V).mean(axis=0) > 0.99
    X = V[:, keep]
    complete = np.asarray(np.isfinite(X).all(axis=1))
    out: dict[str, Any] = {"tags": int(keep.sum()), "tags_total": int(V.shape[1]), "rows": int(V.shape[0])}
    for rows in REAL_TRAIN_ROWS:
        train = X[:rows][complete[:rows]]
        test = X[rows:][complete[rows:]]
        flags, speed = _score(train, test)
        out[f"train_{rows}"] = {
            "far": float(flags.mean()),
            "far_by_day": [float(flags[i : i + 288].mean()) for i in range(0, flags.size, 288)],
            "rows_per_s": speed,
        }
    return out


def report(sim: dict[str, Any], tep: dict[str, Any], real: dict[str, Any]) -> str:
    faults = [[k, f"{v['dr']:.2f}", f"{v['delay_min']:g}"] for k, v in sim["per_fault"].items()]
    seeds = [
        [str(s["seed"]), f"{s['far']:.3f}", " ".join(f"{d:.2f}" for d in s["far_by_day"])] for s in sim["per_seed"]
    ]
    reals = [
        [f"{rows} rows ({rows // 288} d)", f"{real[f'train_{rows}']['far']:.3f}",
         " ".join(f"{d:.2f}" for d in real[f"train_{rows}"]["far_by_day"])]
        for rows in REAL_TRAIN_ROWS
    ]  # fmt: skip
    ok = sim["far"] <= 0.05
    return "\n\n".join(
        [
            "## Drift check: process_monitor after a short training window",
            f'Command: `{COMMAND}`. Every figure is `build_detector("process_monitor")` with its defaults, '
            "fitted on a few hundred normal rows and then run as one stream. Goal: false-alarm rate (FAR) <= 5 % "
            "on long normal operation that drifts, while injected faults are still caught.",
            f"**Simulated process line** (21 tags, one sample a minute, seeds {', '.join(map(str, SEEDS))}): "
            f"trained on {TRAIN_ROWS} rows (6.7 h), then {DAYS} days with slow drift of every tag "
            f"({NORMAL.drift_sd_per_day} sd/day), a daily thermal cycle ({NORMAL.season_sd} sd), a persistent "
            f"production-rate step on day 3.5, values quantised to {NORMAL.resolution_sd} sd and sample times "
            f"jittered by +-{NORMAL.jitter_s:g} s. FAR over the 7 days: **{sim['far']:.3f}** (worst seed "
            f"{sim['far_max_seed']:.3f}), which {'meets' if ok else 'does not meet'} the goal; "
            f"{sim['rows_per_s']:,.0f} rows/s.",
            markdown_table(["seed", "FAR", "FAR by day"], seeds),
            f"Faults injected into the same runs (2 h each; mean DR {sim['mean_dr']:.2f}; delay = median minutes "
            "to the first flag):",
            markdown_table(["fault", "DR", "delay (min)"], faults),
            f"**Tennessee Eastman from 300 training rows** (the first 300 of `d00.dat`): FAR {tep['far']:.3f} over "
            f"the two normal test days (second day {tep['far_second_day']:.3f}); mean DR over the 18 detectable "
            f"faults {tep['mean_dr_excl_3_9_15']:.3f}.",
            f"**Real plant data** (bibmon's `real_process_data.csv`: {real['tags_total']} anonymised tags every "
            f"5 minutes for 11 days, {real['tags']} kept with < 1 % missing; presented as normal operation): "
            "FAR after one and two days of training, and per following day:",
            markdown_table(["training", "FAR", "FAR by day"], reals),
            "The real plant leaves the operating region of its first days for good: many tags move by tens of "
            "their first-day standard deviations and some change their noise, so a monitor trained on one or two "
            "days flags most of the rest. The alarm-gated baseline does not follow a move that is flagged as it "
            "happens, and the slow relearning while in alarm (a 2000-row memory, about 7 days here) is too slow "
            "for this plant. A day of records is not enough training for it; this figure is reported, not met.",
            "What was tried and left out: letting the spreads of the other members (SPE level, residual and "
            "difference variances) follow the data as the covariance does. Learning them from accepted rows "
            "only changed nothing that mattered; learning them also slowly from flagged rows brought this FAR "
            "down to 0.23 (one day) and 0.16 (two days) but cost the Tennessee Eastman training runs their "
            "detection (mean DR 0.926 instead of 0.961): there, faults last 40 hours at a 3-minute sample, "
            "which is as long as this plant's regimes, so no one memory tells the two apart.",
            "Which data each default was chosen on: the members, EWMA weights and recentring on the Tennessee "
            "Eastman training runs (and, for the unsmoothed distance, its test FAR, see the Tennessee Eastman "
            "section); the covariance that follows accepted rows (`cov_memory`) and the smoothed distance on "
            "this simulated line; the real plant data and Tennessee Eastman from 300 rows were only measured. "
            "The process step (`step:ph_balance`) is the weak case: caught on two seeds of five (DR above 0.8), "
            "missed on the others, where the step stays inside what the widened covariance accepts.",
        ]
    )


def main() -> None:
    sim = process_line()
    tep = tep_short()
    real = real_data()
    payload = {
        "process_line_far": sim["far"],
        "process_line_mean_dr": sim["mean_dr"],
        "process_line": sim,
        "tep_short_training": tep,
        "real_process_data": real,
        "settings": {
            "train_rows": TRAIN_ROWS,
            "days": DAYS,
            "step_s": STEP_S,
            "seeds": list(SEEDS),
            "normal_changes": {
                "drift_sd_per_day": NORMAL.drift_sd_per_day,
                "season_sd": NORMAL.season_sd,
                "setpoint_shifts": [list(s) for s in NORMAL.setpoint_shifts],
                "resolution_sd": NORMAL.resolution_sd,
                "jitter_s": NORMAL.jitter_s,
            },
        },
        "machine": machine(),
        "command": COMMAND,
    }
    write_results("drift", payload)
    update_results_md("drift", report(sim, tep, real))
    print(f"process line: FAR {sim['far']:.3f} (worst seed {sim['far_max_seed']:.3f}), mean DR {sim['mean_dr']:.2f}")
    for s in sim["per_seed"]:
        print("  seed", s["seed"], "FAR by day", [round(d, 3) for d in s["far_by_day"]])
    for k, v in sim["per_fault"].items():
        print(f"  {k:32s} DR {v['dr']:.2f} delay {v['delay_min']:g} min")
    print(
        f"TEP 300 rows: FAR {tep['far']:.3f} (2nd day {tep['far_second_day']:.3f}), DR {tep['mean_dr_excl_3_9_15']:.3f}"
    )
    for rows in REAL_TRAIN_ROWS:
        r = real[f"train_{rows}"]
        print(f"real data, {rows} training rows: FAR {r['far']:.3f}", [round(d, 2) for d in r["far_by_day"]])


if __name__ == "__main__":
    main()
