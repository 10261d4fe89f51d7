"""From an instrument's columns to one shape: BEEP-style samples with the same meaning whatever the cycler.

* ``test_time`` in seconds, never going backwards (a restart of the instrument's clock continues from where
  it stopped); ``time`` the absolute time of each sample, strictly increasing (ties one microsecond apart),
  from the file's own start time, or estimated (flagged) where the file has none.
* ``step_index`` counts the steps of the test from 1 (a new step wherever the instrument's step number,
  cycle number or step label changes), so a step is a contiguous run whatever the schedule's numbering.
* ``step_type`` is ``charge``, ``discharge``, ``rest`` or ``pause``: from the instrument's label where it
  says one (``CC Chg``, ``D``, ``Rest``, ``Pause`` ...), else from the step's mean current.
* ``current`` is positive on charge, negative on discharge (Maccor writes |I| with a C/D state).
* ``cycle_index`` counts cycles from 1 in the order the instrument numbers them; files without a cycle
  column start a new cycle at each charge step that follows a discharge.
* ``charge_capacity``/``discharge_capacity`` (Ah) and ``charge_energy``/``discharge_energy`` (Wh) are
  cumulative within the cycle, starting at 0, whatever the instrument's counters do (run through the test,
  restart each cycle or step, one unsigned counter for both directions, or one signed counter). Rest and
  pause steps are kept and add nothing.
* ``temperature`` outside -80..200 °C (an unconnected thermocouple reads -2500) and non-positive
  resistances are missing values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt

from cellfiles.raw import CellFileError, FloatArray, RawColumns

STEP_TYPES = ("charge", "discharge", "rest", "pause")
_CHARGE, _DISCHARGE, _REST, _PAUSE = 1, -1, 0, 2
_UNIX = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True, eq=False)
class Samples:
    """Normalised samples of one file, in file order (see the module docstring for each column's meaning)."""

    format: str
    time_us: npt.NDArray[np.int64]
    time_estimated: bool
    test_time: FloatArray
    cycle_index: npt.NDArray[np.int32]
    step_index: npt.NDArray[np.int32]
    step_type: npt.NDArray[np.object_]
    voltage: FloatArray
    current: FloatArray
    temperature: FloatArray
    charge_capacity: FloatArray
    discharge_capacity: FloatArray
    charge_energy: FloatArray
    discharge_energy: FloatArray
    internal_resistance: FloatArray
    skipped_rows: int = 0
    meta: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.time_us.size)

    @property
    def n_cycles(self) -> int:
        return int(np.unique(self.cycle_index).size)

    @property
    def start(self) -> datetime:
        return datetime.fromtimestamp(int(self.time_us[0]) / 1e6, tz=UTC)

    @property
    def end(self) -> datetime:
        return datetime.fromtimestamp(int(self.time_us[-1]) / 1e6, tz=UTC)


def label_kind(label: str) -> int | None:
    """The direction a step label names: charge 1, discharge -1, rest 0, pause 2; None if it names none."""
    for words, kind in (("放电", _DISCHARGE), ("充电", _CHARGE), ("搁置", _REST), ("静置", _REST), ("暂停", _PAUSE)):
        if words in label:  # Neware's Chinese step names: 恒流放电, 恒流恒压充电, 搁置 ...
            return kind
    s = re.sub(r"[^a-z]", "", label.lower())
    if not s:
        return None
    if s in ("d", "dchg", "dch", "dis", "discharge") or "dchg" in s or "dischg" in s or "discharg" in s:
        return _DISCHARGE
    if s in ("c", "chg", "ch", "charge") or "chg" in s or "charg" in s:
        return _CHARGE
    if s in ("r", "rest", "ocv", "opencircuit", "relax", "relaxation") or "rest" in s or s.startswith("ocv"):
        return _REST
    if s in ("p", "pause", "hold", "suspend", "suspended") or "pause" in s:
        return _PAUSE
    return None


def _ffill(x: FloatArray) -> FloatArray:
    ok = np.isfinite(x)
    if ok.all():
        return x
    idx = np.where(ok, np.arange(x.size), 0)
    np.maximum.accumulate(idx, out=idx)
    out = x[idx]
    return np.where(np.isfinite(out), out, 0.0)


def counter_increments(q: FloatArray, new_step: npt.NDArray[np.bool_]) -> FloatArray:
    """Per-sample increase of a non-negative counter that may restart (at a step, a cycle, or any time).

    A drop is a restart when it happens at a step boundary or falls below half the previous value; the new
    value is then what accumulated since the restart. Smaller drops inside a step are noise and add nothing.
    """
    q = _ffill(np.abs(q))
    prev = np.concatenate([q[:1], q[:-1]])
    d = q - prev
    restart = (d < 0) & (new_step | (q < 0.5 * prev))
    inc = np.where(d >= 0, d, np.where(restart, q, 0.0))
    inc[0] = 0.0
    return inc


def per_cycle_cumsum(inc: FloatArray, cycle_start: npt.NDArray[np.bool_]) -> FloatArray:
    """Running sum of ``inc`` that restarts at 0 on every sample where ``cycle_start`` is true."""
    total = np.cumsum(inc)
    base_at = np.where(cycle_start, total, 0.0)
    idx = np.where(cycle_start, np.arange(inc.size), 0)
    np.maximum.accumulate(idx, out=idx)
    return total - base_at[idx]


def _step_kinds(
    labels: npt.NDArray[np.object_] | None,
    current: FloatArray,
    starts: npt.NDArray[np.intp],
) -> npt.NDArray[np.int8]:
    """One kind per step: the label's, else from the step's mean current."""
    n_steps = starts.size
    kinds = np.full(n_steps, -9, dtype=np.int8)
    if labels is not None:
        uniq, inv = np.unique(
            np.asarray([("" if v is None else str(v)) for v in labels[starts]], dtype=object), return_inverse=True
        )
        mapped = np.array([k if (k := label_kind(str(u))) is not None else -9 for u in uniq], dtype=np.int8)
        kinds = mapped[inv]
    cur = np.nan_to_num(current)
    sums = np.add.reduceat(cur, starts)
    counts = np.diff(np.append(starts, cur.size))
    mean = sums / counts
    eps = 1e-4 * float(np.max(np.abs(cur))) + 1e-9 if cur.size else 1e-9
    from_current = np.where(mean > eps, _CHARGE, np.where(mean < -eps, _DISCHARGE, _REST)).astype(np.int8)
    return np.where(kinds == -9, from_current, kinds).astype(np.int8)


def _cycles_from_steps(kinds: npt.NDArray[np.int8]) -> npt.NDArray[np.int64]:
    """Cycle number per step: a new cycle at each charge step whose last active step was a discharge."""
    active = np.where(np.isin(kinds, (_CHARGE, _DISCHARGE)), kinds, 0)
    idx = np.where(active != 0, np.arange(kinds.size), -1)
    np.maximum.accumulate(idx, out=idx)
    prev_idx = np.concatenate([[-1], idx[:-1]])
    prev_kind = np.where(prev_idx >= 0, kinds[np.maximum(prev_idx, 0)], 0)
    boundary = (kinds == _CHARGE) & (prev_kind == _DISCHARGE)
    return 1 + np.cumsum(boundary)


def _changes(x: FloatArray) -> npt.NDArray[np.bool_]:
    x = _ffill(x)
    out = np.ones(x.size, dtype=bool)
    out[1:] = x[1:] != x[:-1]
    return out


def normalise(raw: RawColumns, *, path: Path | str, now: datetime | None = None) -> Samples:
    """Normalised samples of ``raw`` (see the module docstring)."""
    num = raw.numeric
    for needed in ("test_time", "voltage", "current"):
        if needed not in num:
            raise CellFileError(path, f"no {needed.replace('_', ' ')} column")
    keep = np.isfinite(num["test_time"]) & (np.isfinite(num["voltage"]) | np.isfinite(num["current"]))
    skipped = int(keep.size - keep.sum())
    if not keep.any():
        raise CellFileError(path, "no rows with a time and a voltage or current")
    col = {k: v[keep] for k, v in num.items()}
    labels = raw.step_type[keep] if raw.step_type is not None else None
    n = int(keep.sum())

    tt_raw = col["test_time"]
    dt = np.diff(tt_raw)
    test_time = tt_raw[0] + np.concatenate([[0.0], np.cumsum(np.where(dt < 0, 0.0, dt))])

    new_step = np.zeros(n, dtype=bool)
    new_step[0] = True
    for key in ("step", "cycle"):
        if key in col:
            new_step |= _changes(col[key])
    if labels is not None:
        lab = np.asarray(labels, dtype=object)
        new_step[1:] |= lab[1:] != lab[:-1]
    starts = np.flatnonzero(new_step)
    step_id = np.cumsum(new_step)
    current = _ffill(col["current"]) if np.isfinite(col["current"]).any() else np.zeros(n)
    kinds = _step_kinds(labels, current, starts)
    sample_kind = kinds[step_id - 1]
    if not raw.signed_current_known:
        current = np.where(sample_kind == _DISCHARGE, -np.abs(current), np.abs(current))

    if "cycle" in col and np.unique(_ffill(col["cycle"])).size > 1:
        cycle = np.cumsum(_changes(col["cycle"])).astype(np.int32)
    else:
        cycle = _cycles_from_steps(kinds)[step_id - 1].astype(np.int32)
    cycle_start = np.ones(n, dtype=bool)
    cycle_start[1:] = cycle[1:] != cycle[:-1]

    charging, discharging = sample_kind == _CHARGE, sample_kind == _DISCHARGE
    inc_c, inc_d = _direction_increments(col, raw.signed_capacity, new_step, charging, discharging, current, test_time)
    voltage = col["voltage"]
    if "charge_energy" in col and "discharge_energy" in col:
        e_c = counter_increments(col["charge_energy"], new_step)
        e_d = counter_increments(col["discharge_energy"], new_step)
    elif "energy" in col:
        e = counter_increments(col["energy"], new_step)
        e_c, e_d = np.where(charging, e, 0.0), np.where(discharging, e, 0.0)
    else:  # no energy counter: capacity increments times the voltage
        v = np.nan_to_num(_ffill(voltage))
        e_c, e_d = inc_c * v, inc_d * v

    start, estimated = raw.start, False
    if start is None:
        # no absolute time in the file: place the test so that it ends now, and flag every sample
        start = (now or datetime.now(UTC)) - timedelta(seconds=float(test_time[-1] - test_time[0]))
        estimated = True
    start_us = (start - _UNIX) // timedelta(microseconds=1)
    rel = np.round((test_time - test_time[0]) * 1e6).astype(np.int64)
    ramp = np.arange(n, dtype=np.int64)
    time_us = np.maximum.accumulate(start_us + rel - ramp) + ramp

    temperature = col.get("temperature", np.full(n, np.nan))
    temperature = np.where((temperature > -80) & (temperature < 200), temperature, np.nan)
    ir = col.get("internal_resistance", np.full(n, np.nan))
    ir = np.where(ir > 0, ir, np.nan)
    names = np.array(["rest", "charge", "pause", "discharge"], dtype=object)  # index kind % 4: 0, 1, 2, -1->3
    return Samples(
        format=raw.format,
        time_us=time_us,
        time_estimated=estimated,
        test_time=test_time,
        cycle_index=cycle,
        step_index=step_id.astype(np.int32),
        step_type=names[sample_kind.astype(np.int64) % 4],
        voltage=voltage,
        current=current,
        temperature=temperature,
        charge_capacity=per_cycle_cumsum(inc_c, cycle_start),
        discharge_capacity=per_cycle_cumsum(inc_d, cycle_start),
        charge_energy=per_cycle_cumsum(e_c, cycle_start),
        discharge_energy=per_cycle_cumsum(e_d, cycle_start),
        internal_resistance=ir,
        skipped_rows=skipped,
        meta=dict(raw.meta),
    )


def _direction_increments(
    col: dict[str, FloatArray],
    signed: bool,
    new_step: npt.NDArray[np.bool_],
    charging: npt.NDArray[np.bool_],
    discharging: npt.NDArray[np.bool_],
    current: FloatArray,
    test_time: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Charge and discharge capacity added by each sample (Ah)."""
    if "charge_capacity" in col and "discharge_capacity" in col:
        return counter_increments(col["charge_capacity"], new_step), counter_increments(
            col["discharge_capacity"], new_step
        )
    if "capacity" in col and signed:  # one counter up on charge, down on discharge: BioLogic (Q-Qo)
        d = np.diff(_ffill(col["capacity"]), prepend=_ffill(col["capacity"])[:1])
        return np.maximum(d, 0.0), np.maximum(-d, 0.0)
    if "capacity" in col:  # one unsigned counter restarting per step (Maccor, Neware, Novonix)
        inc = counter_increments(col["capacity"], new_step)
        return np.where(charging, inc, 0.0), np.where(discharging, inc, 0.0)
    # no counter at all: the current integrated over time (trapezoids)
    dt = np.diff(test_time, prepend=test_time[:1])
    i_mid = 0.5 * (current + np.concatenate([current[:1], current[:-1]]))
    q = i_mid * dt / 3600.0
    return np.maximum(q, 0.0), np.maximum(-q, 0.0)
