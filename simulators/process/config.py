"""Configuration and faults of the simulated process line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from simulators.process.tags import FACTORS, TAGS

#: Fault kinds, what they target and what ``magnitude`` means.
FAULT_KINDS: Final = {
    "step": "factor: a process step of `magnitude` factor standard deviations, seen by every loaded tag",
    "drift": "tag or factor: a ramp of `magnitude` standard deviations per hour from the start",
    "bias": "tag: a constant sensor offset of `magnitude` tag standard deviations",
    "stiction": "tag: a sticking valve; the value moves only in jumps of `magnitude` standard deviations",
    "variance": "tag: the tag's variation around its mean scaled by `magnitude`",
}
_TAG_NAMES: Final = frozenset(t.name for t in TAGS)
_FACTOR_NAMES: Final = frozenset(f.name for f in FACTORS)


@dataclass(frozen=True, slots=True)
class ProcessFault:
    """One fault: ``kind`` on ``target`` (a tag, or a latent factor for steps and drifts), from ``start_s``
    (seconds since the run start) for ``duration_s`` seconds (``None`` = for ever)."""

    kind: str
    target: str
    start_s: float
    duration_s: float | None = None
    magnitude: float = 3.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown process fault kind {self.kind!r}; known: {sorted(FAULT_KINDS)}")
        allowed = {
            "step": _FACTOR_NAMES,
            "drift": _TAG_NAMES | _FACTOR_NAMES,
        }.get(self.kind, _TAG_NAMES)
        if self.target not in allowed:
            raise ValueError(f"{self.kind} cannot target {self.target!r}; choose one of {sorted(allowed)}")
        if self.start_s < 0 or (self.duration_s is not None and self.duration_s <= 0):
            raise ValueError("fault start must be >= 0 and duration > 0")

    @property
    def end_s(self) -> float:
        """End of the fault in seconds since the run start (inf when it never ends)."""
        return float("inf") if self.duration_s is None else self.start_s + self.duration_s


@dataclass(frozen=True, slots=True)
class ProcessConfig:
    """A precursor co-precipitation line.

    Example
    -------
    >>> from simulators.process import ProcessConfig, ProcessFault
    >>> cfg = ProcessConfig(seed=3, faults=(ProcessFault("bias", "reactor_ph", start_s=7200.0, duration_s=3600.0),))
    """

    seed: int = 0
    device_id: str = "line-1"
    sample_interval_s: float = 10.0
    faults: tuple[ProcessFault, ...] = ()
    normal: NormalChanges | None = None

    def __post_init__(self) -> None:
        if self.sample_interval_s <= 0:
            raise ValueError("sample_interval_s must be > 0")
        if self.normal is not None and self.normal.jitter_s >= self.sample_interval_s / 2:
            raise ValueError("jitter_s must be below half the sample interval (times stay in order)")


@dataclass(frozen=True, slots=True)
class NormalChanges:
    """How normal operation moves over long periods, as in real plants; none of it is a fault.

    - ``drift_sd_per_day``: every tag's level drifts linearly (ageing, fouling, slow sensor drift) at this many
      tag standard deviations per day, in a direction drawn per tag from the seed;
    - ``season_sd`` over ``season_period_s``: a daily cycle of the thermal factor (ambient temperature);
    - ``setpoint_shifts``: ``(start_s, magnitude)`` steps of the throughput factor that persist (a new
      production rate becomes the new normal);
    - ``resolution_sd``: values are quantised to this fraction of the tag's standard deviation;
    - ``jitter_s``: sample times move by up to this many seconds either way (irregular sampling).

    The changes are fully described by this object (the config is their ground truth); the truth events of a
    run list only faults.
    """

    drift_sd_per_day: float = 0.0
    season_sd: float = 0.0
    season_period_s: float = 86_400.0
    setpoint_shifts: tuple[tuple[float, float], ...] = ()
    resolution_sd: float = 0.0
    jitter_s: float = 0.0

    def __post_init__(self) -> None:
        if self.season_period_s <= 0 or self.resolution_sd < 0 or self.jitter_s < 0:
            raise ValueError("season_period_s must be > 0, resolution_sd and jitter_s >= 0")
