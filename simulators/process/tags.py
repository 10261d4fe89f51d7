"""The tags of the precursor co-precipitation line and how they load on the latent process factors.

A continuous stirred-tank co-precipitation of Ni/Mn/Co hydroxide (NMC precursor): a mixed metal-sulphate
solution, caustic soda (pH control) and ammonia (complexing agent) are fed under nitrogen; the overflow
slurry carries the growing particles. Five latent factors drive the tags, each an AR(1) process with its
own time constant; particle size and span follow a slow lag of the pH and ammonia factors, as particles
take hours to grow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Factor:
    """A latent process factor: name and time constant in seconds."""

    name: str
    tau_s: float


@dataclass(frozen=True, slots=True)
class TagSpec:
    """A tag: unit, steady mean and standard deviation, and loadings on the (lagged) factors."""

    name: str
    unit: str
    mean: float
    sd: float
    loadings: tuple[tuple[str, float], ...]


FACTORS: Final = (
    Factor("throughput", 7200.0),
    Factor("ph_balance", 1200.0),
    Factor("thermal", 2400.0),
    Factor("ammonia", 3600.0),
    Factor("slurry", 10800.0),
)
#: Factors seen through a slow first-order lag (name of the lagged copy, source factor, time constant).
LAGGED: Final = (("ph_balance_lag", "ph_balance", 14400.0), ("ammonia_lag", "ammonia", 14400.0))

TAGS: Final = (
    TagSpec("metal_feed_flow", "L/h", 12.0, 0.25, (("throughput", 0.9),)),
    TagSpec("naoh_feed_flow", "L/h", 6.0, 0.15, (("throughput", 0.75), ("ph_balance", 0.5))),
    TagSpec("nh4oh_feed_flow", "L/h", 1.5, 0.05, (("throughput", 0.6), ("ammonia", 0.6))),
    TagSpec("overflow_flow", "L/h", 19.5, 0.4, (("throughput", 0.85), ("slurry", 0.2))),
    TagSpec("metal_feed_conc", "mol/L", 2.0, 0.01, (("slurry", 0.3),)),
    TagSpec("naoh_conc", "mol/L", 4.0, 0.02, ()),
    TagSpec("reactor_ph", "pH", 11.3, 0.04, (("ph_balance", 0.9), ("ammonia", 0.2))),
    TagSpec("redox_potential", "mV", -250.0, 12.0, (("ph_balance", -0.6), ("thermal", 0.3))),
    TagSpec("reactor_temp", "degC", 55.0, 0.3, (("thermal", 0.9),)),
    TagSpec("jacket_inlet_temp", "degC", 58.0, 0.5, (("thermal", 0.7), ("throughput", 0.3))),
    TagSpec("jacket_outlet_temp", "degC", 56.0, 0.4, (("thermal", 0.85),)),
    TagSpec("free_ammonia", "g/L", 8.0, 0.3, (("ammonia", 0.85), ("thermal", -0.25))),
    TagSpec("residual_metal", "mg/L", 15.0, 3.0, (("ph_balance", -0.7), ("ammonia", 0.45))),
    TagSpec("stirrer_speed", "rpm", 900.0, 5.0, ()),
    TagSpec("stirrer_power", "kW", 3.2, 0.08, (("slurry", 0.8), ("throughput", 0.2))),
    TagSpec("reactor_level", "%", 75.0, 1.0, (("throughput", 0.4), ("slurry", 0.3))),
    TagSpec("solids_content", "g/L", 600.0, 15.0, (("slurry", 0.9),)),
    TagSpec("dissolved_oxygen", "mg/L", 0.05, 0.01, (("thermal", -0.3),)),
    TagSpec("n2_purge_flow", "Nm3/h", 2.0, 0.05, ()),
    TagSpec("particle_d50", "um", 10.5, 0.35, (("ph_balance_lag", -0.7), ("ammonia_lag", 0.55))),
    TagSpec("particle_span", "-", 0.85, 0.03, (("ph_balance_lag", 0.6), ("ammonia_lag", -0.4))),
)
