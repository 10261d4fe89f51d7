"""Humidity artefact of low-cost optical PM sensors: flag high RH and correct the hygroscopic growth.

Optical sensors size particles as they are in the air. Above roughly 70 % relative humidity particles take
up water and grow, so the sensor over-reads the dry mass the limits refer to. The kappa-Köhler growth
correction divides the raw value by the growth of the particle volume::

    pm_corr = pm / (1 + kappa * aw**2 / (1 - aw)),   aw = rh / 100

``kappa`` is the aerosol's hygroscopicity. The default 0.4 is a mid value for mixed urban and industrial
aerosol; values of roughly 0.2 to 0.6 are reported for field calibrations of optical particle counters, and
a site co-located with a reference monitor should fit its own. RH is clipped at ``rh_max`` because the
correction diverges as RH approaches 100 % (fog), where no correction is trustworthy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike

from models.detectors.base import BoolArray, FloatArray, State, StreamingDetector, as_2d, check_is_fitted


def growth_factor(rh: ArrayLike, *, kappa: float, rh_max: float = 95.0) -> FloatArray:
    """Factor by which a raw reading over-reads the dry mass at relative humidity ``rh`` (%)."""
    aw = np.clip(np.asarray(rh, dtype=np.float64), 0.0, rh_max) / 100.0
    return np.asarray(1.0 + kappa * aw**2 / (1.0 - aw), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class RHCorrection:
    """Raw and corrected values side by side, with the high-RH flag and the growth factor used."""

    raw: FloatArray
    corrected: FloatArray
    growth: FloatArray
    flag: BoolArray


class RHArtefact(StreamingDetector):
    """Score = relative over-read ``growth - 1`` implied by the RH held over the last ``min_readings`` readings.

    Parameters
    ----------
    kappa : float
        Hygroscopicity of the aerosol (default 0.4, see the module notes).
    rh_threshold : float
        RH (%) above which readings are flagged as humidity-affected; sets ``threshold_``.
    rh_max : float
        RH (%) at which the correction is capped.
    min_readings : int
        Valid RH readings in a row that must all be above the threshold. Condensation on a sensor lasts
        minutes to hours, while a humid spell read by a sensor with about 1 %RH of noise crosses a high
        threshold for single readings; the score uses the lowest RH of the last ``min_readings`` readings.
        The first ``min_readings - 1`` readings of a stream score NaN (no decision).

    ``X`` is ``(n_samples, 2)``: the PM value and the RH in %. Streaming keeps the last ``min_readings - 1``
    valid RH readings; a missing RH scores NaN and is skipped. :meth:`correct` returns the raw and corrected
    series and the per-reading flag.

    Examples
    --------
    >>> import numpy as np
    >>> det = RHArtefact(kappa=0.4).fit()
    >>> out = det.correct(np.array([[20.0, 50.0], [20.0, 90.0]]))
    >>> out.flag.tolist(), bool(out.corrected[1] < out.raw[1])
    ([False, True], True)
    >>> rh = np.array([80.0, 98.0, 80.0, 98.0, 98.0, 98.0])
    >>> X = np.column_stack([np.full(6, 20.0), rh])
    >>> RHArtefact(rh_threshold=97.0, rh_max=99.0, min_readings=3).fit().predict(X).tolist()
    [False, False, False, False, False, True]
    """

    name: ClassVar[str] = "dust_rh_artefact"

    def __init__(
        self, kappa: float = 0.4, rh_threshold: float = 70.0, rh_max: float = 95.0, min_readings: int = 1
    ) -> None:
        self.kappa = kappa
        self.rh_threshold = rh_threshold
        self.rh_max = rh_max
        self.min_readings = min_readings

    def fit(self, X: ArrayLike | None = None, y: ArrayLike | None = None) -> Self:
        """A physical rule: validates parameters and sets ``threshold_`` (``X`` is ignored)."""
        if self.kappa < 0:
            raise ValueError("kappa must be non-negative")
        if not 0 < self.rh_threshold < self.rh_max < 100:
            raise ValueError("need 0 < rh_threshold < rh_max < 100")
        if int(self.min_readings) < 1:
            raise ValueError("min_readings must be at least 1")
        self.threshold_ = float(growth_factor(self.rh_threshold, kappa=self.kappa, rh_max=self.rh_max) - 1.0)
        return self

    def _columns(self, X: ArrayLike) -> tuple[FloatArray, FloatArray]:
        arr = as_2d(X, allow_nan=True)
        if arr.shape[1] != 2:
            raise ValueError("X must have two columns: PM value and RH (%)")
        if np.isinf(arr).any():
            raise ValueError("input contains infinite values")
        return arr[:, 0], arr[:, 1]

    def init_state(self) -> State:
        return {"rh": []}

    def score_stream(self, X: ArrayLike, state: State) -> tuple[FloatArray, State]:
        """Relative over-read per sample from the sustained RH (NaN where RH is missing or history is short)."""
        check_is_fitted(self)
        _, rh = self._columns(X)
        k = int(self.min_readings)
        valid = np.isfinite(rh)
        tail = np.asarray(state["rh"], dtype=np.float64)
        if not valid.any():
            return np.full(rh.size, np.nan), {"rh": tail.tolist()}
        history = np.concatenate([np.full(max(k - 1 - tail.size, 0), np.nan), tail, rh[valid]])
        # Lowest RH of each valid reading and the k - 1 valid readings before it (NaN while history is short).
        sustained = sliding_window_view(history, k).min(axis=1)
        scores = np.full(rh.size, np.nan)
        scores[valid] = growth_factor(sustained, kappa=self.kappa, rh_max=self.rh_max) - 1.0
        keep = history[history.size - (k - 1) :] if k > 1 else history[:0]
        return scores, {"rh": keep[np.isfinite(keep)].tolist()}

    def correct(self, X: ArrayLike) -> RHCorrection:
        """Raw and corrected PM with the per-reading flag; a missing RH leaves the value uncorrected and unflagged."""
        check_is_fitted(self)
        pm, rh = self._columns(X)
        growth = growth_factor(rh, kappa=self.kappa, rh_max=self.rh_max)
        growth = np.where(np.isfinite(growth), growth, 1.0)
        return RHCorrection(raw=pm, corrected=pm / growth, growth=growth, flag=growth - 1.0 > self.threshold_)
