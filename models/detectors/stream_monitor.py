"""``stream_monitor``: the recommended univariate streaming detector (adaptive, self-normalising).

Real series drift, change level for good, have seasons and flat stretches and come quantised; a chart with
a fixed training mean flags all of that forever. This detector keeps baselines that forget and scores each
sample by how far it beats the largest excursion seen recently, so one shift or burst raises one alarm, not
a flood, and the same defaults work on series of any scale.

Each column is watched through one or two *channels*: the values themselves and, when ``fit`` finds a
clear season in the training rows (autocorrelation at least ``min_season_acf`` at a lag past its first
zero crossing), their seasonal difference ``x_t - x_{t-P}``, which turns "this hour looks unlike the same
hour yesterday" into a plain deviation. In every channel, with ``a = 1 / memory`` and ``b = 1 / fast``:

- baseline: the median of the previous ``window`` values (robust to spikes, follows a level shift after
  half a window: a lasting shift becomes the new normal);
- scale: the geometric mean of the absolute residuals, an EWMA of ``log |r|`` (one spike barely moves
  it), turned into a standard deviation and floored at the data's resolution (its quantisation step) or
  a fraction of its level, learnt in ``fit`` (never a tiny constant);
- three statistics: the point residual ``|r_t|`` and the fast level ``|EWMA_b(r)|``, in the data's units,
  and the change of spread ``|EWMA_b(log|r|) - EWMA_a(log|r|)|`` (bursts and flat lines);
- each statistic is divided by its *recent record*: the largest value it reached before, decaying by
  ``exp(-1 / record_memory)`` per sample and never below the statistic's smallest reportable size
  (``min_z`` standard deviations of it: ``min_z s``, ``min_z s sqrt(b / (2 - b))``, and a spread change by
  a factor ``SPREAD_CHANGE``). A score above 1 is a new record: the series does something it has not
  done within the record's memory. Records in the data's units mean a larger spike beats a smaller one
  whatever the scale did in between;
- one event, one alarm: for ``refractory`` rows after an alarm the scores are damped (NAB and operators
  alike count only the first alarm of an event; the rest are noise).

The score of a row is the largest ratio over statistics, channels and columns; ``threshold_`` is ``k``.

Everything is a linear filter (``scipy.signal.lfilter``), a sliding median (``scipy.ndimage``) or a
running maximum (``np.maximum.accumulate`` on the log scale, where a decaying maximum is a plain running
maximum of a shifted sequence), so scoring is vectorised over samples; only the refractory period loops,
over alarms (rare). The state (windows, filter levels, records, the last season, the refractory rows
left) is small and strict JSON, so chunks score exactly like the whole stream.

Known limitation: a fault no larger than an earlier one within ``record_memory`` samples is not a new
record. The default memory (30 000 samples) suits series where anomalies are rare and each is news (the
NAB corpus). Where the same fault recurs, ``record_cap`` (off by default) lets the long record count only
up to ``record_cap`` minimum sizes (``min_z`` sigma each): a larger value is compared with the record of
the last ``recent_memory`` samples alone, so a repeat of a clearly abnormal fault is news again once the
recent record has decayed, while noise stays under the long record. On the simulated event stream of
``bench/detectors.py`` (a fault every ~1600 samples) ``record_cap=1.5`` finds 87 % of the events at 0.7
false alarms per 10k points; a shorter memory (``record_memory=3000``) 90 % at 7.5; the default 55 % at 0.5
(the EWMA chart: 94 % at 29). It is not the default because NAB, where a repeat is usually not labelled,
loses 6 points with it (``bench/RESULTS.md``).
"""

from __future__ import annotations

import math
from typing import Self

import numpy as np
from numpy.typing import ArrayLike
from scipy.signal import lfilter

from models.detectors.base import FloatArray, IntArray, State, StreamingDetector, as_2d, check_is_fitted
from models.detectors.robust import MAD_TO_SIGMA, resolution_floor, trailing_median

#: Rows per block of the decaying running maximum (bounds the size of the log-scale shift).
_BLOCK = 1 << 14
#: Statistics scored per channel: point residual, fast level of the residuals, change of their spread.
N_STATS = 3
#: exp(E log|Z|) for a standard normal Z: the geometric mean of |Z|, to turn a log-scale mean into a sigma.
GEOMETRIC_ABS_NORMAL = math.exp(-(0.5772156649015329 + math.log(2.0)) / 2.0)
#: A change of the spread of the residuals by this factor counts as ``min_z``.
SPREAD_CHANGE = 3.0
#: Scores within the refractory period after an alarm are divided by this.
QUIET_DAMPING = 4.0


def dominant_period(x: FloatArray, min_acf: float, max_fraction: float = 0.6) -> int:
    """The lag of the highest autocorrelation past its first zero crossing, if at least ``min_acf``; else 0.

    The autocorrelation is the unbiased one (each lag divided by its own overlap), found with an FFT; lags
    up to ``max_fraction`` of the series are searched, so at least 1.6 cycles were seen.

    >>> t = np.arange(600)
    >>> dominant_period(np.sin(2 * np.pi * t / 48) + 0.1 * np.random.default_rng(0).normal(size=600), 0.6)
    48
    """
    z = x - x.mean()
    n = z.size
    if n < 8 or not np.any(z):
        return 0
    f = np.fft.rfft(z, 2 * n)
    ac = np.fft.irfft(f * np.conj(f))[:n] / np.arange(n, 0, -1)
    ac /= ac[0]
    below = np.flatnonzero(ac[: n // 2] < 0.0)
    hi = int(max_fraction * n)
    if below.size == 0 or below[0] >= hi:
        return 0
    search = ac[below[0] : hi]
    best = float(search.max())
    if best < min_acf or best <= 0.0:
        return 0
    # the peak of the first stretch of lags nearly as good as the best: a cycle, not a multiple of it
    near = np.flatnonzero(search >= 0.9 * best)
    stretch = near[: int(np.argmax(np.diff(np.r_[near, near[-1] + 2]) > 1)) + 1]
    return int(below[0] + stretch[int(np.argmax(search[stretch]))])


def decaying_max(values: FloatArray, start: FloatArray, log_decay: float) -> FloatArray:
    """``R_t = max(values_t, R_{t-1} * exp(log_decay))`` from ``R_0 = start``, column-wise, for positive values.

    On the log scale ``R_t * exp(-t log_decay)`` is a plain running maximum, restarted every block so the
    shift stays small.

    >>> decaying_max(np.array([[4.0], [1.0], [3.0]]), np.array([1.0]), math.log(0.5)).ravel().round(9).tolist()
    [4.0, 2.0, 3.0]
    """
    out = np.empty_like(values)
    level = np.log(np.asarray(start, dtype=np.float64))
    logs = np.log(values)
    for lo in range(0, values.shape[0], _BLOCK):
        block = logs[lo : lo + _BLOCK]
        t = np.arange(1, block.shape[0] + 1, dtype=np.float64)[:, None]
        shifted = np.maximum.accumulate(np.maximum(block - t * log_decay, level[None, :]), axis=0)
        out[lo : lo + block.shape[0]] = shifted + t * log_decay
        level = out[lo + block.shape[0] - 1]
    return np.exp(out)


class StreamMonitor(StreamingDetector):
    """Robust adaptive baselines with record-normalised statistics (see the module docstring).

    Parameters
    ----------
    window : int
        Samples in the trailing median baseline.
    memory : float
        Samples of memory of the scale.
    fast : float
        Samples of memory of the fast level and spread compared with the baseline.
    record_memory : float
        Samples over which a past record decays by a factor e (shorter: repeated faults are caught again,
        with more false alarms; see the module docstring).
    recent_memory : float
        Samples over which the recent record decays by a factor e (used only with ``record_cap``).
    record_cap : float
        The long record counts only up to this many minimum sizes; above, values are compared with the
        recent record alone (repeated faults are caught again; 0 = off, the default).
    min_z : float
        A statistic below this many of its standard deviations is never a record.
    rel_floor : float
        Scale floor as a fraction of the series' typical magnitude (besides its resolution).
    min_season_acf : float
        Autocorrelation the training rows need at their dominant lag for a seasonal channel (above 1: none).
    refractory : int
        Rows after an alarm whose scores are damped (one event, one alarm; 0 = off).
    k : float
        Threshold on the score (1 = any new record; 1.02 = 2 % above it).

    The defaults were chosen on part of the NAB corpus (its artificial, AWS CloudWatch and known-cause
    categories) and are checked on the rest (``bench/nab.py``) and on the simulators; they are the same for
    every series.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> det = StreamMonitor().fit(rng.normal(size=500))
    >>> x = rng.normal(size=600); x[300:] += 6.0
    >>> flags = det.predict(x)
    >>> int(np.argmax(flags)), int(flags[340:].sum())
    (300, 0)
    """

    name = "stream_monitor"

    def __init__(
        self,
        window: int = 61,
        memory: float = 2000.0,
        fast: float = 10.0,
        record_memory: float = 30_000.0,
        recent_memory: float = 3000.0,
        record_cap: float = 0.0,
        min_z: float = 3.0,
        rel_floor: float = 1e-3,
        min_season_acf: float = 0.8,
        refractory: int = 100,
        k: float = 1.02,
    ) -> None:
        self.window = window
        self.memory = memory
        self.fast = fast
        self.record_memory = record_memory
        self.recent_memory = recent_memory
        self.record_cap = record_cap
        self.min_z = min_z
        self.rel_floor = rel_floor
        self.min_season_acf = min_season_acf
        self.refractory = refractory
        self.k = k

    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> Self:
        """Learn each column's scale floor, starting level and scale, and season; the state after ``X`` is kept."""
        if int(self.window) < 1:
            raise ValueError(f"window must be at least 1, got {self.window}")
        if not self.memory >= 1.0 or not self.fast >= 1.0 or not self.record_memory >= 1.0:
            raise ValueError("memory, fast and record_memory must be at least 1 sample")
        if not self.recent_memory >= 1.0:
            raise ValueError(f"recent_memory must be at least 1 sample, got {self.recent_memory}")
        if not self.record_cap >= 0.0:
            raise ValueError(f"record_cap must be 0 (off) or positive, got {self.record_cap}")
        if not self.min_z > 0.0:
            raise ValueError(f"min_z must be positive, got {self.min_z}")
        A = as_2d(X)
        if A.shape[0] == 0:
            raise ValueError("cannot fit on an empty array")
        d = A.shape[1]
        self.floor_ = np.array([resolution_floor(A[:, j], self.rel_floor) for j in range(d)])
        self.period_ = np.array([dominant_period(A[:, j], self.min_season_acf) for j in range(d)], dtype=np.int64)
        self.level0_ = np.median(A, axis=0)
        spread = MAD_TO_SIGMA * np.median(np.abs(A - self.level0_), axis=0)
        self.scale0_ = np.maximum(spread, self.floor_)
        seasonal = self._seasonal_columns()
        if seasonal.size:
            diffs = [A[p:, j] - A[:-p, j] for j, p in zip(seasonal, self.period_[seasonal], strict=True)]
            sd = np.array([MAD_TO_SIGMA * np.median(np.abs(v - np.median(v))) for v in diffs])
            self.season_scale0_ = np.maximum(sd, self.floor_[seasonal])
        else:
            self.season_scale0_ = np.zeros(0)
        self.threshold_ = float(self.k)
        return self

    def _seasonal_columns(self) -> IntArray:
        return np.asarray(np.flatnonzero(self.period_ > 0), dtype=np.int64)

    def init_state(self) -> State:
        """Baselines at the training median, scales at the training MAD, no records, no season seen yet."""
        check_is_fitted(self, "floor_")
        seasonal = self._seasonal_columns()
        return {
            "plain": _channel_state(self.level0_, self.scale0_, int(self.window), float(self.min_z)),
            "season": _channel_state(np.zeros(seasonal.size), self.season_scale0_, int(self.window), float(self.min_z)),
            "last": [[float(self.level0_[j])] * int(self.period_[j]) for j in seasonal],
            "seen": 0,
            "quiet": 0,
        }

    def score_stream(self, X: ArrayLike, state: State) -> tuple[FloatArray, State]:
        """Scores of ``X`` continuing from ``state``."""
        check_is_fitted(self, "floor_")
        A = as_2d(X)
        d = self.floor_.size
        if A.shape[1] != d:
            raise ValueError(f"expected {d} features, got {A.shape[1]}")
        n = A.shape[0]
        seen = int(state["seen"])
        if n == 0:
            return np.empty(0), dict(state)
        # the first window of a stream compares with a baseline that is only the training median
        scores, plain = self._channel(A, state["plain"], self.floor_, skip=max(0, min(n, int(self.window) - seen)))
        seasonal = self._seasonal_columns()
        last = [np.asarray(v, dtype=np.float64) for v in state["last"]]
        season_state = state["season"]
        if seasonal.size:
            Y = np.empty((n, seasonal.size))
            for i, (j, p) in enumerate(zip(seasonal, self.period_[seasonal], strict=True)):
                W = np.concatenate([last[i], A[:, j]])
                Y[:, i] = W[p:] - W[:-p]
                last[i] = W[-p:]
            # the first cycle of a stream has no season to compare with yet: those rows neither score nor teach
            warm = max(0, min(n, int(self.period_[seasonal].max()) - seen))
            s_scores, season_state = self._channel(Y, season_state, self.floor_[seasonal], skip=warm)
            np.maximum(scores, s_scores, out=scores)
        quiet = _quieten(scores, float(self.k), int(self.refractory), int(state["quiet"]))
        return scores, {
            "plain": plain,
            "season": season_state,
            "last": [v.tolist() for v in last],
            "seen": min(seen + n, 1 << 40),
            "quiet": quiet,
        }

    def _channel(self, A: FloatArray, state: State, floor: FloatArray, skip: int = 0) -> tuple[FloatArray, State]:
        """Record ratios (max over statistics and columns) of one channel, and its state after ``A``.

        The first ``skip`` rows are not data yet (a season not seen): they score 0 and leave the scale,
        level and records where they were.
        """
        n, d = A.shape
        w = int(self.window)
        tail = np.asarray(state["tail"], dtype=np.float64).reshape(w, d)
        g0, gf0, e0 = (np.asarray(state[key], dtype=np.float64).reshape(d) for key in ("g", "gf", "e"))
        rec0 = np.asarray(state["rec"], dtype=np.float64).reshape(N_STATS, d)
        recent0 = np.asarray(state.get("recent", state["rec"]), dtype=np.float64).reshape(N_STATS, d)
        a = 1.0 / float(self.memory)
        b = 1.0 / float(self.fast)
        W = np.concatenate([tail, A])
        base = np.empty_like(A)
        for j in range(d):  # loop over columns, vectorised over samples
            base[:, j] = trailing_median(W[:-1, j], w)
        resid = A - base
        log_dev = np.log(np.abs(resid) + floor)
        if skip:
            resid[:skip] = 0.0
            log_dev[:skip] = g0
        g = _ewma(log_dev, a, g0)
        g_prev = np.vstack([g0[None, :], g[:-1]])
        scale = np.maximum(np.exp(g_prev) / GEOMETRIC_ABS_NORMAL, floor)
        gf = _ewma(log_dev, b, gf0)
        e = _ewma(resid, b, e0)
        floor_z = float(self.min_z)
        # point and level deviations in the data's units, each with its smallest reportable size
        # (min_z of its own standard deviation); the spread change in units of min_z
        point = np.abs(resid)
        level = np.abs(e)
        spread = floor_z * np.abs(gf - g_prev) / math.log(SPREAD_CHANGE)
        minimum = (floor_z * scale, floor_z * scale * math.sqrt(b / (2.0 - b)), np.full_like(scale, floor_z))
        log_decay = -1.0 / float(self.record_memory)
        recent_decay = -1.0 / float(self.recent_memory)
        cap = float(self.record_cap)  # 0: the long record alone
        scores = np.zeros(n)
        new_rec = np.empty((N_STATS, d))
        new_recent = np.empty((N_STATS, d))
        for i, stat in enumerate((point, level, spread)):
            stat = np.maximum(stat, 1e-3 * minimum[i])  # positive for the log scale; below the minimum anyway
            stat[:skip] = 1e-3 * minimum[i][:skip]
            rec = decaying_max(stat, rec0[i], log_decay)
            rec_prev = np.vstack([rec0[i][None, :], rec[:-1]]) * math.exp(log_decay)
            if cap > 0.0:
                # the long record counts only up to ``cap`` minima; above that, only the recent record
                recent = decaying_max(stat, recent0[i], recent_decay)
                recent_prev = np.vstack([recent0[i][None, :], recent[:-1]]) * math.exp(recent_decay)
                rec_prev = np.maximum(recent_prev, np.minimum(rec_prev, cap * minimum[i]))
            else:
                recent = rec
            ratio = stat / np.maximum(rec_prev, minimum[i])
            if d:
                np.maximum(scores, ratio.max(axis=1), out=scores)
            new_rec[i] = rec[-1]
            new_recent[i] = recent[-1]
        return scores, {
            "tail": W[-w:].tolist(),
            "g": g[-1].tolist(),
            "gf": gf[-1].tolist(),
            "e": e[-1].tolist(),
            "rec": new_rec.tolist(),
            "recent": new_recent.tolist(),
        }


def _quieten(scores: FloatArray, threshold: float, refractory: int, quiet: int) -> int:
    """Damp, in place, the scores of the ``refractory`` rows after each alarm (and the first ``quiet`` rows).

    One event raises one alarm: later rows of the same burst are divided by ``QUIET_DAMPING``. The loop
    is over alarms, which are rare; returns the rows still to be damped at the start of the next chunk.
    """
    n = scores.size
    alarms = np.flatnonzero(scores > threshold)
    pos = min(quiet, n)
    scores[:pos] /= QUIET_DAMPING
    while refractory > 0:
        k = int(np.searchsorted(alarms, pos))
        if k >= alarms.size:
            return max(0, quiet - n)
        at = int(alarms[k])
        hi = at + 1 + refractory
        scores[at + 1 : hi] /= QUIET_DAMPING
        if hi > n:
            return hi - n
        pos, quiet = hi, 0
    return 0


def _channel_state(level: FloatArray, scale: FloatArray, window: int, min_z: float) -> State:
    """A channel before any sample: baseline window at ``level``, scale ``scale``, records at ``min_z``."""
    d = level.size
    log_scale = np.log(np.maximum(scale, 1e-300) * GEOMETRIC_ABS_NORMAL).tolist()
    return {
        "tail": np.tile(level, (window, 1)).tolist(),
        "g": log_scale,
        "gf": list(log_scale),
        "e": [0.0] * d,
        "rec": [[min_z * 1e-3 * float(v) for v in np.maximum(scale, 1e-300)] for _ in range(N_STATS)],
        "recent": [[min_z * 1e-3 * float(v) for v in np.maximum(scale, 1e-300)] for _ in range(N_STATS)],
    }


def _ewma(values: FloatArray, weight: float, start: FloatArray) -> FloatArray:
    """``y_t = (1 - weight) y_{t-1} + weight values_t`` from ``y_0 = start``, column-wise (``lfilter``)."""
    out, _ = lfilter([weight], [1.0, weight - 1.0], values, axis=0, zi=((1.0 - weight) * start)[None, :])
    return np.asarray(out, dtype=np.float64)
