"""A bank of cycler channels: an equivalent-circuit cell per channel, stepped for all channels at once.

Each channel holds one cell: OCV(SOC) + series resistance + two RC pairs (exact zero-order-hold update),
a lumped thermal node, Arrhenius resistances, and ageing applied per completed cycle from the closed-form
law of :mod:`simulators.cycler.cell`. Time advances one sample interval per iteration of a loop whose body
works on arrays of all channels; everything that depends only on time (fault effects, noise) is drawn for
a whole chunk before the loop. The sample at ``start + i * dt`` reports the state at the end of the
interval that ends there.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from simulators.cycler import cell, protocol
from simulators.cycler.config import CyclerConfig, StepType
from simulators.cycler.faults import ChunkEffects, chunk_effects, overlapping, truth_events
from simulators.cycler.frame import FLOAT_FIELDS, CyclerFrame, datetime64_ms
from simulators.realism import Realism

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_KELVIN = 273.15
# Duration of the current pulse a cycler uses for its internal-resistance reading.
_IR_PULSE_S = 10.0


def _limit_current(
    *,
    v_lim: FloatArray,
    q: FloatArray,
    cap: FloatArray,
    gain_h: FloatArray,
    r_total: FloatArray,
    v_rc: FloatArray,
    i_guess: FloatArray,
) -> FloatArray:
    """Current that puts the terminal voltage at the end of the interval on ``v_lim``.

    The OCV curve is piecewise linear, so a few secant steps between the start of the interval and the
    current estimate converge on the kinks where a tangent from the start would overshoot.
    """
    soc0 = q / cap
    ocv0 = cell.ocv(soc0)
    cur = i_guess
    for _ in range(3):
        d_soc = gain_h * cur / cap
        small = np.abs(d_soc) < 1e-9
        secant = np.where(small, cell.ocv_slope(soc0), (cell.ocv(soc0 + d_soc) - ocv0) / np.where(small, 1.0, d_soc))
        cur = (v_lim - ocv0 - v_rc) / (r_total + secant * gain_h / cap)
    return cur


class _Run:
    """The mutable state of one continuous run, advanced chunk by chunk."""

    def __init__(self, config: CyclerConfig, start: datetime) -> None:
        self.cfg = config
        self.start = start
        self.t0 = datetime64_ms(start)
        self.truth = truth_events(config, start)
        self.table = protocol.build_table(config.protocol)
        self.k = 0
        self.realism = (
            Realism(config.realism, config.seed, config.device_ids, int(self.t0.astype(np.int64)), level=25.0)
            if config.realism is not None
            else None
        )
        n = config.n_channels
        c, a = config.cell, config.ageing
        rng = np.random.default_rng(config.seed)
        self.rng = rng
        # Cell-to-cell variation, drawn once in a fixed order.
        z = rng.standard_normal((5, n))
        self.q0 = c.capacity_ah * (1.0 + c.capacity_cv * z[0])
        self.r_scale = np.exp(c.resistance_cv * z[1])
        self.fade = a.fade_per_cycle * np.exp(a.fade_cv * z[2])
        self.knee = a.knee_cycle * np.exp(a.knee_cv * z[3])
        self.curv = np.full(n, a.knee_curvature)
        self.ambient = c.ambient_c + c.ambient_sd_c * z[4]
        # Dynamic state.
        self.cycle: IntArray = np.ones(n, dtype=np.int64)
        self.cycle_offset: IntArray = np.zeros(n, dtype=np.int64)
        self.time_offset = np.zeros(n)
        self.step: IntArray = protocol.cycle_start_step(self.cycle, config.protocol)
        self.elapsed = np.zeros(n)
        self.cap = self.q0.copy()
        self.r_age = np.ones(n)
        self.q = c.initial_soc * self.cap
        self.v1 = np.zeros(n)
        self.v2 = np.zeros(n)
        self.temp = self.ambient.copy()
        self.acc = np.zeros((4, n))  # charge Ah, discharge Ah, charge Wh, discharge Wh
        self.ir = self._ir_true()

    def _ir_true(self) -> FloatArray:
        c = self.cfg.cell
        rt = np.exp(c.r_activation_k * (1.0 / (self.temp + _KELVIN) - 1.0 / (25.0 + _KELVIN)))
        base = self.r_scale * self.r_age * rt
        ir: FloatArray = base * (c.r0_ohm + c.r1_ohm * (1.0 - np.exp(-_IR_PULSE_S / c.tau1_s)))
        return ir

    def _age(self, done: NDArray[np.bool_]) -> None:
        """Apply the ageing law to channels that just completed a cycle."""
        n_done = (self.cycle[done] - 1).astype(np.float64)
        a = self.cfg.ageing
        frac = cell.capacity_fraction(n_done, self.fade[done], self.knee[done], self.curv[done], a.knee_width)
        self.cap[done] = self.q0[done] * frac
        self.r_age[done] = cell.resistance_factor(n_done, a, self.knee[done], self.curv[done])

    def _apply_events(self, events: list[tuple[int, str, float]], t_s: float) -> None:
        p = self.cfg.protocol
        for ch, kind, value in events:
            if kind == "early_knee":
                self.knee[ch] = min(self.knee[ch], float(self.cycle[ch] - 1))
                self.curv[ch] *= value
            elif kind == "counter_reset":
                self.cycle_offset[ch] = self.cycle[ch] - 1
                self.time_offset[ch] = t_s
                self.step[ch] = protocol.REGULAR_START if self.cycle[ch] > p.formation_cycles else 1
                self.elapsed[ch] = 0.0
                self.acc[:, ch] = 0.0
            elif kind == "capacity_reset":
                self.acc[:, ch] = 0.0

    def advance(self, n_steps: int) -> CyclerFrame:
        """Simulate the next ``n_steps`` samples of every channel."""
        cfg, c, p, tab = self.cfg, self.cfg.cell, self.cfg.protocol, self.table
        n = cfg.n_channels
        dt = cfg.sample_interval_s
        k_idx = np.arange(self.k, self.k + n_steps)
        t_s = k_idx.astype(np.float64) * dt
        eff: ChunkEffects = chunk_effects(cfg, t_s)
        noise = self.rng.standard_normal((n_steps, 4, n))
        out_f = np.empty((len(FLOAT_FIELDS), n_steps, n))
        out_cyc = np.empty((n_steps, n), dtype=np.int64)
        out_step = np.empty((n_steps, n), dtype=np.int64)
        out_type = np.empty((n_steps, n), dtype=np.int8)

        a1, a2 = np.exp(-dt / c.tau1_s), np.exp(-dt / c.tau2_s)
        r_th = 1.0 / c.heat_transfer_w_per_k
        b_th = np.exp(-dt / (c.heat_capacity_j_per_k * r_th))
        h = dt / 3600.0
        i_nom = c.capacity_ah  # the cycler is programmed on the nominal capacity
        i_cut = p.cv_cutoff_c_rate * i_nom
        inv_tref = 1.0 / (25.0 + _KELVIN)

        for i in range(n_steps):
            if i in eff.events:
                self._apply_events(eff.events[i], float(t_s[i]))
            step = self.step
            kind = tab.kind[step]
            rt = np.exp(c.r_activation_k * (1.0 / (self.temp + _KELVIN) - inv_tref))
            rs = self.r_scale * self.r_age * rt
            r0 = rs * c.r0_ohm + eff.extra_resistance[i]
            g1 = rs * c.r1_ohm * (1.0 - a1)
            g2 = rs * c.r2_ohm * (1.0 - a2)
            soc = self.q / self.cap
            ocv0 = cell.ocv(soc)
            i_sd = ocv0 * eff.short_conductance[i]
            base_q = self.q - i_sd * h
            cur = tab.c_rate[step] * i_nom
            cur = np.where(kind == StepType.CV_CHARGE, 0.0, cur)

            # Candidate terminal voltage with the step's programmed current.
            gain = np.where(cur > 0, c.charge_efficiency, 1.0)
            v_rc = a1 * self.v1 + a2 * self.v2
            v = cell.ocv((base_q + gain * cur * h) / self.cap) + r0 * cur + v_rc + (g1 + g2) * cur

            # CC charge reaching v_max moves to CV in this same sample.
            to_cv = (kind == StepType.CC_CHARGE) & (v > p.v_max)
            step = np.where(to_cv, step + 1, step)
            is_cv = to_cv | (kind == StepType.CV_CHARGE)
            discharging = (kind == StepType.CC_DISCHARGE) | (kind == StepType.PULSE)
            under = discharging & (v < p.v_min)
            if (is_cv | under).any():
                i_lim = _limit_current(
                    v_lim=np.where(is_cv, p.v_max, p.v_min),
                    q=base_q,
                    cap=self.cap,
                    gain_h=np.where(is_cv, c.charge_efficiency, 1.0) * h,
                    r_total=r0 + g1 + g2,
                    v_rc=v_rc,
                    i_guess=np.where(is_cv, 0.0, cur),
                )
                cur = np.where(is_cv, np.clip(i_lim, 0.0, tab.c_rate[step] * i_nom), cur)
                cur = np.where(under, np.clip(i_lim, cur, 0.0), cur)
            # CV below cut-off, or a discharge that reached v_min, ends its step after this sample.
            end_now = (is_cv & (cur < i_cut)) | under

            # Integrate the interval with the final current.
            gain = np.where(cur > 0, c.charge_efficiency, 1.0)
            self.q = base_q + gain * cur * h
            self.v1 = a1 * self.v1 + g1 * cur
            self.v2 = a2 * self.v2 + g2 * cur
            ocv1 = cell.ocv(self.q / self.cap)
            v = ocv1 + r0 * cur + self.v1 + self.v2
            v = np.where(is_cv, np.minimum(v, p.v_max), v)
            v = np.where(under, np.maximum(v, p.v_min), v)
            r1, r2 = rs * c.r1_ohm, rs * c.r2_ohm
            heat = cur * cur * r0 + self.v1 * self.v1 / r1 + self.v2 * self.v2 / r2 + i_sd * ocv1
            heat = heat + eff.extra_heat_w[i]
            self.temp = self.ambient + (self.temp - self.ambient) * b_th + heat * r_th * (1.0 - b_th)

            # What the cycler measures and counts.
            nz = noise[i]
            kind = tab.kind[step]
            v_m = v + cfg.noise_voltage * nz[0]
            i_m = np.where(kind == StepType.REST, 0.0, cur + cfg.noise_current * i_nom * nz[1])
            chg = np.maximum(i_m, 0.0) * h
            dis = np.maximum(-i_m, 0.0) * h
            self.acc[0] += chg
            self.acc[1] += dis
            self.acc[2] += chg * v_m
            self.acc[3] += dis * v_m
            out_f[0, i] = t_s[i] - self.time_offset
            out_f[1, i] = v_m
            out_f[2, i] = i_m
            out_f[3, i] = self.temp + cfg.noise_temperature * nz[2]
            out_f[4:8, i] = self.acc
            out_f[8, i] = self.ir
            out_cyc[i] = self.cycle - self.cycle_offset
            out_step[i] = step
            out_type[i] = kind

            # Duration-limited steps; the last rest of a cycle starts the next cycle.
            self.elapsed = np.where(to_cv, dt, self.elapsed + dt)
            done = end_now | (self.elapsed >= tab.duration_s[step] - 1e-9)
            ends = done & tab.ends_cycle[step]
            step = np.where(done & ~ends, step + 1, step)
            self.elapsed = np.where(done, 0.0, self.elapsed)
            if ends.any():
                self.cycle = self.cycle + ends
                self._age(ends)
                step = np.where(ends, protocol.cycle_start_step(self.cycle, p), step)
                step = np.where(ends & (self.cap < p.end_of_life_fraction * self.q0), 0, step)
                self.acc[:, ends] = 0.0
                ir_now = self._ir_true() * (1.0 + cfg.noise_resistance * nz[3]) + eff.extra_resistance[i]
                self.ir = np.where(ends, ir_now, self.ir)
            self.step = step

        self.k += n_steps
        return self._frame(k_idx, out_f, out_cyc, out_step, out_type, eff)

    def _frame(
        self,
        k_idx: IntArray,
        out_f: FloatArray,
        out_cyc: IntArray,
        out_step: IntArray,
        out_type: NDArray[np.int8],
        eff: ChunkEffects,
    ) -> CyclerFrame:
        dt_ms = round(self.cfg.sample_interval_s * 1000.0)
        times = self.t0 + (k_idx * dt_ms).astype("timedelta64[ms]")
        present = out_step != 0  # a finished test sends nothing
        for name, mask in eff.dropout.items():
            if name == "all":
                present &= ~mask
            else:
                out_f[FLOAT_FIELDS.index(name)][mask] = np.nan
        truth = overlapping(self.truth, *self._span(k_idx))
        if self.realism is not None:
            t_ms = times.astype("datetime64[ms]").astype(np.int64)
            j = FLOAT_FIELDS.index("temperature")
            out_f[j], sent, normal = self.realism.apply(t_ms, out_f[j])
            present &= sent
            truth = truth + tuple(normal)
        out_f[:, ~present] = np.nan
        fields = {name: out_f[j] for j, name in enumerate(FLOAT_FIELDS)}
        return CyclerFrame(
            device_ids=self.cfg.device_ids,
            times=times,
            cycle_index=out_cyc,
            step_index=out_step,
            step_type=out_type,
            present=present,
            truth=truth,
            **fields,
        )

    def _span(self, k_idx: IntArray) -> tuple[datetime, datetime]:
        """First sample time and the end of the last sample's interval."""
        dt = self.cfg.sample_interval_s
        return (
            self.start + timedelta(seconds=float(k_idx[0]) * dt),
            self.start + timedelta(seconds=float(k_idx[-1] + 1) * dt),
        )


class CyclerBank:
    """A seeded bank of cycler channels; the same generator feeds tests, benchmarks, back-fill and publishing.

    Every call to :meth:`chunks` or :meth:`generate` starts a fresh run from the seed, so the two agree:
    the chunks of one run, concatenated, equal ``generate`` of the same total length.

    Example
    -------
    >>> from datetime import UTC, datetime
    >>> bank = CyclerBank(CyclerConfig(n_channels=3, seed=1))
    >>> frame = bank.generate(datetime(2024, 1, 1, tzinfo=UTC), 120)
    >>> frame.voltage.shape
    (120, 3)
    """

    def __init__(self, config: CyclerConfig) -> None:
        self.config = config

    @property
    def device_ids(self) -> tuple[str, ...]:
        """Device ids of the channels, in column order."""
        return self.config.device_ids

    def chunks(self, start: datetime, chunk_steps: int) -> Iterator[CyclerFrame]:
        """An endless stream of frames of ``chunk_steps`` samples each, starting at ``start`` (UTC)."""
        if chunk_steps < 1:
            raise ValueError("chunk_steps must be >= 1")
        run = _Run(self.config, start)
        while True:
            yield run.advance(chunk_steps)

    def generate(self, start: datetime, n_steps: int) -> CyclerFrame:
        """``n_steps`` samples of every channel from ``start`` (UTC) in one frame."""
        if n_steps < 1:
            raise ValueError("n_steps must be >= 1")
        return _Run(self.config, start).advance(n_steps)
