"""Detector speed (points/s on one core) and a peer comparison with river's HalfSpaceTrees.

Run: ``.venv/bin/python bench/detectors.py`` -> bench/results/detectors.json and a section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from _common import best_time, machine, markdown_table, update_results_md, write_results
from river.anomaly import HalfSpaceTrees
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from models.detectors.base import BaseDetector, BoolArray, FloatArray
from models.detectors.registry import build_detector

COMMAND = ".venv/bin/python bench/detectors.py"
UNIVARIATE: dict[str, dict[str, Any]] = {
    "ewma": {},
    "cusum": {},
    "shewhart": {},
    "robust_z": {},
    "seasonal": {"period": 1440, "n_bins": 24},
}
EVENT_TOLERANCE = 50  # samples after an event's end in which a flag still counts as detecting it


def throughput(n_points: int, n_pca: int, seed: int) -> dict[str, float]:
    """Points (or 52-variable samples) scored per second on one core, best of three runs."""
    rng = np.random.default_rng(seed)
    train, stream = rng.normal(size=20_000), rng.normal(size=n_points)
    out: dict[str, float] = {}
    for name, params in UNIVARIATE.items():
        det = build_detector(name, params).fit(train)
        out[f"{name}_points_per_s"] = n_points / best_time(partial(det.decision_function, stream))
    latent = rng.normal(size=(n_pca, 10)) @ rng.normal(size=(10, 52))
    X = latent + 0.5 * rng.normal(size=(n_pca, 52))
    for key, name in (("pca_t2_spe_samples_per_s", "pca"), ("dynamic_pca_samples_per_s", "dynamic_pca")):
        det = build_detector(name, {}).fit(X[:5000])
        out[key] = n_pca / best_time(partial(det.decision_function, X))
    forest = build_detector("iforest", {}).fit(X[:5000])
    out["iforest_samples_per_s"] = 20_000 / best_time(lambda: forest.decision_function(X[:20_000]), repeat=1)
    return out


def event_stream(seed: int, n_train: int, n_test: int) -> tuple[FloatArray, FloatArray, list[tuple[int, int]]]:
    """Normal training data and a test stream with spikes, level shifts, variance bursts and drifts."""
    rng = np.random.default_rng(seed)
    train = rng.normal(size=n_train)
    test = rng.normal(size=n_test)
    starts = np.sort(rng.choice(np.arange(500, n_test - 600, 800), size=n_test // 1600, replace=False))
    events = []
    for i, s in enumerate(starts):
        kind = i % 4
        if kind == 0:  # spike
            test[s] += rng.choice([-1, 1]) * rng.uniform(5, 8)
            events.append((int(s), int(s) + 1))
        elif kind == 1:  # level shift
            test[s : s + 200] += rng.choice([-1, 1]) * rng.uniform(1.0, 2.0)
            events.append((int(s), int(s) + 200))
        elif kind == 2:  # variance burst
            test[s : s + 100] *= 3.0
            events.append((int(s), int(s) + 100))
        else:  # slow drift
            test[s : s + 300] += np.linspace(0, rng.uniform(2, 3), 300)
            events.append((int(s), int(s) + 300))
    return train, test, events


def event_metrics(flags: BoolArray, events: list[tuple[int, int]]) -> dict[str, float]:
    """Event-wise recall, point-wise precision, their F1, false alarms per 10k points, median delay."""
    in_event = np.zeros(flags.size, dtype=bool)
    detected, delays = 0, []
    for s, e in events:
        window = slice(s, min(flags.size, e + EVENT_TOLERANCE))
        in_event[window] = True
        hits = np.flatnonzero(flags[window])
        if hits.size:
            detected += 1
            delays.append(int(hits[0]))
    recall = detected / len(events)
    precision = float(flags[in_event].sum() / flags.sum()) if flags.any() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    false_alarms = float(flags[~in_event].sum() / max(1, (~in_event).sum()) * 10_000)
    delay = float(np.median(delays)) if delays else float("nan")
    return {
        "event_recall": recall,
        "point_precision": precision,
        "event_f1": f1,
        "false_alarms_per_10k": false_alarms,
        "median_delay": delay if delays else -1.0,
    }


def river_hst(train: FloatArray, test: FloatArray, seed: int) -> tuple[BoolArray, float]:
    """HalfSpaceTrees learnt on the training stream, threshold at its 99.5 % training score; flags and pts/s."""
    lo, hi = float(train.min()) - 1.0, float(train.max()) + 1.0
    hst = HalfSpaceTrees(n_trees=25, height=15, window_size=250, limits={"x": (lo, hi)}, seed=seed)
    for v in train:
        hst.learn_one({"x": float(v)})  # type: ignore[no-untyped-call]
    score: Callable[[dict[str, float]], float] = hst.score_one
    threshold = float(np.quantile([score({"x": float(v)}) for v in train[-5000:]], 0.995))
    t0 = time.perf_counter()
    scores = np.array([score({"x": float(v)}) for v in test])
    rate = test.size / (time.perf_counter() - t0)
    return scores > threshold, rate


def peer_comparison(seed: int) -> dict[str, dict[str, float]]:
    """Our univariate detectors and river's HalfSpaceTrees on the same event stream."""
    train, test, events = event_stream(seed, 20_000, 50_000)
    out: dict[str, dict[str, float]] = {}
    for name in ("ewma", "cusum", "shewhart", "robust_z"):
        det: BaseDetector = build_detector(name, {}).fit(train)
        t0 = time.perf_counter()
        flags = det.predict(test)
        out[name] = {**event_metrics(flags, events), "points_per_s": test.size / (time.perf_counter() - t0)}
    flags, rate = river_hst(train, test, seed)
    out["river_hst"] = {**event_metrics(flags, events), "points_per_s": rate}
    out["no_alarm"] = event_metrics(np.zeros(test.size, dtype=bool), events)
    out["all_alarm"] = event_metrics(np.ones(test.size, dtype=bool), events)
    out["stream"] = {"train_points": float(train.size), "test_points": float(test.size), "events": float(len(events))}
    return out


def report(speed: dict[str, float], peers: dict[str, dict[str, float]]) -> str:
    """Markdown for bench/RESULTS.md."""
    speed_rows = [[k, f"{v:,.0f}"] for k, v in speed.items()]
    peer_rows = [
        [
            name,
            f"{m['event_recall']:.2f}",
            f"{m['point_precision']:.2f}",
            f"{m['event_f1']:.2f}",
            f"{m['false_alarms_per_10k']:.1f}",
            f"{m['median_delay']:.0f}",
            f"{m.get('points_per_s', 0):,.0f}",
        ]
        for name, m in peers.items()
        if name != "stream"
    ]
    s = peers["stream"]
    return "\n\n".join(
        [
            "## Detector speed and peer comparison",
            f"Command: `{COMMAND}` (one BLAS thread; {machine()['cpus']} CPUs, numpy {machine()['numpy']}).",
            "Throughput (scores per second, best of 3). PCA rows have 52 variables from a 10-factor process; "
            "PCA keeps the components explaining 90 % of the variance, dynamic PCA adds 2 lags (156 columns); "
            "targets: >= 5M points/s for the univariate charts, >= 1M samples/s for PCA T2/SPE.",
            markdown_table(["metric", "per second"], speed_rows),
            f"Same univariate stream ({s['train_points']:.0f} training points, {s['test_points']:.0f} test points, "
            f"{s['events']:.0f} events: spikes, level shifts, variance bursts, drifts). Event recall counts an event "
            f"found when a flag falls in it or within {EVENT_TOLERANCE} samples after; precision is point-wise.",
            markdown_table(
                [
                    "detector",
                    "event recall",
                    "point precision",
                    "event F1",
                    "false alarms / 10k",
                    "median delay",
                    "points/s",
                ],
                peer_rows,
            ),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=5_000_000, help="univariate stream length")
    parser.add_argument("--pca-samples", type=int, default=500_000, help="52-variable samples for PCA")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with threadpool_limits(1):
        speed = throughput(args.points, args.pca_samples, args.seed)
        peers = peer_comparison(args.seed)
    results = {**speed, "peer_comparison": peers, "machine": machine(), "command": COMMAND}
    write_results("detectors", results)
    update_results_md("detectors", report(speed, peers))
    for k, v in speed.items():
        print(f"{k:32s} {v:15,.0f}")
    print(f"{'detector':12s} {'recall':>7s} {'prec':>6s} {'F1':>6s} {'FA/10k':>7s} {'pts/s':>13s}")
    for name, m in peers.items():
        if name != "stream":
            print(
                f"{name:12s} {m['event_recall']:7.2f} {m['point_precision']:6.2f} {m['event_f1']:6.2f} "
                f"{m['false_alarms_per_10k']:7.1f} {m.get('points_per_s', 0):13,.0f}"
            )


if __name__ == "__main__":
    main()
