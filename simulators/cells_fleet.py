"""A fleet of battery cells made from precursor batches, aged by electrode-level mechanisms, with ground truth.

What it models, and why this way
--------------------------------
Each cell is a graphite / NMC full cell described by its two electrode capacities (``cn``, ``cp`` in Ah),
its cyclable lithium (``li`` in Ah) and its series resistance. The terminal voltage is the difference of the
electrodes' open-circuit potentials (the published LG M50 graphite and NMC811 fits of Chen et al., J.
Electrochem. Soc. 2020) minus the resistive drop. A charge ends when the open-circuit voltage reaches
``v_max``; a discharge ends when the terminal voltage reaches ``v_min``. Capacity, Q(V) curves, coulombic
efficiency, energy and temperature all follow from that state — nothing is drawn from the life label.

Three degradation modes act every cycle (the framework of Dubarry et al. and Attia et al. 2022 "knees"):

- loss of lithium inventory to SEI growth, decelerating as ``sqrt(n)``;
- loss of negative-electrode active material (particle cracking), slowly accelerating;
- lithium plating once the negative electrode is nearly full at the top of charge (its stoichiometry passes
  ``x_crit``): plating consumes lithium and the dead lithium blocks more negative electrode, which pushes the
  electrode further towards full — a positive feedback that produces the knee.

Before the knee capacity falls with the lithium lost; the loss of negative electrode is almost invisible in
capacity but reshapes the discharge curve (the graphite staging plateaus move against the cathode curve),
which is what the ΔQ(V) features of Severson et al. 2019 pick up. The life label is the first cycle whose
discharge capacity falls below 80 % of nominal, found by running the same model to the end.

The process link: each material lot comes from one precursor batch of the co-precipitation line. A pH
excursion (a step on the line's ``ph_balance`` factor) raises the rate of negative-electrode active-material
loss of the cells made from that batch (a broad particle-size distribution cracks more and sheds more fines);
a temperature excursion (``thermal`` factor) lowers the initial capacity (less active cathode material and
lithium). Other faults (throughput and slurry steps, a stirrer-speed sensor bias) are distractors with no
effect on cells. The batch tag data come from :class:`simulators.process.ProcessLine`, used read-only.

Everything is seeded and vectorised over cells: the cycle loop runs over all cells at once, and samples are
materialised for any block of cells and cycles on request.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from kipsense.records import CYCLER_SAMPLE_FIELDS, TruthEvent
from simulators.process import ProcessConfig, ProcessFault, ProcessLine
from simulators.process.frame import ProcessFrame
from simulators.process.tags import LAGGED, TAGS

FloatArray = NDArray[np.float64]


def driver_tags(factor: str, *, min_loading: float = 0.5) -> tuple[str, ...]:
    """Tags of the line that measure a latent factor: loading at least ``min_loading`` on it or its lagged copy.

    An excursion of the factor shows on all of them (the pH excursion on the pH itself, on the redox
    potential and residual metal, and, hours later, on the particle size and span it produces); they are the
    tags an analysis may legitimately name for it.
    """
    names = {factor} | {lag for lag, src, _ in LAGGED if src == factor}
    return tuple(t.name for t in TAGS if any(n in names and abs(w) >= min_loading for n, w in t.loadings))


#: What drives each cell outcome in the simulation: the latent factor of the line, the tag that measures it
#: most directly, and every tag that carries it (recorded in the ground truth, used to score an analysis).
TRUE_DRIVERS: Final = {
    "fade_rate": {"factor": "ph_balance", "tag": "reactor_ph", "tags": driver_tags("ph_balance")},
    "life": {"factor": "ph_balance", "tag": "reactor_ph", "tags": driver_tags("ph_balance")},
    "initial_capacity": {"factor": "thermal", "tag": "reactor_temp", "tags": driver_tags("thermal")},
}

#: Sample columns of a fleet block, in the order of ``cycler_samples`` (BEEP names).
SAMPLE_COLUMNS: Final = CYCLER_SAMPLE_FIELDS


def graphite_ocp(x: FloatArray) -> FloatArray:
    """Open-circuit potential (V vs Li) of graphite at lithiation ``x`` (Chen et al. 2020)."""
    x = np.clip(x, -0.02, 1.02)  # outside the electrode's range the fit only needs to stay monotone
    out: FloatArray = (
        1.9793 * np.exp(-39.3631 * x)
        + 0.2482
        - 0.0909 * np.tanh(29.8538 * (x - 0.1234))
        - 0.04478 * np.tanh(14.9159 * (x - 0.2769))
        - 0.0205 * np.tanh(30.4444 * (x - 0.6103))
    )
    return out


def nmc_ocp(y: FloatArray) -> FloatArray:
    """Open-circuit potential (V vs Li) of NMC811 at lithiation ``y`` (Chen et al. 2020)."""
    out: FloatArray = (
        -0.8090 * y
        + 4.4875
        - 0.0428 * np.tanh(18.5138 * (y - 0.5542))
        - 17.7326 * np.tanh(15.7890 * (y - 0.3117))
        + 17.5842 * np.tanh(15.9308 * (y - 0.3120))
    )
    return out


@dataclass(frozen=True, slots=True)
class FleetConfig:
    """A fleet: ``n_batches`` precursor batches, one lot each, ``cells_per_lot`` cells per lot.

    Rates are per cycle; ``*_sd`` are standard deviations of the log of a lognormal factor.
    """

    seed: int = 0
    n_batches: int = 12
    cells_per_lot: int = 10
    max_cycles: int = 2500
    start: datetime = datetime(2024, 1, 1, tzinfo=UTC)
    line_device: str = "fleet-line"
    cell_prefix: str = "fc"
    batch_hours: float = 8.0
    process_interval_s: float = 60.0
    #: Share of batches with a pH excursion, with a temperature excursion, and with a distractor fault.
    ph_share: float = 0.4
    thermal_share: float = 0.35
    distractor_share: float = 0.6
    # cell design (graphite / NMC811 stoichiometry windows of Chen et al. 2020) and test protocol
    nominal_ah: float = 3.0
    v_max: float = 4.2
    v_min: float = 2.5
    charge_c: float = 1.0
    discharge_c: float = 1.0
    r0_ohm: float = 0.022
    ambient_c: float = 30.0
    eol_fraction: float = 0.8
    # ageing
    sei_rate: float = 2.0e-3
    sei_sd: float = 0.15
    lam_rate: float = 7.0e-5
    lam_sd: float = 0.3
    lot_sd: float = 0.1
    lam_accel_cycles: float = 600.0
    lam_pe_rate: float = 1.5e-5
    x_crit: float = 0.965
    x_crit_sd: float = 0.003
    plating_rate: float = 0.02
    plating_sd: float = 0.15
    dead_lithium_lam: float = 1.6
    #: Effect sizes of the process link: log-factor on the active-material loss rate per unit pH exposure,
    #: and relative initial capacity lost per unit temperature exposure.
    ph_effect: float = 0.45
    thermal_effect: float = 0.02
    rate_noise: float = 0.1
    design_sd: float = 0.003
    # measurement
    noise_voltage: float = 0.0005
    noise_temperature: float = 0.05
    noise_resistance: float = 0.01
    discharge_points: int = 80
    charge_points: int = 30
    cv_points: int = 5

    def __post_init__(self) -> None:
        if self.n_batches < 1 or self.cells_per_lot < 1 or self.max_cycles < 10:
            raise ValueError("need n_batches >= 1, cells_per_lot >= 1 and max_cycles >= 10")
        if self.discharge_points < 4 or self.charge_points < 2 or self.cv_points < 1:
            raise ValueError("need discharge_points >= 4, charge_points >= 2, cv_points >= 1")

    @property
    def n_cells(self) -> int:
        return self.n_batches * self.cells_per_lot

    @property
    def samples_per_cycle(self) -> int:
        return self.charge_points + self.cv_points + 1 + self.discharge_points + 1


@dataclass(frozen=True, slots=True)
class Batch:
    """A precursor batch: its window on the line, its injected faults and the causal exposures."""

    batch_id: str
    lot_id: str
    start: datetime
    end: datetime
    faults: tuple[ProcessFault, ...]
    ph_exposure: float
    thermal_exposure: float


@dataclass(frozen=True, slots=True)
class CellBlock:
    """Samples of several cells over a range of cycles, as columns (``device_id`` names the cell's channel)."""

    device_id: NDArray[np.str_]
    time: NDArray[np.datetime64]
    columns: dict[str, NDArray[Any]]

    def __len__(self) -> int:
        return int(self.time.size)


@dataclass(slots=True)
class _States:
    """Per (cell, cycle) state of the simulation, shape (n_cells, max_cycles)."""

    x_top: FloatArray
    y_top: FloatArray
    cn: FloatArray
    cp: FloatArray
    r: FloatArray
    q_dis: FloatArray
    q_chg: FloatArray
    q_cc: FloatArray


def _bisect(fun: Any, lo: FloatArray, hi: FloatArray, iters: int = 32) -> FloatArray:
    """Root of an increasing function between ``lo`` and ``hi``, elementwise (vectorised bisection)."""
    lo, hi = lo.copy(), hi.copy()
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        pos = fun(mid) > 0
        hi = np.where(pos, mid, hi)
        lo = np.where(pos, lo, mid)
    out: FloatArray = 0.5 * (lo + hi)
    return out


def _softplus(x: FloatArray) -> FloatArray:
    out: FloatArray = np.logaddexp(0.0, x)
    return out


@dataclass
class CellFleet:
    """A seeded fleet. Build with :meth:`simulate`; then read batches, cells, truth, and sample blocks.

    Example
    -------
    >>> fleet = CellFleet.simulate(FleetConfig(n_batches=2, cells_per_lot=2, seed=1))
    >>> len(fleet.cell_ids), bool((fleet.life > 100).all())
    (4, True)
    """

    config: FleetConfig
    batches: tuple[Batch, ...]
    cell_ids: tuple[str, ...]
    cell_lot: tuple[str, ...]
    cell_batch: NDArray[np.int64]
    life: NDArray[np.int64]
    params: dict[str, FloatArray]
    states: _States = field(repr=False)

    # -- building -----------------------------------------------------------------------------------------
    @classmethod
    def simulate(cls, config: FleetConfig) -> CellFleet:
        rng = np.random.default_rng(config.seed)
        batches = _batches(config, rng)
        nb, k = config.n_batches, config.cells_per_lot
        n = nb * k
        cell_batch = np.repeat(np.arange(nb), k)
        ph = np.array([b.ph_exposure for b in batches])[cell_batch]
        th = np.array([b.thermal_exposure for b in batches])[cell_batch]
        lot_effect = rng.normal(0.0, config.lot_sd, nb)[cell_batch]
        q0 = config.nominal_ah * 1.02
        # stoichiometry windows of the design: graphite 0.0279..0.9014, NMC 0.9084..0.2661
        design = 1.0 + config.design_sd * rng.standard_normal((3, n))
        cap_factor = (1.0 - config.thermal_effect * th) * (1.0 + 0.005 * rng.standard_normal(n))
        cn0 = q0 / (0.9014 - 0.0279) * design[0]
        cp0 = q0 / (0.9084 - 0.2661) * design[1] * cap_factor
        li0 = (0.9014 * q0 / (0.9014 - 0.0279) + 0.2661 * q0 / (0.9084 - 0.2661)) * design[2] * cap_factor
        params = {
            "cn0": cn0,
            "cp0": cp0,
            "li0": li0,
            "r0": config.r0_ohm * np.exp(0.05 * rng.standard_normal(n)),
            "sei": config.sei_rate * np.exp(config.sei_sd * rng.standard_normal(n)),
            "lam": config.lam_rate
            * np.exp(config.lam_sd * rng.standard_normal(n) + lot_effect + config.ph_effect * ph),
            "x_crit": config.x_crit + config.x_crit_sd * rng.standard_normal(n),
            "plating": config.plating_rate * np.exp(config.plating_sd * rng.standard_normal(n)),
            "ph_exposure": ph,
            "thermal_exposure": th,
        }
        states = _age(config, params, rng)
        below = states.q_dis < config.eol_fraction * config.nominal_ah
        life = np.where(below.any(axis=1), below.argmax(axis=1) + 1, config.max_cycles + 1).astype(np.int64)
        ids = tuple(f"{config.cell_prefix}-{i:04d}" for i in range(n))
        lots = tuple(batches[b].lot_id for b in cell_batch)
        return cls(config, batches, ids, lots, cell_batch, life, params, states)

    # -- reading --------------------------------------------------------------------------------------------
    def channel(self, i: int) -> str:
        """The cycler channel (device id) cell ``i`` is tested on: one channel per cell."""
        return f"{self.config.cell_prefix}-ch{i:04d}"

    @property
    def test_start(self) -> datetime:
        """All cells start their test when the last batch's lot is made, one day after its batch."""
        return self.batches[-1].end + timedelta(days=1)

    def discharge_capacity(self) -> FloatArray:
        """(n_cells, max_cycles) discharge capacity of each cycle, without measurement noise."""
        return self.states.q_dis

    def truth(self) -> dict[str, Any]:
        """Ground truth as JSON: lives, per-cell causes and the process drivers."""
        c = self.config
        return {
            "generator": "simulators.cells_fleet",
            "seed": c.seed,
            "eol_fraction": c.eol_fraction,
            "nominal_ah": c.nominal_ah,
            "true_drivers": {k: {**v, "tags": list(v["tags"])} for k, v in TRUE_DRIVERS.items()},
            "mechanism": {
                "fade_rate": f"log active-material loss rate += {c.ph_effect} x pH exposure of the batch",
                "initial_capacity": f"relative capacity -= {c.thermal_effect} x temperature exposure of the batch",
                "pH exposure": "step magnitude (factor sd) x share of the batch the ph_balance step lasted",
            },
            "batches": [
                {
                    "batch_id": b.batch_id,
                    "lot_id": b.lot_id,
                    "ph_exposure": b.ph_exposure,
                    "thermal_exposure": b.thermal_exposure,
                    "faults": [{"kind": f.kind, "target": f.target, "magnitude": f.magnitude} for f in b.faults],
                }
                for b in self.batches
            ],
            "cells": [
                {
                    "cell_id": cid,
                    "lot_id": self.cell_lot[i],
                    "life_cycles": int(self.life[i]),
                    "lam_rate": float(self.params["lam"][i]),
                    "initial_capacity_ah": float(self.states.q_dis[i, 0]),
                }
                for i, cid in enumerate(self.cell_ids)
            ],
        }

    def truth_events(self) -> list[TruthEvent]:
        """The process excursions as ground-truth events of the line (for the store's ground_truth table)."""
        out = []
        for b in self.batches:
            for f in b.faults:
                start = b.start + timedelta(seconds=f.start_s)
                end = b.end if f.duration_s is None else start + timedelta(seconds=f.duration_s)
                out.append(
                    TruthEvent(
                        self.config.line_device,
                        f"batch_{f.kind}",
                        start,
                        end,
                        {"batch_id": b.batch_id, "target": f.target, "magnitude": f.magnitude},
                    )
                )
        return out

    def process_frame(self, b: int) -> ProcessFrame:
        """The line's tag data during batch ``b`` (seeded per batch, faults of the batch injected)."""
        c = self.config
        batch = self.batches[b]
        line = ProcessLine(
            ProcessConfig(
                seed=c.seed * 1000 + b,
                device_id=c.line_device,
                sample_interval_s=c.process_interval_s,
                faults=batch.faults,
            )
        )
        steps = round(c.batch_hours * 3600.0 / c.process_interval_s)
        return line.generate(batch.start, steps)

    def blocks(
        self,
        *,
        first_cycle: int = 1,
        last_cycle: int | None = None,
        detail_cycles: int | None = None,
        cells_per_block: int = 16,
        seed: int = 0,
    ) -> Iterator[CellBlock]:
        """Samples of every cell for cycles ``first_cycle..last_cycle`` (default: to each cell's end of life),
        ``cells_per_block`` cells at a time. Measurement noise is seeded by ``seed`` and the block."""
        for lo in range(0, len(self.cell_ids), cells_per_block):
            idx = np.arange(lo, min(lo + cells_per_block, len(self.cell_ids)))
            rng = np.random.default_rng([self.config.seed, seed, lo])
            yield self.samples(
                idx, first_cycle=first_cycle, last_cycle=last_cycle, detail_cycles=detail_cycles, rng=rng
            )

    def samples(
        self,
        idx: NDArray[np.int64],
        *,
        first_cycle: int = 1,
        last_cycle: int | None = None,
        detail_cycles: int | None = None,
        rng: np.random.Generator | None = None,
    ) -> CellBlock:
        """Samples of cells ``idx`` for cycles ``first_cycle..last_cycle`` (each cell stops at its end of life).

        Cycles after ``detail_cycles`` (None: none) are logged sparsely, as a cycler set to a low logging rate
        for ageing cycles does: the ends of each step only, enough for per-cycle capacities and energies.
        """
        rng = rng or np.random.default_rng(self.config.seed)
        return _samples(self, idx, first_cycle, last_cycle, detail_cycles, rng)


# -- batches ------------------------------------------------------------------------------------------------
def _batches(c: FleetConfig, rng: np.random.Generator) -> tuple[Batch, ...]:
    dur = c.batch_hours * 3600.0
    out = []
    for b in range(c.n_batches):
        start = c.start + timedelta(hours=b * (c.batch_hours + 4.0))
        faults: list[ProcessFault] = []
        ph = th = 0.0
        if rng.random() < c.ph_share:
            mag = float(rng.uniform(1.5, 4.0)) * (1 if rng.random() < 0.7 else -1)
            share = float(rng.uniform(0.15, 0.6))
            s0 = float(rng.uniform(0.05, 0.95 - share)) * dur
            faults.append(ProcessFault("step", "ph_balance", start_s=s0, duration_s=share * dur, magnitude=mag))
            ph = abs(mag) * share
        if rng.random() < c.thermal_share:
            mag = float(rng.uniform(1.5, 4.0))
            share = float(rng.uniform(0.15, 0.6))
            s0 = float(rng.uniform(0.05, 0.95 - share)) * dur
            faults.append(ProcessFault("step", "thermal", start_s=s0, duration_s=share * dur, magnitude=mag))
            th = mag * share
        if rng.random() < c.distractor_share:
            kind, target = [("step", "throughput"), ("step", "slurry"), ("bias", "stirrer_speed")][rng.integers(3)]
            mag = float(rng.uniform(1.5, 4.0)) * (1 if rng.random() < 0.5 else -1)
            share = float(rng.uniform(0.15, 0.6))
            s0 = float(rng.uniform(0.05, 0.95 - share)) * dur
            faults.append(ProcessFault(kind, target, start_s=s0, duration_s=share * dur, magnitude=mag))
        out.append(
            Batch(
                batch_id=f"{c.cell_prefix}-b{b:03d}",
                lot_id=f"{c.cell_prefix}-lot{b:03d}",
                start=start,
                end=start + timedelta(seconds=dur),
                faults=tuple(faults),
                ph_exposure=ph,
                thermal_exposure=th,
            )
        )
    return tuple(out)


# -- ageing -------------------------------------------------------------------------------------------------
def _age(c: FleetConfig, p: dict[str, FloatArray], rng: np.random.Generator) -> _States:
    n, m = p["cn0"].size, c.max_cycles
    st = _States(*(np.full((n, m), np.nan) for _ in range(8)))
    cn, cp, li, r = p["cn0"].copy(), p["cp0"].copy(), p["li0"].copy(), p["r0"].copy()
    i_dis, i_chg = c.discharge_c * c.nominal_ah, c.charge_c * c.nominal_ah
    q0 = c.nominal_ah
    alive = np.ones(n, dtype=bool)
    for k in range(m):
        x_top, y_top, q_dis, q_cc = _cycle(c, li, cn, cp, r, i_dis, i_chg)
        noise = np.exp(c.rate_noise * rng.standard_normal((3, n)))
        sei = p["sei"] * q0 / (2.0 * np.sqrt(k + 1.0)) * noise[0]
        plating = p["plating"] * q0 * 0.004 * _softplus((x_top - p["x_crit"]) / 0.004) * noise[2]
        side = sei + plating
        st.x_top[:, k], st.y_top[:, k], st.cn[:, k], st.cp[:, k], st.r[:, k] = x_top, y_top, cn, cp, r
        st.q_dis[:, k], st.q_chg[:, k], st.q_cc[:, k] = q_dis, q_dis + side, q_cc
        li = li - side
        cn = cn - p["cn0"] * p["lam"] * (1.0 + k / c.lam_accel_cycles) * noise[1] - c.dead_lithium_lam * plating
        cp = cp - p["cp0"] * c.lam_pe_rate
        r = r + p["r0"] * (3.0 * sei / q0 + 8.0 * plating / q0)
        # a cell well past its end of life needs no more cycles
        alive &= q_dis >= (c.eol_fraction - 0.1) * c.nominal_ah
        if not alive.any():
            break
    return st


def _cycle(
    c: FleetConfig, li: FloatArray, cn: FloatArray, cp: FloatArray, r: FloatArray, i_dis: float, i_chg: float
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Top-of-charge stoichiometries, discharge capacity and constant-current charge of one cycle."""
    n = li.size
    # top of charge: open-circuit voltage at v_max
    lo, hi = np.maximum((li - cp) / cn, 0.0), np.minimum(li / cn, 1.0)
    x_top = _bisect(lambda x: nmc_ocp((li - x * cn) / cp) - graphite_ocp(x) - c.v_max, lo, hi)
    y_top = (li - x_top * cn) / cp
    q_max = np.minimum(x_top * cn, (1.0 - y_top) * cp)
    # discharge to v_min under load (decreasing in q: bisect on its negative)
    q_dis = _bisect(
        lambda q: -(nmc_ocp(y_top + q / cp) - graphite_ocp(x_top - q / cn) - i_dis * r - c.v_min),
        np.zeros(n),
        q_max,
    )
    # constant-current part of the next charge, from the bottom of this discharge
    x_bot, y_bot = x_top - q_dis / cn, y_top + q_dis / cp
    q_cc = _bisect(
        lambda q: nmc_ocp(y_bot - q / cp) - graphite_ocp(x_bot + q / cn) + i_chg * r - c.v_max,
        np.zeros(n),
        q_dis,
    )
    return x_top, y_top, q_dis, q_cc


# -- samples ------------------------------------------------------------------------------------------------
def _samples(
    fleet: CellFleet,
    idx: NDArray[np.int64],
    first: int,
    last: int | None,
    detail: int | None,
    rng: np.random.Generator,
) -> CellBlock:
    c, st = fleet.config, fleet.states
    end = np.minimum(fleet.life[idx], c.max_cycles) if last is None else np.minimum(fleet.life[idx], last)
    end = np.minimum(end, c.max_cycles)
    counts = np.maximum(end - first + 1, 0)
    cell = np.repeat(idx, counts)
    cyc = np.concatenate([np.arange(first, first + k) for k in counts]) if counts.sum() else np.zeros(0, np.int64)
    ci, ki = cell, cyc - 1  # (cell, cycle) rows
    x_top, y_top, cn, cp, r = st.x_top[ci, ki], st.y_top[ci, ki], st.cn[ci, ki], st.cp[ci, ki], st.r[ci, ki]
    q_dis, q_chg, q_cc = st.q_dis[ci, ki], st.q_chg[ci, ki], st.q_cc[ci, ki]
    i_dis, i_chg = c.discharge_c * c.nominal_ah, c.charge_c * c.nominal_ah
    nc, nv, nd = c.charge_points, c.cv_points, c.discharge_points
    # Charge, constant current, from the bottom of the previous discharge (the first cycle starts discharged).
    f_cc = np.linspace(0.0, 1.0, nc)[None, :]
    qc_cc = q_cc[:, None] * f_cc
    x_bot, y_bot = (x_top - q_dis / cn)[:, None], (y_top + q_dis / cp)[:, None]
    v_cc = nmc_ocp(y_bot - qc_cc / cp[:, None]) - graphite_ocp(x_bot + qc_cc / cn[:, None]) + i_chg * r[:, None]
    # Constant voltage: the current decays exponentially while the rest of the charge goes in.
    f_cv = np.arange(1, nv + 1)[None, :] / nv
    i_cv = i_chg * np.exp(-3.0 * f_cv) * np.ones_like(q_cc)[:, None]
    qc_cv = q_cc[:, None] + (q_chg - q_cc)[:, None] * (1.0 - np.exp(-3.0 * f_cv)) / (1.0 - np.exp(-3.0))
    t_cc = qc_cc / i_chg * 3600.0
    t_cv_total = np.maximum(q_chg - q_cc, 1e-6) / (i_chg * (1.0 - np.exp(-3.0)) / 3.0) * 3600.0
    t_cv = t_cc[:, -1:] + t_cv_total[:, None] * f_cv
    # Rest, then the discharge at constant current to v_min.
    t_rest1 = t_cv[:, -1:] + 600.0
    f_d = np.linspace(0.0, 1.0, nd)[None, :]
    qd = q_dis[:, None] * f_d
    v_d = nmc_ocp(y_top[:, None] + qd / cp[:, None]) - graphite_ocp(x_top[:, None] - qd / cn[:, None])
    v_d -= i_dis * r[:, None]
    t_d = t_rest1 + 60.0 + qd / i_dis * 3600.0
    t_rest2 = t_d[:, -1:] + 600.0
    cycle_s = t_rest2[:, 0] + 60.0
    rows = len(ci)
    per = c.samples_per_cycle
    v = np.hstack(
        [
            v_cc,
            np.full((rows, nv), c.v_max),
            nmc_ocp(y_top)[:, None] - graphite_ocp(x_top)[:, None],
            v_d,
            (nmc_ocp(y_top + q_dis / cp) - graphite_ocp(x_top - q_dis / cn))[:, None],
        ]
    )
    cur = np.hstack(
        [np.full((rows, nc), i_chg), i_cv, np.zeros((rows, 1)), np.full((rows, nd), -i_dis), np.zeros((rows, 1))]
    )
    t_in = np.hstack([t_cc, t_cv, t_rest1, t_d, t_rest2])
    qc = np.hstack([qc_cc, qc_cv, q_chg[:, None], np.repeat(q_chg[:, None], nd + 1, axis=1)])
    qdc = np.hstack([np.zeros((rows, nc + nv + 1)), qd, q_dis[:, None]])
    step = np.repeat(np.array([[1] * nc + [2] * nv + [3] + [4] * nd + [5]]), rows, axis=0)
    stype = np.array(["cc_charge"] * nc + ["cv_charge"] * nv + ["rest"] + ["cc_discharge"] * nd + ["rest"])
    # energies: trapezoids of V dq within each step family (per-cycle counters, BEEP convention)
    dqc = np.diff(qc, axis=1, prepend=0.0)
    ec = np.cumsum(dqc * v, axis=1)
    dqd = np.diff(qdc, axis=1, prepend=0.0)
    ed = np.cumsum(dqd * v, axis=1)
    # temperature: ambient plus Joule heating at steady state (h = 0.09 W/K), noise
    temp = c.ambient_c + cur**2 * r[:, None] / 0.09 * 0.5
    ir = np.where(cur < 0, r[:, None], np.nan)
    # measurement noise
    v = v + c.noise_voltage * rng.standard_normal(v.shape)
    temp = temp + c.noise_temperature * rng.standard_normal(temp.shape)
    ir = ir * (1.0 + c.noise_resistance * rng.standard_normal(ir.shape))
    # absolute times: cycles run back to back from the test start
    cyc_start = np.zeros(rows)
    if rows:
        # cumulative duration within each cell's run, cycles before `first` at the same duration as `first`
        grp_start = np.r_[0, np.cumsum(counts)[:-1]][counts > 0]
        csum = np.cumsum(cycle_s) - cycle_s
        base = np.repeat(csum[grp_start], counts[counts > 0])
        first_len = np.repeat(cycle_s[grp_start], counts[counts > 0])
        cyc_start = csum - base + (first - 1) * first_len
    test_time = cyc_start[:, None] + t_in
    t0 = np.datetime64(fleet.test_start.replace(tzinfo=None), "us")
    times = t0 + (test_time * 1e6).astype("timedelta64[us]")
    dev = np.array([fleet.channel(int(i)) for i in idx])
    pos = np.searchsorted(idx, ci)
    keep = np.ones((rows, per), dtype=bool)
    if detail is not None:  # sparse logging: the first and last sample of every step
        ends = np.zeros(per, dtype=bool)
        ends[[0, nc - 1, nc + nv - 1, nc + nv, nc + nv + 1, nc + nv + nd, per - 1]] = True
        keep[cyc > detail] = ends
    flat = keep.ravel()
    cols: dict[str, NDArray[Any]] = {
        "test_time": test_time.ravel(),
        "cycle_index": np.repeat(cyc, per).astype(np.int32),
        "step_index": step.ravel().astype(np.int32),
        "step_type": np.tile(stype, rows),
        "voltage": v.ravel(),
        "current": cur.ravel(),
        "temperature": temp.ravel(),
        "charge_capacity": qc.ravel(),
        "discharge_capacity": qdc.ravel(),
        "charge_energy": ec.ravel(),
        "discharge_energy": ed.ravel(),
        "internal_resistance": ir.ravel(),
    }
    return CellBlock(
        device_id=np.repeat(dev[pos], per)[flat],
        time=times.ravel()[flat],
        columns={k: v[flat] for k, v in cols.items()},
    )
