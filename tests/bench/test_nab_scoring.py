"""The NAB scorer reproduces the published scores of the windowed Gaussian from its shipped output."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import nab_scoring as ns

NAB_ROOT = Path("/work/shared/data/nab")
#: Published normalised scores of the windowed Gaussian (NAB results/final_results.json).
PUBLISHED = {"standard": 39.649523496077585, "reward_low_fp": 20.86798582474138, "reward_low_fn": 47.4100271583046}
PUBLISHED_FILES = {
    "standard": "standard",
    "reward_low_fp": "reward_low_FP_rate",
    "reward_low_fn": "reward_low_FN_rate",
}

needs_nab = pytest.mark.skipif(not NAB_ROOT.exists(), reason="the NAB corpus is not at /work/shared/data/nab")


@pytest.fixture(scope="module")
def windowed_gaussian() -> tuple[list[ns.Series], list[np.ndarray]]:
    corpus = ns.load_corpus(NAB_ROOT)
    scores = []
    for series in corpus:
        category, file_name = series.name.split("/")
        path = NAB_ROOT / "results" / "windowedGaussian" / category / f"windowedGaussian_{file_name}"
        with path.open(newline="", encoding="utf-8") as fh:
            scores.append(np.array([float(row["anomaly_score"]) for row in csv.DictReader(fh)]))
    return corpus, scores


@needs_nab
@pytest.mark.parametrize("profile", sorted(ns.PROFILES))
def test_sweep_reproduces_the_published_normalised_scores(
    windowed_gaussian: tuple[list[ns.Series], list[np.ndarray]], profile: str
) -> None:
    corpus, scores = windowed_gaussian
    weights = [ns.row_weights(s, ns.PROFILES[profile]) for s in corpus]
    result = ns.sweep(weights, scores, ns.total_windows(corpus))
    assert result.normalised == pytest.approx(PUBLISHED[profile], abs=0.01)
    assert result.threshold == 1.0
    flags = [s >= result.threshold for s in scores]
    assert ns.score_at(weights, flags, ns.total_windows(corpus)).raw == pytest.approx(result.raw, abs=1e-9)


@needs_nab
@pytest.mark.parametrize("profile", sorted(ns.PROFILES))
def test_every_file_scores_as_published(
    windowed_gaussian: tuple[list[ns.Series], list[np.ndarray]], profile: str
) -> None:
    corpus, scores = windowed_gaussian
    path = NAB_ROOT / "results" / "windowedGaussian" / f"windowedGaussian_{PUBLISHED_FILES[profile]}_scores.csv"
    with path.open(newline="", encoding="utf-8") as fh:
        published = {row["File"]: float(row["Score"]) for row in csv.DictReader(fh) if row["File"]}
    assert len(published) == len(corpus) == 58
    for series, s in zip(corpus, scores, strict=True):
        got = ns.score_flags(ns.row_weights(series, ns.PROFILES[profile]), s >= 1.0)
        assert got == pytest.approx(published[series.name], abs=1e-8), series.name


def _toy(seed: int) -> tuple[list[ns.Series], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    corpus, scores = [], []
    for k in range(3):
        n = int(rng.integers(120, 300))
        starts = np.sort(rng.choice(np.arange(40, n - 20, 25), size=int(rng.integers(0, 4)), replace=False))
        windows = tuple((int(a), int(min(a + rng.integers(3, 20), n - 1))) for a in starts)
        times = np.arange(n).astype("datetime64[s]")
        corpus.append(ns.Series(f"toy/{k}.csv", times, rng.normal(size=n), windows))
        scores.append(np.round(rng.random(n), 2))  # rounding makes ties
    return corpus, scores


@pytest.mark.parametrize("seed", range(6))
def test_sweep_equals_scoring_every_threshold(seed: int) -> None:
    corpus, scores = _toy(seed)
    n_labelled = max(1, ns.total_windows(corpus))
    for profile in ns.PROFILES.values():
        weights = [ns.row_weights(s, profile) for s in corpus]
        best = ns.sweep(weights, scores, n_labelled)
        brute = {
            float(t): ns.score_at(weights, [s >= t for s in scores], n_labelled).raw
            for t in np.unique(np.concatenate(scores))
        }
        expected = max([*brute.values(), sum(ns.null_score(w) for w in weights)])
        assert best.raw == pytest.approx(expected, abs=1e-9)
        if np.isfinite(best.threshold):
            assert brute[best.threshold] == pytest.approx(best.raw, abs=1e-9)


def test_weights_follow_the_published_sigmoid() -> None:
    times = np.arange(1000).astype("datetime64[s]")
    series = ns.Series("toy/a.csv", times, np.zeros(1000), ((300, 309),))
    w = ns.row_weights(series, ns.PROFILES["standard"])
    by_row = dict(zip(w.rows.tolist(), w.weight.tolist(), strict=True))
    assert series.probation == 150
    assert by_row[150] == pytest.approx(-0.11)  # before the first window: the full A_FP
    assert by_row[300] == pytest.approx(1.0)  # the window's first row earns A_TP
    max_tp = 2 / (1 + np.exp(-5.0)) - 1
    assert by_row[309] == pytest.approx((2 / (1 + np.exp(-0.5)) - 1) / max_tp)  # its last row: y = -1/10
    assert by_row[310] == pytest.approx(0.11 * (2 / (1 + np.exp(5 / 9)) - 1))
    assert by_row[999] == pytest.approx(-0.11)  # far past the window: the full A_FP
