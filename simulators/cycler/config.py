"""Configuration of a simulated bank of battery-cycler channels: cell, protocol, ageing and faults."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from typing import Final

from simulators.realism import RealismSpec

#: ``TruthEvent.end`` of a fault that never ends (early knee, internal short without a duration).
OPEN_END: Final = datetime(9999, 12, 31, tzinfo=UTC)


class StepType(IntEnum):
    """Small integer codes of ``CyclerFrame.step_type``; ``STEP_TYPE_NAMES[code]`` is the published name."""

    REST = 0
    CC_CHARGE = 1
    CV_CHARGE = 2
    CC_DISCHARGE = 3
    PULSE = 4


STEP_TYPE_NAMES: Final = ("rest", "cc_charge", "cv_charge", "cc_discharge", "pulse_discharge")

#: Fault kinds a :class:`CyclerFault` may name, with the meaning of ``magnitude`` and its default.
FAULT_KINDS: Final[dict[str, tuple[str, float]]] = {
    "early_knee": ("factor on the post-knee curvature; the knee moves to the fault's cycle", 3.0),
    "internal_short": ("short resistance in ohm (self-discharge current = OCV / R)", 40.0),
    "thermal_excursion": ("extra heat in W dissipated in the cell", 6.0),
    "contact_resistance": ("series resistance added in ohm", 0.03),
    "counter_reset": ("unused: test_time and cycle_index restart, the step restarts", 0.0),
    "capacity_reset": ("unused: charge/discharge capacity and energy counters restart mid-step", 0.0),
    "sensor_dropout": ("unused: the channel sends nothing (field='all') or one field is missing", 0.0),
}

#: Kinds that happen at one instant; their truth interval is one sample long.
INSTANT_KINDS: Final = frozenset({"counter_reset", "capacity_reset"})


@dataclass(frozen=True, slots=True)
class CyclerFault:
    """One fault injected into one channel.

    ``start_s`` counts from the start of the run; ``duration_s=None`` means the fault lasts for ever
    (its truth event ends at :data:`OPEN_END`). ``magnitude=None`` takes the default of
    :data:`FAULT_KINDS`. ``field`` is used by ``sensor_dropout`` only (``"all"`` or a field name such as
    ``"temperature"``).
    """

    channel: int
    kind: str
    start_s: float
    duration_s: float | None = None
    magnitude: float | None = None
    field: str = "all"

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown cycler fault kind {self.kind!r}; known: {sorted(FAULT_KINDS)}")
        if self.start_s < 0 or (self.duration_s is not None and self.duration_s <= 0):
            raise ValueError("fault start must be >= 0 and duration > 0")

    @property
    def value(self) -> float:
        """The magnitude, or the kind's default."""
        return FAULT_KINDS[self.kind][1] if self.magnitude is None else self.magnitude


@dataclass(frozen=True, slots=True)
class CellParams:
    """Nominal equivalent-circuit and thermal parameters of a cylindrical NMC/graphite cell (18650 size)."""

    capacity_ah: float = 3.0
    r0_ohm: float = 0.025
    r1_ohm: float = 0.012
    tau1_s: float = 25.0
    r2_ohm: float = 0.018
    tau2_s: float = 600.0
    #: Arrhenius temperature of the resistances (Ea / R) in K.
    r_activation_k: float = 2800.0
    heat_capacity_j_per_k: float = 45.0
    heat_transfer_w_per_k: float = 0.09
    ambient_c: float = 25.0
    #: Fraction of charge current stored; the rest feeds side reactions (healthy coulombic efficiency).
    charge_efficiency: float = 0.9997
    initial_soc: float = 0.3
    #: Cell-to-cell variation: relative standard deviations of capacity, resistance and of the ambient (°C).
    capacity_cv: float = 0.01
    resistance_cv: float = 0.05
    ambient_sd_c: float = 0.3


@dataclass(frozen=True, slots=True)
class ProtocolParams:
    """A cycling test: formation cycles, then CC-CV charge / rest / CC discharge / rest, with reference cycles.

    Every ``reference_every``-th cycle is a reference cycle: slow CC-CV charge, a discharge pulse (its
    voltage drop gives the pulse resistance), then a slow full discharge.
    """

    v_max: float = 4.2
    v_min: float = 2.75
    formation_cycles: int = 1
    formation_c_rate: float = 0.2
    charge_c_rate: float = 1.0
    discharge_c_rate: float = 1.0
    cv_cutoff_c_rate: float = 0.05
    rest_s: float = 600.0
    reference_every: int = 50
    reference_c_rate: float = 0.33
    pulse_c_rate: float = 2.0
    pulse_s: float = 30.0
    #: The test ends (the channel goes idle and stops sending) once capacity falls below this fraction of
    #: the fresh cell's.
    end_of_life_fraction: float = 0.4


@dataclass(frozen=True, slots=True)
class AgeingParams:
    """Capacity fade with a knee and resistance growth, per equivalent cycle.

    Relative capacity loss after ``n`` cycles is ``fade_per_cycle * n + knee_curvature * (w *
    softplus((n - knee_cycle) / w))**2`` with ``w = knee_width``: linear before the knee, quadratic after it.
    Resistance grows as ``1 + resistance_per_cycle * n + resistance_knee_gain * knee_loss``.
    """

    fade_per_cycle: float = 3.0e-5
    knee_cycle: float = 600.0
    knee_width: float = 20.0
    knee_curvature: float = 4.0e-6
    resistance_per_cycle: float = 2.0e-4
    resistance_knee_gain: float = 3.0
    #: Cell-to-cell variation (relative standard deviation) of the knee cycle and the fade rate.
    knee_cv: float = 0.1
    fade_cv: float = 0.15


@dataclass(frozen=True, slots=True)
class CyclerConfig:
    """A bank of ``n_channels`` cycler channels, each with one cell, all running the same protocol.

    Example
    -------
    >>> from simulators.cycler import CyclerBank, CyclerConfig, CyclerFault
    >>> cfg = CyclerConfig(n_channels=4, seed=7,
    ...                    faults=(CyclerFault(channel=2, kind="internal_short", start_s=3600.0),))
    >>> bank = CyclerBank(cfg)
    """

    n_channels: int = 8
    seed: int = 0
    device_prefix: str = "cyc"
    sample_interval_s: float = 30.0
    faults: tuple[CyclerFault, ...] = ()
    cell: CellParams = field(default_factory=CellParams)
    protocol: ProtocolParams = field(default_factory=ProtocolParams)
    ageing: AgeingParams = field(default_factory=AgeingParams)
    #: Measurement noise (standard deviations): voltage V, current as a fraction of 1C, temperature °C,
    #: resistance as a fraction of the value.
    noise_voltage: float = 0.0005
    noise_current: float = 0.0005
    noise_temperature: float = 0.05
    noise_resistance: float = 0.01
    #: Properties of real data laid over the cell temperature (drift, a daily ambient cycle, lasting level
    #: shifts, flat stretches, 0.1 °C quantisation, irregular sampling); ``None`` keeps the ideal sensor.
    realism: RealismSpec | None = None

    def __post_init__(self) -> None:
        if self.n_channels < 1 or self.sample_interval_s <= 0:
            raise ValueError("need n_channels >= 1 and sample_interval_s > 0")
        for f in self.faults:
            if not 0 <= f.channel < self.n_channels:
                raise ValueError(f"fault channel {f.channel} outside 0..{self.n_channels - 1}")

    @property
    def device_ids(self) -> tuple[str, ...]:
        """``{device_prefix}-{i:03d}`` for every channel."""
        return tuple(f"{self.device_prefix}-{i:03d}" for i in range(self.n_channels))
