"""Per-cycle features of one channel: capacities, efficiencies, resistance, temperature, heating rate.

Computed from the samples of complete cycles with grouped reductions (``reduceat``), no per-sample loops.
Capacity and energy counters may restart every cycle (BEEP convention) or run on through the test: the
throughput of a cycle is ``max - min`` of its counter either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.cycler.samples import ChannelSamples
from models.detectors.base import FloatArray


@dataclass(frozen=True, slots=True, eq=False)
class CycleFeatures:
    """One value per cycle, cycles in increasing ``cycle_index`` order (NaN where not computable).

    ``coulombic_efficiency`` = discharge / charge capacity of the cycle, ``energy_efficiency`` the same for
    energy; ``internal_resistance`` is the median of the values the cycler reported, ``pulse_resistance``
    the median of dV/dI at current steps; ``max_dtdt`` is in °C per minute.
    """

    cycle_index: FloatArray
    n_samples: FloatArray
    charge_capacity: FloatArray
    discharge_capacity: FloatArray
    coulombic_efficiency: FloatArray
    energy_efficiency: FloatArray
    internal_resistance: FloatArray
    pulse_resistance: FloatArray
    max_temperature: FloatArray
    max_dtdt: FloatArray


def group_median(values: FloatArray, groups: np.ndarray, n_groups: int) -> FloatArray:
    """Median of the finite ``values`` of each group ``0..n_groups-1`` (NaN for a group without any)."""
    ok = np.isfinite(values)
    v, g = values[ok], groups[ok]
    order = np.lexsort((v, g))
    v = v[order]
    counts = np.bincount(g, minlength=n_groups)
    starts = np.cumsum(counts) - counts
    lo = starts + np.maximum(counts - 1, 0) // 2
    hi = starts + counts // 2
    top = max(v.size - 1, 0)
    pad = v if v.size else np.full(1, np.nan)
    med = 0.5 * (pad[np.minimum(lo, top)] + pad[np.minimum(hi, top)])
    return np.where(counts > 0, med, np.nan)


def heating_rate(test_time: FloatArray, temperature: FloatArray, window_s: float) -> FloatArray:
    """dT/dt in °C/min over the last ``window_s`` seconds (NaN while less than half a window is covered)."""
    j = np.searchsorted(test_time, test_time - window_s, side="left")
    span = test_time - test_time[j]
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = 60.0 * (temperature - temperature[j]) / span
    return np.where(span >= 0.5 * window_s, rate, np.nan)


def cycle_features(
    samples: ChannelSamples,
    *,
    pulse_min_di: float = 0.5,
    pulse_max_dt_s: float = 2.0,
    rate_window_s: float = 60.0,
    drop_last: bool = False,
) -> CycleFeatures:
    """Per-cycle features of one channel's samples (stream order, ``test_time`` non-decreasing).

    Parameters
    ----------
    samples : ChannelSamples
        The samples; those without a ``cycle_index`` are ignored.
    pulse_min_di : float
        A current change of at least this many amperes between consecutive samples is a pulse edge.
    pulse_max_dt_s : float
        Edges further apart than this in time are not used (the drop must be the ohmic one).
    rate_window_s : float
        Span over which dT/dt is measured (a longer span averages the sensor noise).
    drop_last : bool
        Leave out the last cycle of the samples: on a live stream it is still running, and its partial
        capacity would look like a collapse of the coulombic efficiency.

    Pulse resistance needs samples at most ``pulse_max_dt_s`` apart around the current steps; with
    coarser logging it is NaN and the cycler's reported ``internal_resistance`` is what remains.

    Examples
    --------
    >>> import numpy as np
    >>> s = ChannelSamples.from_columns({"test_time": np.arange(4.0), "cycle_index": [1, 1, 2, 2],
    ...                                  "charge_capacity": [0, 2.0, 0, 2.0], "discharge_capacity": [0, 1.98, 0, 1.9]})
    >>> cycle_features(s).coulombic_efficiency.round(3).tolist()
    [0.99, 0.95]
    """
    t = samples.test_time
    if t.size > 1 and np.any(np.diff(t[np.isfinite(t)]) < 0):
        raise ValueError("test_time goes backwards: split the stream at channel restarts first")
    keep = np.isfinite(samples.cycle_index)
    if drop_last and keep.any():
        keep &= samples.cycle_index != samples.cycle_index[keep][-1]
    cycles, group = np.unique(samples.cycle_index[keep], return_inverse=True)
    n = cycles.size
    order = np.argsort(group, kind="stable")
    starts = np.searchsorted(group[order], np.arange(n))

    def reduce(ufunc: np.ufunc, column: FloatArray) -> FloatArray:
        if n == 0:
            return np.zeros(0)
        return np.asarray(ufunc.reduceat(column[keep][order], starts), dtype=np.float64)

    def throughput(column: FloatArray) -> FloatArray:
        return reduce(np.fmax, column) - reduce(np.fmin, column)

    qc, qd = throughput(samples.charge_capacity), throughput(samples.discharge_capacity)
    ec, ed = throughput(samples.charge_energy), throughput(samples.discharge_energy)
    with np.errstate(invalid="ignore", divide="ignore"):
        ce = np.where(qc > 0, qd / qc, np.nan)
        ee = np.where(ec > 0, ed / ec, np.nan)

    # Pulse resistance: ohmic step dV/dI between consecutive samples of the same cycle.
    v, i, c = samples.voltage, samples.current, samples.cycle_index
    d_i, d_v, d_t = np.diff(i), np.diff(v), np.diff(t)
    edge = (np.abs(d_i) >= pulse_min_di) & (d_t <= pulse_max_dt_s) & (c[1:] == c[:-1])
    with np.errstate(invalid="ignore", divide="ignore"):
        r_edge = np.where(edge, d_v / d_i, np.nan)
    r_edge = np.where(r_edge > 0, r_edge, np.nan)
    r_sample = np.concatenate([[np.nan], r_edge])[keep]
    rate = np.full(t.size, np.nan)
    timed = np.isfinite(t)
    rate[timed] = heating_rate(t[timed], samples.temperature[timed], rate_window_s)

    return CycleFeatures(
        cycle_index=cycles.astype(np.float64),
        n_samples=np.bincount(group, minlength=n).astype(np.float64),
        charge_capacity=qc,
        discharge_capacity=qd,
        coulombic_efficiency=ce,
        energy_efficiency=ee,
        internal_resistance=group_median(samples.internal_resistance[keep], group, n),
        pulse_resistance=group_median(r_sample, group, n),
        max_temperature=reduce(np.fmax, samples.temperature),
        max_dtdt=reduce(np.fmax, rate),
    )
