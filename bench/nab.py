"""Every library detector on the Numenta Anomaly Benchmark, scored with the project's NAB scorer.

Each of the 58 files is played as a stream through the detector's public class: the probationary period
(first 15 %, at most 750 rows) is the training data (``fit``), the rest is scored with ``decision_function``,
which continues from the training stream. One set of parameters for the whole corpus: the registry defaults.

NAB wants scores in [0, 1]. A detector's raw decision score ``s`` is mapped by the fixed monotone transform
``u = 1/2 + arctan(s) / pi`` (any real to (0, 1), order kept, no saturation: distinct raw scores stay distinct
up to about 1e15), so the threshold sweep finds the same detections it would find on the raw scores. Reported
per detector and profile: the normalised score at the threshold the sweep chose (as every scoreboard entry
was scored), that threshold (transformed and raw), and the normalised score at the detector's own
``threshold_`` (``predict``, what an operator gets), plus points/s of scoring and of fit + scoring.

``stream_monitor``'s defaults were chosen on the development categories only (``DEV_CATEGORIES``); its score
on the other categories (threshold swept on the development categories, and at its own threshold) is the
leave-category-out figure.

    .venv/bin/python bench/nab.py                                      # everything -> bench/results/nab.json
    .venv/bin/python bench/nab.py --detectors stream_monitor --set memory=300 --categories dev   # a tuning run
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import nab_scoring as ns
from _common import machine, markdown_table, update_results_md, write_results
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from models.detectors.registry import DETECTORS, build_detector

COMMAND = ".venv/bin/python bench/nab.py"
NAB_ROOT = Path("/work/shared/data/nab")
#: Categories the stream_monitor defaults were chosen on; the others are held out.
DEV_CATEGORIES = ("artificialNoAnomaly", "artificialWithAnomaly", "realAWSCloudwatch", "realKnownCause")
HELD_OUT_CATEGORIES = ("realAdExchange", "realTraffic", "realTweets")
#: The published scoreboard (standard, reward-low-FP, reward-low-FN), from the corpus' results file.
SCOREBOARD = {
    "ARTime": "ARTime",
    "Numenta HTM": "numenta",
    "CAD OSE": "contextOSE",
    "earthgecko Skyline": "earthgeckoSkyline",
    "KNN CAD": "knncad",
    "Relative Entropy": "relativeEntropy",
    "Random Cut Forest": "randomCutForest",
    "Twitter ADVec": "twitterADVec",
    "Windowed Gaussian": "windowedGaussian",
}
PUBLISHED_PROFILES = {
    "standard": "standard",
    "reward_low_fp": "reward_low_FP_rate",
    "reward_low_fn": "reward_low_FN_rate",
}


def to_unit(raw: np.ndarray) -> np.ndarray:
    """The fixed monotone map of raw decision scores to (0, 1): ``1/2 + arctan(s) / pi``."""
    return np.asarray(0.5 + np.arctan(raw) / math.pi, dtype=np.float64)


@dataclass
class Run:
    """One detector over the corpus: per-file raw scores (probation rows score -inf) and own thresholds."""

    name: str
    raw: list[np.ndarray]
    thresholds: list[float]
    score_seconds: float
    total_seconds: float
    scored_points: int
    error: str | None = None
    refused: list[str] = field(default_factory=list)


def run_detector(name: str, params: dict[str, Any], corpus: Sequence[ns.Series]) -> Run:
    """Fit on each file's probationary rows, score the rest continuing from training."""
    raw, thresholds = [], []
    errors: list[str] = []
    score_s = total_s = 0.0
    points = 0
    for series in corpus:
        p = series.probation
        x = series.values
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                det = build_detector(name, params).fit(x[:p])
                t1 = time.perf_counter()
                s = det.decision_function(x[p:])
        except (ValueError, np.linalg.LinAlgError) as exc:
            # the detector refuses this file (e.g. PCA on a flat training window): it detects nothing there
            errors.append(f"{series.name}: {exc}")
            raw.append(np.full(x.size, -np.inf))
            thresholds.append(math.inf)
            continue
        t2 = time.perf_counter()
        score_s += t2 - t1
        total_s += t2 - t0
        points += x.size - p
        raw.append(np.r_[np.full(p, -np.inf), np.asarray(s, dtype=np.float64)])
        thresholds.append(float(det.threshold_))
    return Run(name, raw, thresholds, score_s, total_s, points, refused=errors)


def evaluate(run: Run, corpus: Sequence[ns.Series], labelled: int) -> dict[str, float]:
    """Normalised scores per profile: swept threshold and own threshold."""
    out: dict[str, float] = {}
    unit = [to_unit(r) for r in run.raw]
    own = [r > t for r, t in zip(run.raw, run.thresholds, strict=True)]
    for profile_name, profile in ns.PROFILES.items():
        weights = [ns.row_weights(s, profile) for s in corpus]
        best = ns.sweep(weights, unit, labelled)
        at_own = ns.score_at(weights, own, labelled)
        key = f"{run.name}_{profile_name}"
        out[key] = best.normalised
        # no threshold beats detecting nothing: the sweep keeps the null detector (threshold above every score)
        out[f"{key}_swept_detects"] = float(math.isfinite(best.threshold))
        out[f"{key}_threshold"] = best.threshold if math.isfinite(best.threshold) else 1.0
        out[f"{key}_raw_threshold"] = (
            math.tan(math.pi * (best.threshold - 0.5)) if math.isfinite(best.threshold) else 0.0
        )
        out[f"{key}_at_own_threshold"] = at_own.normalised
    out[f"{run.name}_points_per_s"] = run.scored_points / max(run.score_seconds, 1e-9)
    out[f"{run.name}_fit_and_score_points_per_s"] = run.scored_points / max(run.total_seconds, 1e-9)
    out[f"{run.name}_own_threshold_flags"] = float(sum(int(f.sum()) for f in own))
    out[f"{run.name}_files_refused"] = float(len(run.refused))
    return out


def leave_category_out(run: Run, corpus: Sequence[ns.Series]) -> dict[str, float]:
    """Standard-profile score on the held-out categories: threshold swept on the development categories."""
    dev = [i for i, s in enumerate(corpus) if s.category in DEV_CATEGORIES]
    held = [i for i, s in enumerate(corpus) if s.category in HELD_OUT_CATEGORIES]
    profile = ns.PROFILES["standard"]
    out: dict[str, float] = {}
    parts = {"dev": dev, "held_out": held}
    for part, idx in parts.items():
        sub = [corpus[i] for i in idx]
        weights = [ns.row_weights(s, profile) for s in sub]
        unit = [to_unit(run.raw[i]) for i in idx]
        labelled = ns.total_windows(sub)
        out[f"{part}_swept"] = ns.sweep(weights, unit, labelled).normalised
        own = [run.raw[i] > run.thresholds[i] for i in idx]
        out[f"{part}_at_own_threshold"] = ns.score_at(weights, own, labelled).normalised
    dev_sub = [corpus[i] for i in dev]
    dev_thr = ns.sweep(
        [ns.row_weights(s, profile) for s in dev_sub], [to_unit(run.raw[i]) for i in dev], ns.total_windows(dev_sub)
    ).threshold
    held_sub = [corpus[i] for i in held]
    flags = [to_unit(run.raw[i]) >= dev_thr for i in held]
    out["held_out_at_dev_threshold"] = ns.score_at(
        [ns.row_weights(s, profile) for s in held_sub], flags, ns.total_windows(held_sub)
    ).normalised
    out["dev_threshold"] = dev_thr if math.isfinite(dev_thr) else 1.0
    return out


#: Tennessee Eastman faults a univariate check is scored on (3, 9 and 15 are undetectable, as in bench/tep.py).
TEP_FAULTS = tuple(k for k in range(1, 22) if k not in (3, 9, 15))
TEP_ONSET = 160
#: Detectors checked on data the defaults were not chosen on: result key -> (registry name, parameters).
CHECKED: dict[str, tuple[str, dict[str, Any]]] = {
    "stream_monitor": ("stream_monitor", {}),
    "stream_monitor_rm3000": ("stream_monitor", {"record_memory": 3000.0}),
    "stream_monitor_cap1.5": ("stream_monitor", {"record_cap": 1.5}),
    "ewma": ("ewma", {}),
    "robust_z": ("robust_z", {}),
}


def tep_channels(name: str, params: dict[str, Any]) -> dict[str, float]:
    """Each of the 52 Tennessee Eastman channels watched alone: fit on ``d00.dat``, score each test run.

    Data the defaults were not chosen on. Reported: the share of channel-samples flagged on the normal
    test run, the share of normal-run samples with any channel flagged, the faults with an alarm on any
    channel after the onset, their median delay (samples of 3 min) and the in-control alarms before onset.
    """
    import tep  # the Tennessee Eastman loaders of bench/tep.py

    root = tep.data_dir()
    normal, _ = tep.load_training(root)
    tests = tep.load_test(root)
    dets = [build_detector(name, params).fit(normal[:, j]) for j in range(normal.shape[1])]

    def flags(run: np.ndarray) -> np.ndarray:
        return np.stack([d.predict(run[:, j]) for j, d in enumerate(dets)], axis=1)

    f0 = flags(tests[0])
    detected, delays, early = 0, [], 0
    for k in TEP_FAULTS:
        f = np.asarray(flags(tests[k]).any(axis=1), dtype=np.bool_)
        early += int(f[:TEP_ONSET].sum())
        hits = np.flatnonzero(f[TEP_ONSET:])
        if hits.size:
            detected += 1
            delays.append(int(hits[0]))
    return {
        "normal_channel_flag_rate": float(f0.mean()),
        "normal_any_channel_rate": float(f0.any(axis=1).mean()),
        "faults_detected": float(detected),
        "faults": float(len(TEP_FAULTS)),
        "median_delay_samples": float(np.median(delays)) if delays else -1.0,
        "alarms_before_onset_per_run": early / len(TEP_FAULTS),
    }


def event_stream_check(name: str, params: dict[str, Any]) -> dict[str, float]:
    """The simulated univariate event stream of bench/detectors.py (spikes, shifts, bursts, drifts)."""
    import detectors  # bench/detectors.py

    train, test, events = detectors.event_stream(0, 20_000, 50_000)
    det = build_detector(name, params).fit(train)
    return detectors.event_metrics(det.predict(test), events)


def dust_check(
    name: str, params: dict[str, Any], *, realism: bool, seeds: Sequence[int] = (1, 2), days: int = 4
) -> dict[str, Any]:
    """The dust network's PM10 channels watched one by one (fit on each sensor's first day, then scored).

    Per fault kind: event recall (a flag within the event or 60 s after) and, over all kinds, false alarms
    per sensor-day outside every truth event (normal changes of the realism overlay are events too: a
    detector may flag a lasting shift once).
    """
    from datetime import UTC, datetime, timedelta

    from models.evaluation import Scored, Span, evaluate
    from simulators.dust import DustNetwork, DustNetworkConfig
    from simulators.realism import RealismSpec

    start = datetime(2024, 6, 3, tzinfo=UTC)
    scored: list[Scored] = []
    truth: list[Span] = []
    for seed in seeds:
        cfg = DustNetworkConfig(n_sensors=12, seed=seed, realism=RealismSpec() if realism else None)
        frame = DustNetwork(cfg).generate(start, timedelta(seconds=10), days * 8640)
        t = frame.times.astype("datetime64[ms]").astype(np.int64) / 1000.0
        truth += [Span(f"{seed}:{e.device_id}", e.kind, e.start.timestamp(), e.end.timestamp()) for e in frame.truth]
        for n, device in enumerate(frame.device_ids):
            live = frame.present[:, n]
            x, tt = frame.pm10[live, n], t[live]
            train = tt < t[0] + 86_400
            det = build_detector(name, params).fit(x[train])
            scored.append(Scored(f"{seed}:{device}", tt[~train], det.predict(x[~train])))
    overall = evaluate(scored, truth, tolerance_s=60.0)
    kinds = sorted({s.kind for s in truth})
    out: dict[str, Any] = {"false_alarms_per_sensor_day": overall.false_alarms_per_sensor_day}
    for kind in kinds:
        m = evaluate(scored, truth, kinds=[kind], tolerance_s=60.0)
        out[f"{kind}_recall"] = m.event_recall
        out[f"{kind}_events"] = float(m.events)
    return out


def _parse_set(items: Sequence[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items:
        key, _, value = item.partition("=")
        params[key] = json.loads(value)
    return params


def report(results: dict[str, Any], names: Sequence[str]) -> str:
    """Markdown for bench/RESULTS.md."""
    published = results["scoreboard"]
    rows = []
    for name in names:
        if f"{name}_standard" not in results:
            rows.append([f"`{name}`", "failed: " + results.get(f"{name}_error", ""), "", "", "", "", ""])
            continue
        refused = int(results.get(f"{name}_files_refused", 0))
        rows.append(
            [
                f"`{name}`" + (f" ({refused} files refused)" if refused else ""),
                *(f"{results[f'{name}_{p}']:.1f}" for p in ns.PROFILES),
                (
                    f"{results[f'{name}_standard_threshold']:.4f} (raw {results[f'{name}_standard_raw_threshold']:.3g})"
                    if results[f"{name}_standard_swept_detects"]
                    else "none beats detecting nothing"
                ),
                " / ".join(f"{results[f'{name}_{p}_at_own_threshold']:.1f}" for p in ns.PROFILES),
                f"{results[f'{name}_points_per_s']:,.0f}",
            ]
        )
    for label, scores in published.items():
        rows.append([label + " (published)", *(f"{scores[p]:.1f}" for p in ns.PROFILES), "", "", ""])
    lco = results["stream_monitor_leave_category_out"]
    return "\n\n".join(
        [
            "## NAB (Numenta Anomaly Benchmark)",
            f"Command: `{COMMAND}` (one BLAS thread; {machine()['cpus']} CPUs). Scorer: `bench/nab_scoring.py`, "
            "the published method implemented here and checked against the windowed Gaussian's shipped output "
            "(39.65 / 20.87 / 47.41 reproduced to 1e-9, every file's score too: `tests/bench/test_nab_scoring.py`). "
            "Each file: `fit` on the probationary rows, `decision_function` on the rest (continuing from "
            "training), registry defaults, one set of parameters for all 58 files. Raw scores go to [0, 1] by "
            "`1/2 + arctan(s)/pi` (fixed, monotone). Columns: normalised score at the swept threshold "
            "(standard / reward-low-FP / reward-low-FN), the standard profile's threshold, the normalised scores "
            "at the detector's own `threshold_` (no sweep: what an operator gets), and scoring points/s. A file a "
            "detector refuses to fit (PCA on a flat training window) counts as detecting nothing there.",
            markdown_table(
                [
                    "detector",
                    "standard",
                    "low FP",
                    "low FN",
                    "swept threshold (standard)",
                    "at own threshold (std / low FP / low FN)",
                    "points/s",
                ],
                rows,
            ),
            f"Leave-category-out (`stream_monitor`, standard profile): defaults chosen on {', '.join(DEV_CATEGORIES)} "
            f"(development: {lco['dev_swept']:.1f} swept, {lco['dev_at_own_threshold']:.1f} at own threshold); "
            f"held out {', '.join(HELD_OUT_CATEGORIES)}: {lco['held_out_at_dev_threshold']:.1f} at the threshold "
            f"swept on the development categories, {lco['held_out_swept']:.1f} with its own sweep, "
            f"{lco['held_out_at_own_threshold']:.1f} at the detector's own threshold.",
            f"Goal ≥ 75 standard not reached: {results['stream_monitor_standard']:.1f} (above Skyline 58.2, below "
            "CAD OSE 69.9, HTM 70.1 and ARTime 74.9). What moved it, each chosen on the development categories: a "
            "trailing-median baseline with a log-scale (spike-robust) scale (+8 on development), a "
            "seasonal-difference channel, a refractory period after each alarm (+5), records in the data's units "
            "(+2). Tried and not kept (development score fell or the gain was within the noise of a few windows): "
            "direction-split records (-5), a slow regime statistic (-2; +2 held out), records that learn only part "
            "of an alarm (-7; event-stream recall +0.13), capped record growth (+1.8 development, -0.5 held out), an "
            "absolute z limit beside the records (NAB collapses: flat, quantised series reach huge z), a longer "
            "damping of repeated alarms.",
            "Second round (standard profile, swept; development / held-out; none kept as a default, each failed to "
            "help both): a contextual novelty member in the spirit of CAD OSE (values quantised in 5-16 bins of the "
            "running range, contexts of 2-4 successive bins, a never-seen context adds to the score): at best no "
            "change (8 bins, pairs, weight 0.02: +0.1 / 0.0), larger weights -0.1 to -21; slower level and spread "
            "statistics (EWMA of 30-300 samples) beside the fast ones: at most +0.3 overall (spread at 60 samples "
            "only, +0.8 / +0.2; at 30 and 120 samples no change); records started higher after the probationary "
            "rows (x1.1 / 1.25 / 1.5, the growth of a maximum from 750 to 30k samples): +2.0 / -1.8, +2.8 / -3.3, "
            "-5.4 / -1.5; a record margin learnt from how far each statistic usually beats its record: -0.9 overall "
            "(alpha 0.3), -7.8 (alpha 1); per-statistic weights of +-3 % (point, level, spread, seasonal "
            "channel): development moves -9 to +2.3, never both up (point x0.97: +2.3 / -1.2); refractory "
            "60 / 70 / 80 / 90 / 110 / 120 / 150 / 200 rows: development 55.2-55.6 from 60 to 120 rows "
            "(54.2 / 52.9 at 150 / 200) while held-out swings "
            "74.8 / 74.9 / 75.0 / 73.6 / 73.4 / 72.0 / 64.7 / 67.4 (100: 73.3), so the held-out optimum cannot be "
            "chosen honestly and 100 stays; a damping that fades over the refractory period: +0.2; memory "
            "1000 / 4000, fast 5 / 20, window 31, min_z 2.5 / 3.5, k 1.1: all within -2.5 and +0.2; fusing the "
            "statistics (the largest record ratio times the second largest, capped at 3, to a power 0.1 / 0.25 / "
            "0.5: a real change moves several statistics, a noise record one): +3.3 / -0.9, -0.5 / -4.1, "
            "+0.4 / -9.1; the season as the best seasonal-naive lag (of the cycle and its multiples, the smallest "
            "median seasonal difference): +1.8 overall, +3.9 / 0.0, but the gain is one file (nyc_taxi, whose "
            "holidays are caught against the same weekday a week before), the week wins there by 9 % of the "
            "median on its 15 probationary days, within the criterion's sampling noise (on a plain daily series "
            "with noise the rule picks a multiple, 216 h for 24 h), no held-out file changes its lag, and with a "
            "10 % margin the gain is gone, so it is luck on one file, not kept; a discord member (distance of the "
            "last 5 / 10 / 30 values to their nearest match among the previous 2000-5000 windows, divided by its "
            "own record like the other statistics, weight 0.7-1.1, a prototype outside the detector): -5.5 to "
            "+0.7, the best (30 values, weight 0.85) +1.6 / -0.1, not built in. Where the "
            "points go (at the own threshold): 24 of 116 windows missed (about 19 normalised points), 160 "
            "false-alarm rows (about 7.5 points), and detections at the labelled point, mid-window, earn 0.86 each "
            "(about 5 points; an earlier alarm would need a warning before the anomaly). The false alarms are noise "
            "records just above the threshold (ratios 1.02-1.1) while most detections score 3 or more, but about "
            "ten detections are as marginal, so the sweep stays at 1.02. Eight missed windows peak at 0.8-0.99 "
            "(nyc_taxi's holidays, a Twitter burst no larger than an earlier one); the rest (spike density rising, "
            "a series dropping to a value common in it, short AdExchange and traffic files) peak below 0.45: "
            "anomalies of a kind none of the statistics measures.",
            "Repeated faults: `record_cap` (off by default) lets the long record count only up to `record_cap` "
            "minimum sizes (`min_z` sigma); larger values are compared with the record of the last `recent_memory` "
            "(3000) samples alone. "
            + " ".join(
                f"With `{', '.join(f'{k}={v:g}' for k, v in CHECKED[key][1].items())}`: NAB "
                f"{r['standard']:.1f} / {r['reward_low_fp']:.1f} / {r['reward_low_fn']:.1f} swept, "
                f"{r['standard_at_own_threshold']:.1f} standard at its own threshold (development "
                f"{r['dev_swept']:.1f}, held out {r['held_out_swept']:.1f}); event recall "
                f"{results[f'{key}_event_stream']['event_recall']:.2f} at "
                f"{results[f'{key}_event_stream']['false_alarms_per_10k']:.1f} false alarms / 10k."
                for key in CHECKED
                if f"{key}_nab" in results
                for r in [results[f"{key}_nab"]]
            )
            + " Other caps (recent memory 3000): 2 / 3 / 5 / 10 / 20 give NAB 59.5 / 58.6 / 61.2 / 61.3 / 61.5 and "
            "event recall 0.68 (cap 2) or no gain (cap 10 and 20: the event stream's faults are under 30 sigma); "
            "recent memory 10 000 with cap 1.5: 62.9, recall 0.61. The cap on the level and spread statistics only "
            "(cap 1.5): NAB 63.8 (-1.1; development -1.5, held out -0.2; 62.2 at its own threshold) and event recall "
            "0.77 at the default's 0.5 false alarms / 10k, but 4.0 / 3.4 dust false alarms per sensor-day (the "
            "default: 0.8 / 0.5), so not a default either; on the spread alone: NAB 65.5 swept (+0.2 development, "
            "+2.0 held out) but 64.8 at its own threshold and 56.2 low-FP (-1.2), no event-stream gain: not kept. "
            "The cap is the better way to catch repeats "
            "(against `record_memory=3000`: nearly the same recall at a tenth of the false alarms), but NAB, "
            "where a repeat is usually not labelled, loses about 6 points with it, so it is an option for plants "
            "where the same fault recurs, not the default.",
            "Checks on data the defaults were not chosen on (same command). Tennessee Eastman (bibmon's Braatz "
            "files), each of the 52 channels watched alone, fitted on `d00.dat`: share of channel-samples and of "
            "samples with any channel flagged on the normal test run, faults (of 18) with an alarm after the onset, "
            "median delay of the first alarm (3-min samples; under the normal-run alarm rate a first alarm would "
            "come after about 1 / (any-channel rate) samples by chance), alarms per run before the onset. Event "
            "stream: the simulated stream of `bench/detectors.py` (31 spikes, level shifts, variance bursts and "
            "drifts in 50k points). Dust: the dust network (seeds 1-2, 12 sensors, 4 days at 10 s, default fault "
            "mix), each sensor's PM10 fitted on its first day, then flagged; plain / with the real-data overlay "
            "(`simulators/realism.py`); a flag within an event or 60 s after it detects it.",
            markdown_table(
                [
                    "detector",
                    "TEP normal: channel-samples flagged",
                    "any channel",
                    "faults alarmed",
                    "median delay",
                    "alarms before onset / run",
                    "event recall",
                    "point precision",
                    "false alarms / 10k",
                    "dust: false alarms / sensor-day",
                    "spike recall",
                    "stuck recall",
                    "episode recall",
                ],
                [
                    [
                        f"`{CHECKED[key][0]}` " + ", ".join(f"{k}={v:g}" for k, v in CHECKED[key][1].items()),
                        f"{t['normal_channel_flag_rate']:.2%}",
                        f"{t['normal_any_channel_rate']:.1%}",
                        f"{t['faults_detected']:.0f} / {t['faults']:.0f}",
                        f"{t['median_delay_samples']:.1f}",
                        f"{t['alarms_before_onset_per_run']:.1f}",
                        f"{e['event_recall']:.2f}",
                        f"{e['point_precision']:.2f}",
                        f"{e['false_alarms_per_10k']:.1f}",
                        f"{dp['false_alarms_per_sensor_day']:.1f} / {dr['false_alarms_per_sensor_day']:.1f}",
                        f"{dp['spike_recall']:.2f} / {dr['spike_recall']:.2f}",
                        f"{dp['stuck_recall']:.2f} / {dr['stuck_recall']:.2f}",
                        f"{dp['dust_episode_recall']:.2f} / {dr['dust_episode_recall']:.2f}",
                    ]
                    for key in CHECKED
                    for t, e, dp, dr in [
                        (
                            results[f"{key}_tep_channels"],
                            results[f"{key}_event_stream"],
                            results[f"{key}_dust_plain"],
                            results[f"{key}_dust_realism"],
                        )
                    ]
                ],
            ),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--detectors", nargs="*", default=sorted(DETECTORS))
    parser.add_argument("--set", nargs="*", default=[], help="parameters (key=JSON) for every detector run")
    parser.add_argument("--categories", choices=("all", "dev", "held_out"), default="all")
    parser.add_argument("--root", type=Path, default=NAB_ROOT)
    args = parser.parse_args()
    corpus = ns.load_corpus(args.root)
    if args.categories != "all":
        keep = DEV_CATEGORIES if args.categories == "dev" else HELD_OUT_CATEGORIES
        corpus = [s for s in corpus if s.category in keep]
    labelled = ns.total_windows(corpus)
    params = _parse_set(args.set)
    results: dict[str, Any] = {}
    with threadpool_limits(1):
        for name in args.detectors:
            run = run_detector(name, params, corpus)
            if run.error is not None:
                results[f"{name}_error"] = run.error
                print(f"{name:16s} failed: {run.error}")
                continue
            res = evaluate(run, corpus, labelled)
            results.update(res)
            print(
                f"{name:16s} "
                + " ".join(f"{p}={res[f'{name}_{p}']:6.2f}" for p in ns.PROFILES)
                + f" thr={res[f'{name}_standard_raw_threshold']:.3g}"
                + " own="
                + "/".join(f"{res[f'{name}_{p}_at_own_threshold']:.1f}" for p in ns.PROFILES)
                + f" flags={res[f'{name}_own_threshold_flags']:.0f} pts/s={res[f'{name}_points_per_s']:,.0f}"
            )
            if name == "stream_monitor" and args.categories == "all":
                lco = leave_category_out(run, corpus)
                results["stream_monitor_leave_category_out"] = lco
                print("  leave-category-out:", {k: round(v, 2) for k, v in lco.items()})
                for key, (other, other_params) in CHECKED.items():
                    if other == "stream_monitor" and other_params:
                        # the non-default settings offered for repeated faults: their NAB cost
                        variant = run_detector(other, other_params, corpus)
                        scores = evaluate(variant, corpus, labelled)
                        results[f"{key}_nab"] = {
                            **{p: scores[f"{other}_{p}"] for p in ns.PROFILES},
                            **{f"{p}_at_own_threshold": scores[f"{other}_{p}_at_own_threshold"] for p in ns.PROFILES},
                            **leave_category_out(variant, corpus),
                        }
                        print(f"  {key} nab:", {k: round(v, 2) for k, v in results[f"{key}_nab"].items()})
                    results[f"{key}_tep_channels"] = tep_channels(other, other_params)
                    results[f"{key}_event_stream"] = event_stream_check(other, other_params)
                    for realism in (False, True):
                        suffix = "realism" if realism else "plain"
                        results[f"{key}_dust_{suffix}"] = dust_check(other, other_params, realism=realism)
                    for check in ("tep_channels", "event_stream", "dust_plain", "dust_realism"):
                        print(f"  {key} {check}:", results[f"{key}_{check}"])
    if params or args.categories != "all" or "stream_monitor_leave_category_out" not in results:
        return  # a tuning run: print only
    with (args.root / "results" / "final_results.json").open(encoding="utf-8") as fh:
        final = json.load(fh)
    results["scoreboard"] = {
        label: {p: final[key][published] for p, published in PUBLISHED_PROFILES.items()}
        for label, key in SCOREBOARD.items()
    }
    results.update({"files": len(corpus), "labelled_windows": labelled, "machine": machine(), "command": COMMAND})
    write_results("nab", results)
    update_results_md("nab", report(results, args.detectors))


if __name__ == "__main__":
    main()
