"""``stream_monitor``: the recommended univariate streaming detector (adaptive, self-normalising).

Real series drift, change level for good, have flat stretches and come quantised; a chart with a fixed
training mean flags all of that forever. This detector keeps a baseline that forgets and scores each sample
by how far it beats the largest excursion seen recently, so one shift or burst raises one alarm, not a
flood, and the same defaults work on series of any scale.

Per column, with ``a = 1 / memory``:

- baseline ``m_t = (1 - a) m_{t-1} + a x_t`` and scale ``s_t`` from the EWMA of ``|x_t - m_{t-1}|``
  (times sqrt(pi/2)), floored at the data's resolution (its quantisation step) and a fraction of its level,
  both learnt in ``fit``;
- two statistics against the previous baseline: the point residual ``|x_t - m_{t-1}| / s_{t-1}`` and the
  level of a fast EWMA (``1 / fast`` weight) ``|f_t - m_{t-1}| / (s_{t-1} sqrt(b / (2 - b)))``;
- each statistic is divided by its *recent record*: the largest value it reached before (decaying by the
  factor ``exp(-1 / record_memory)`` per sample, never below ``min_z``). A score above 1 is a new record:
  the series does something it has not done within the record's memory.

The score of a row is the largest ratio over statistics and columns; ``threshold_`` is ``k``.

Everything is a linear filter (``scipy.signal.lfilter``) or a running maximum (``np.maximum.accumulate``
on the log scale, where a decaying maximum is a plain running maximum of a shifted sequence), so scoring
is vectorised over samples; the state (filter levels and records) is a few numbers per column, so chunks
score exactly like the whole stream.
"""

from __future__ import annotations

import math
from typing import Self

import numpy as np
from numpy.typing import ArrayLike
from scipy.signal import lfilter

from models.detectors.base import FloatArray, State, StreamingDetector, as_2d, check_is_fitted
from models.detectors.robust import resolution_floor

#: E|X| of a standard normal is sqrt(2/pi); the mean absolute deviation times this is a standard deviation.
MEAN_ABS_TO_SIGMA = math.sqrt(math.pi / 2.0)
#: Rows per block of the decaying running maximum (bounds the size of the log-scale shift).
_BLOCK = 1 << 14
#: Statistics scored: point residual, fast level, rate of change, change of the spread of changes.
N_STATS = 4
#: A change of the spread of changes by this factor counts as ``min_z``.
SPREAD_CHANGE = 3.0
_VECTORS = ("m", "s", "f", "last", "ds", "dfast")


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
    """Adaptive baseline with record-normalised point and level statistics (see the module docstring).

    Parameters
    ----------
    memory : float
        Samples of memory of the baseline level and scale.
    fast : float
        Samples of memory of the fast level compared with the baseline.
    record_memory : float
        Samples over which a past record decays by a factor e.
    min_z : float
        A statistic below this many scale units is never a record.
    rel_floor : float
        Scale floor as a fraction of the series' typical magnitude (besides its resolution).
    k : float
        Threshold on the score (1 = any new record; 1.05 = 5 % above it).

    The defaults were chosen on part of the NAB corpus (its artificial, AWS CloudWatch and known-cause
    categories) and are checked on the rest (``bench/nab.py``), on the simulators and on Tennessee Eastman
    channels; they are the same for every series.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> det = StreamMonitor().fit(rng.normal(size=500))
    >>> x = rng.normal(size=600); x[300:] += 6.0
    >>> flags = det.predict(x)
    >>> int(np.argmax(flags)), int(flags[320:].sum())
    (300, 0)
    """

    name = "stream_monitor"

    def __init__(
        self,
        memory: float = 200.0,
        fast: float = 10.0,
        record_memory: float = 30_000.0,
        min_z: float = 3.0,
        rel_floor: float = 1e-3,
        k: float = 1.05,
    ) -> None:
        self.memory = memory
        self.fast = fast
        self.record_memory = record_memory
        self.min_z = min_z
        self.rel_floor = rel_floor
        self.k = k

    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> Self:
        """Learn each column's scale floor and starting level/scale; the state after ``X`` is kept."""
        if not self.memory >= 1.0 or not self.fast >= 1.0 or not self.record_memory >= 1.0:
            raise ValueError("memory, fast and record_memory must be at least 1 sample")
        if not self.min_z > 0.0:
            raise ValueError(f"min_z must be positive, got {self.min_z}")
        A = as_2d(X)
        if A.shape[0] == 0:
            raise ValueError("cannot fit on an empty array")
        self.floor_ = np.array([resolution_floor(A[:, j], self.rel_floor) for j in range(A.shape[1])])
        self.level0_ = np.median(A, axis=0)
        spread = MEAN_ABS_TO_SIGMA * np.mean(np.abs(A - self.level0_), axis=0)
        self.scale0_ = np.maximum(spread, self.floor_)
        self.threshold_ = float(self.k)
        return self

    def init_state(self) -> State:
        """Baseline at the training median and scale, no records."""
        check_is_fitted(self, "floor_")
        d = self.floor_.size
        mad = (self.scale0_ / MEAN_ABS_TO_SIGMA).tolist()
        return {
            "m": self.level0_.tolist(),
            "s": mad,
            "f": self.level0_.tolist(),
            "last": self.level0_.tolist(),
            "ds": list(mad),
            "dfast": list(mad),
            "rec": [[float(self.min_z)] * d for _ in range(N_STATS)],
        }

    def score_stream(self, X: ArrayLike, state: State) -> tuple[FloatArray, State]:
        """Scores of ``X`` continuing from ``state``."""
        check_is_fitted(self, "floor_")
        A = as_2d(X)
        d = self.floor_.size
        if A.shape[1] != d:
            raise ValueError(f"expected {d} features, got {A.shape[1]}")
        st = {key: np.asarray(state[key], dtype=np.float64).reshape(d) for key in _VECTORS}
        rec0 = np.asarray(state["rec"], dtype=np.float64).reshape(N_STATS, d)
        n = A.shape[0]
        if n == 0:
            return np.empty(0), {**{k: v.tolist() for k, v in st.items()}, "rec": rec0.tolist()}
        a = 1.0 / float(self.memory)
        b = 1.0 / float(self.fast)

        def ewma(values: FloatArray, weight: float, start: FloatArray) -> FloatArray:
            out, _ = lfilter([weight], [1.0, weight - 1.0], values, axis=0, zi=((1.0 - weight) * start)[None, :])
            return np.asarray(out, dtype=np.float64)

        def before(values: FloatArray, start: FloatArray) -> FloatArray:
            return np.vstack([start[None, :], values[:-1]])

        m = ewma(A, a, st["m"])
        m_prev = before(m, st["m"])
        resid = A - m_prev
        mad = ewma(np.abs(resid), a, st["s"])
        scale = np.maximum(MEAN_ABS_TO_SIGMA * before(mad, st["s"]), self.floor_)
        f = ewma(A, b, st["f"])
        diff = np.abs(A - before(A, st["last"]))
        ds = ewma(diff, a, st["ds"])
        dscale = np.maximum(MEAN_ABS_TO_SIGMA * before(ds, st["ds"]), self.floor_)
        dfast = ewma(diff, b, st["dfast"])
        point = np.abs(resid) / scale
        level = np.abs(f - m_prev) / (scale * math.sqrt(b / (2.0 - b)))
        rate = diff / dscale
        fast_spread = np.maximum(MEAN_ABS_TO_SIGMA * dfast, self.floor_)
        spread = float(self.min_z) * np.abs(np.log(fast_spread / dscale)) / math.log(SPREAD_CHANGE)
        log_decay = -1.0 / float(self.record_memory)
        floor_z = float(self.min_z)
        scores = np.zeros(n)
        new_rec = np.empty((N_STATS, d))
        for i, stat in enumerate((point, level, rate, spread)):
            stat = np.maximum(stat, floor_z * 1e-3)  # positive for the log scale; below min_z anyway
            rec = decaying_max(stat, rec0[i], log_decay)
            rec_prev = before(rec, rec0[i]) * math.exp(log_decay)
            ratio = stat / np.maximum(rec_prev, floor_z)
            np.maximum(scores, ratio.max(axis=1), out=scores)
            new_rec[i] = rec[-1]
        after = {"m": m[-1], "s": mad[-1], "f": f[-1], "last": A[-1], "ds": ds[-1], "dfast": dfast[-1]}
        return scores, {**{k: v.tolist() for k, v in after.items()}, "rec": new_rec.tolist()}
