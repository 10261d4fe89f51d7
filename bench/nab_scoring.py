"""NAB (Numenta Anomaly Benchmark) scoring, implemented from the published method, vectorised.

Written here rather than taken from NAB's own package: that code is Python 2-era, pandas-bound and loops
over rows in Python; this one scores the whole corpus and sweeps every threshold with a handful of sorts
and cumulative sums. It is checked against the windowed Gaussian's published per-file and normalised scores
(``tests/bench/test_nab_scoring.py``).

The method (see the corpus' ``ABOUT.md``):

- a file's first ``min(floor(0.15 n), 750)`` rows are probationary: nothing there is scored;
- each row carries a weight: inside a labelled window ``A_TP * s(y) / s(-1)`` with ``y = -(b - i + 1) / w``
  (``-1`` at the window's first row); outside, ``A_FP * s(y)`` with ``y = (i - b) / (w - 1)`` past the end
  ``b`` of the preceding window of width ``w`` (``-A_FP`` before the first window), where
  ``s(y) = 2 / (1 + exp(5 y)) - 1`` and ``s = -1`` beyond ``y > 3``;
- a file's score at a threshold: every detected row outside windows adds its (negative) weight; a window
  adds the weight of its earliest detected row, or ``-A_FN`` when none is detected;
- a row is detected when its score is ``>= threshold``; one threshold for the whole corpus, the one that
  maximises the corpus score;
- normalised score ``100 (S - S_null) / (S_perfect - S_null)``, ``S_perfect = A_TP x`` all labelled
  windows, ``S_null = -A_FN x`` the windows that have scorable rows.

The sweep: as the threshold falls, a row outside windows adds its weight once its score is reached; a
window's value changes only at its *records* (rows scoring higher than every earlier row of the window),
from the next record's weight (or ``-A_FN`` for the highest) to the record's weight. So the corpus score at every
threshold is a cumulative sum of these changes sorted by score.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Profile:
    """A NAB cost profile."""

    tp: float
    fp: float
    fn: float


#: The three published profiles, under the names the results file uses.
PROFILES: dict[str, Profile] = {
    "standard": Profile(tp=1.0, fp=0.11, fn=1.0),
    "reward_low_fp": Profile(tp=1.0, fp=0.22, fn=1.0),
    "reward_low_fn": Profile(tp=1.0, fp=0.11, fn=2.0),
}


@dataclass(frozen=True, slots=True, eq=False)
class Series:
    """One corpus file: its rows, labelled windows (inclusive row ranges) and probationary length."""

    name: str  # path relative to data/, e.g. "realKnownCause/nyc_taxi.csv"
    times: NDArray[np.datetime64]
    values: FloatArray
    windows: tuple[tuple[int, int], ...]

    @property
    def category(self) -> str:
        return self.name.split("/", 1)[0]

    @property
    def probation(self) -> int:
        """Rows of the probationary period."""
        n = self.values.size
        return int(min(math.floor(0.15 * n), 0.15 * 5000))


def scaled_sigmoid(y: FloatArray) -> FloatArray:
    """``2 / (1 + exp(5 y)) - 1``, and ``-1`` for ``y > 3``."""
    with np.errstate(over="ignore"):
        s = 2.0 / (1.0 + np.exp(5.0 * y)) - 1.0
    return np.asarray(np.where(y > 3.0, -1.0, s), dtype=np.float64)


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def load_series(root: Path, name: str, windows: Sequence[Sequence[str]], column: str = "value") -> Series:
    """``root/<name>`` (a csv with ``timestamp`` and ``column``) with its windows as row ranges.

    A window edge is the first row carrying its timestamp, as in NAB (some files repeat or reorder stamps
    around a daylight-saving change).
    """
    header, rows = _read_csv(root / name)
    t_col, v_col = header.index("timestamp"), header.index(column)
    times = np.array([r[t_col].replace(" ", "T") for r in rows], dtype="datetime64[s]")
    values = np.array([float(r[v_col]) for r in rows], dtype=np.float64)
    first: dict[object, int] = {}
    for i, t in enumerate(times.tolist()):
        first.setdefault(t, i)

    def row(stamp: str) -> int:
        t = np.datetime64(stamp.replace(" ", "T"), "s").tolist()
        if t not in first:
            raise ValueError(f"{name}: window edge {stamp} is not a row timestamp")
        return first[t]

    spans = tuple((row(a), row(b)) for a, b in windows)
    return Series(name=name, times=times, values=values, windows=spans)


def load_windows(nab_root: Path) -> dict[str, list[list[str]]]:
    """File name -> labelled windows as ``[start, end]`` timestamp strings."""
    with (nab_root / "labels" / "combined_windows.json").open(encoding="utf-8") as fh:
        data: dict[str, list[list[str]]] = json.load(fh)
    return data


def load_corpus(nab_root: Path) -> list[Series]:
    """Every labelled file of the corpus, sorted by name."""
    windows = load_windows(nab_root)
    return [load_series(nab_root / "data", name, windows[name]) for name in sorted(windows)]


@dataclass(frozen=True, slots=True, eq=False)
class Weights:
    """Per-row scoring weights of one series under one profile (scorable rows only)."""

    rows: NDArray[np.int64]  # scorable row indices
    weight: FloatArray  # weight of each scorable row
    window: NDArray[np.int64]  # window id of each scorable row, -1 outside windows
    n_windows: int  # windows with at least one scorable row
    profile: Profile


def row_weights(series: Series, profile: Profile) -> Weights:
    """The weight every scorable row earns when detected, and the window it belongs to."""
    n = series.values.size
    i = np.arange(n, dtype=np.float64)
    weight = np.full(n, -profile.fp)  # before the first window
    window = np.full(n, -1, dtype=np.int64)
    max_tp = float(scaled_sigmoid(np.array([-1.0]))[0])
    for k, (a, b) in enumerate(series.windows):
        width = b - a + 1
        inside = slice(a, b + 1)
        weight[inside] = profile.tp * scaled_sigmoid(-(b - i[inside] + 1.0) / width) / max_tp
        window[inside] = k
        end = series.windows[k + 1][0] if k + 1 < len(series.windows) else n
        after = slice(b + 1, end)
        weight[after] = profile.fp * scaled_sigmoid((i[after] - b) / max(width - 1, 1))
    rows = np.arange(series.probation, n, dtype=np.int64)
    win = window[rows]
    return Weights(rows, weight[rows], win, int(np.unique(win[win >= 0]).size), profile)


def null_score(weights: Weights) -> float:
    """The score of a detector that detects nothing."""
    return -weights.profile.fn * weights.n_windows


def score_flags(weights: Weights, flags: BoolArray) -> float:
    """Score of one series given a detection flag per row (all rows, probationary included)."""
    hit = np.asarray(flags, dtype=np.bool_)[weights.rows]
    outside = weights.window < 0
    total = float(weights.weight[hit & outside].sum())
    detected = hit & ~outside
    ids = weights.window[detected]
    # the earliest detected row of each window: first occurrence of each id (rows are in time order)
    _, first = np.unique(ids, return_index=True)
    total += float(weights.weight[detected][first].sum())
    total -= weights.profile.fn * (weights.n_windows - first.size)
    return total


def sweep_events(weights: Weights, scores: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``(score, change)`` pairs: the corpus score changes by ``change`` once the threshold reaches ``score``."""
    s = np.asarray(scores, dtype=np.float64)[weights.rows]
    outside = weights.window < 0
    ev_score = [s[outside]]
    ev_delta = [weights.weight[outside]]
    inside = np.flatnonzero(~outside)
    if inside.size:
        win = weights.window[inside]
        si = s[inside]
        wi = weights.weight[inside]
        starts = np.r_[True, win[1:] != win[:-1]]
        # a record scores strictly higher than every earlier row of its window (a later tie is detected at
        # the same threshold as the earlier row, which earns more)
        rec = np.flatnonzero(starts | (_dense_rank(si) > _segment_prev_max(_dense_rank(si), starts)))
        # records rise in score through the window, so a falling threshold reaches its last record first
        # (the window then earns that row's weight instead of -A_FN), then each earlier one in turn
        rec_w = wi[rec]
        last = np.r_[win[rec][1:] != win[rec][:-1], True]
        next_w = np.r_[rec_w[1:], 0.0]
        delta = np.where(last, rec_w + weights.profile.fn, rec_w - next_w)
        ev_score.append(si[rec])
        ev_delta.append(delta)
    return np.concatenate(ev_score), np.concatenate(ev_delta)


def _dense_rank(x: FloatArray) -> NDArray[np.int64]:
    """Rank of each value among the distinct values of ``x`` (ties share a rank)."""
    return np.asarray(np.unique(x, return_inverse=True)[1], dtype=np.int64).reshape(-1)


def _segment_prev_max(rank: NDArray[np.int64], starts: BoolArray) -> NDArray[np.int64]:
    """``max(rank[segment start .. i-1])`` for every ``i`` (meaningless at segment starts), without a loop.

    Each segment is lifted above all earlier ones (exact integer arithmetic), so one running maximum over
    the whole array restarts at every segment start.
    """
    seg = np.cumsum(starts) - 1
    lift = int(rank.max()) + 1 if rank.size else 1
    run = np.maximum.accumulate(rank + seg * lift)
    prev = np.r_[np.int64(-1), run[:-1]] - seg * lift
    return np.asarray(prev, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class SweepResult:
    """The best corpus threshold of one profile and the normalised score there."""

    threshold: float
    raw: float
    null: float
    perfect: float

    @property
    def normalised(self) -> float:
        return 100.0 * (self.raw - self.null) / (self.perfect - self.null)


def total_windows(series: Iterable[Series]) -> int:
    return sum(len(s.windows) for s in series)


def sweep(weights: Sequence[Weights], scores: Sequence[FloatArray], n_labelled: int) -> SweepResult:
    """The threshold maximising the summed score of all series (``score >= threshold`` detects)."""
    profile = weights[0].profile
    null = sum(null_score(w) for w in weights)
    perfect = profile.tp * n_labelled
    pairs = [sweep_events(w, s) for w, s in zip(weights, scores, strict=True)]
    ev_score = np.concatenate([p[0] for p in pairs])
    ev_delta = np.concatenate([p[1] for p in pairs])
    if ev_score.size == 0:
        return SweepResult(math.inf, null, null, perfect)
    order = np.argsort(-ev_score, kind="stable")
    ev_score, ev_delta = ev_score[order], ev_delta[order]
    total = null + np.cumsum(ev_delta)
    # the score at a threshold includes every event at or above it: take the last of each run of ties
    last = np.r_[ev_score[1:] != ev_score[:-1], True]
    thresholds, totals = ev_score[last], total[last]
    best = int(np.argmax(totals))  # first maximum = the highest threshold reaching it, as NAB picks
    if totals[best] <= null:
        return SweepResult(math.inf, null, null, perfect)
    return SweepResult(float(thresholds[best]), float(totals[best]), null, perfect)


def score_at(weights: Sequence[Weights], flags: Sequence[BoolArray], n_labelled: int) -> SweepResult:
    """The corpus score of fixed detections (e.g. a detector's own threshold), as a :class:`SweepResult`."""
    profile = weights[0].profile
    raw = sum(score_flags(w, f) for w, f in zip(weights, flags, strict=True))
    null = sum(null_score(w) for w in weights)
    return SweepResult(math.nan, raw, null, profile.tp * n_labelled)
