"""Live-stream integrity of cycler counters: channel restarts and capacity counter resets.

A cycler channel that restarts (power loss, operator restart, firmware crash) sends ``test_time`` and
``cycle_index`` from the beginning again; a capacity counter that resets mid-step corrupts the cycle's
capacity and efficiency. Both must be caught on the live stream, before per-cycle features are built
from a cycle that is not one.
"""

from __future__ import annotations

from typing import ClassVar, Literal, Self

import numpy as np
from numpy.typing import ArrayLike

from models.detectors.base import FloatArray, State, StreamingDetector, as_2d, check_is_fitted


def previous_valid(x: FloatArray, carried: float | None) -> FloatArray:
    """For each position, the last finite value strictly before it (``carried`` from before the chunk)."""
    idx = np.maximum.accumulate(np.where(np.isfinite(x), np.arange(x.size), -1)) if x.size else np.zeros(0, int)
    before = np.concatenate([[-1], idx[:-1]]) if x.size else idx
    head = np.nan if carried is None else carried
    return np.where(before >= 0, x[np.maximum(before, 0)], head)


def _last_valid(x: FloatArray, carried: float | None) -> float | None:
    finite = x[np.isfinite(x)]
    return float(finite[-1]) if finite.size else carried


def _columns(X: ArrayLike, width: int, names: str) -> FloatArray:
    arr = as_2d(X, allow_nan=True)
    if arr.shape[1] != width:
        raise ValueError(f"X must have {width} columns: {names}")
    if np.isinf(arr).any():
        raise ValueError("input contains infinite values")
    return arr


class CounterMonotonicity(StreamingDetector):
    """Score = number of counters (``test_time``, ``cycle_index``) that went backwards at this sample.

    Each counter is compared with its last valid value (NaN values are skipped); a decrease by more
    than ``tolerance`` (seconds, cycles) is a restart. ``threshold_ = 0.5``: one counter going back flags.

    Parameters
    ----------
    time_tolerance : float
        Backward step of ``test_time`` (seconds) still accepted (clock jitter).

    ``X``: ``(n_samples, 2)`` columns ``test_time``, ``cycle_index``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[10, 1], [11, 1], [12, 2], [1, 1], [2, 1]], dtype=float)
    >>> CounterMonotonicity().fit().predict(X).tolist()
    [False, False, False, True, False]
    """

    name: ClassVar[str] = "cycler_counter_monotonicity"

    def __init__(self, time_tolerance: float = 0.0) -> None:
        self.time_tolerance = time_tolerance

    def fit(self, X: ArrayLike | None = None, y: ArrayLike | None = None) -> Self:
        """A rule: validates parameters and sets ``threshold_`` (``X`` is ignored)."""
        if self.time_tolerance < 0:
            raise ValueError("time_tolerance must be non-negative")
        self.threshold_ = 0.5
        return self

    def init_state(self) -> State:
        return {"test_time": None, "cycle_index": None}

    def score_stream(self, X: ArrayLike, state: State) -> tuple[FloatArray, State]:
        check_is_fitted(self)
        arr = _columns(X, 2, "test_time, cycle_index")
        t, c = arr[:, 0], arr[:, 1]
        with np.errstate(invalid="ignore"):
            back_t = t < previous_valid(t, state["test_time"]) - self.time_tolerance
            back_c = c < previous_valid(c, state["cycle_index"])
        scores = back_t.astype(np.float64) + back_c.astype(np.float64)
        return scores, {
            "test_time": _last_valid(t, state["test_time"]),
            "cycle_index": _last_valid(c, state["cycle_index"]),
        }


class CapacityReset(StreamingDetector):
    """Score = largest drop (Ah) of the charge or discharge capacity counter within one cycle (or step).

    Counters only grow within a cycle (they restart when a new cycle begins, BEEP convention), so a drop
    while ``cycle_index`` is unchanged is a reset of the counter. With ``scope="step"`` a restart at a
    new step is accepted too (cyclers that count per step).

    Parameters
    ----------
    tolerance : float
        Drop (Ah) still accepted (counter resolution); becomes ``threshold_``.
    scope : {"cycle", "step"}
        Where counters may legitimately restart.

    ``X``: ``(n_samples, 4)`` columns ``cycle_index``, ``step_index``, ``charge_capacity``,
    ``discharge_capacity``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1, 1, 0.5, 0], [1, 1, 1.0, 0], [1, 1, 0.0, 0], [2, 1, 0.0, 0]], dtype=float)
    >>> CapacityReset().fit().predict(X).tolist()
    [False, False, True, False]
    """

    name: ClassVar[str] = "cycler_capacity_reset"

    def __init__(self, tolerance: float = 1e-3, scope: Literal["cycle", "step"] = "cycle") -> None:
        self.tolerance = tolerance
        self.scope = scope

    def fit(self, X: ArrayLike | None = None, y: ArrayLike | None = None) -> Self:
        """A rule: validates parameters and sets ``threshold_ = tolerance`` (``X`` is ignored)."""
        if self.tolerance < 0 or self.scope not in ("cycle", "step"):
            raise ValueError("need tolerance >= 0 and scope 'cycle' or 'step'")
        self.threshold_ = float(self.tolerance)
        return self

    def init_state(self) -> State:
        # Per counter: its last valid value and the cycle and step it was read in.
        return {"charge": None, "discharge": None}

    def score_stream(self, X: ArrayLike, state: State) -> tuple[FloatArray, State]:
        check_is_fitted(self)
        arr = _columns(X, 4, "cycle_index, step_index, charge_capacity, discharge_capacity")
        keys = arr[:, :2] if self.scope == "step" else arr[:, :1]
        scores = np.zeros(arr.shape[0])
        new_state: State = {}
        for name, col in (("charge", 2), ("discharge", 3)):
            ok = np.isfinite(arr[:, col]) & np.isfinite(keys).all(axis=1)
            q, k = arr[ok, col], keys[ok]
            last = state[name]
            head = [np.nan] * (1 + k.shape[1]) if last is None else [last[0], *last[1 : 1 + k.shape[1]]]
            prev = np.vstack([np.asarray(head, dtype=np.float64)[None, :], np.column_stack([q, k])[:-1]])
            same = (k == prev[:, 1:]).all(axis=1)
            with np.errstate(invalid="ignore"):
                drop = np.where(same, np.maximum(prev[:, 0] - q, 0.0), 0.0)
            scores[ok] = np.maximum(scores[ok], np.nan_to_num(drop))
            new_state[name] = (
                [float(q[-1]), *(None if v != v else float(v) for v in arr[ok][-1, :2])] if q.size else last
            )
        return scores, new_state
