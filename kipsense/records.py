"""Typed records that travel from decoders to the store and from the store to detectors.

Every record keeps the device's own timestamp (UTC, timezone-aware). ``time_estimated`` is true when the
device sent no timestamp and the receive time was used instead (several such readings of one message are
spread 1 µs apart in list order so each keeps its own key; see ``ingest.decoders.native_json``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Final

#: Device ids double as MQTT usernames and topic levels, so the alphabet is restricted: no MQTT wildcards,
#: no separators, no whitespace.
DEVICE_ID_PATTERN: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def is_valid_device_id(device_id: str) -> bool:
    """True when ``device_id`` is safe as an MQTT username, client id and topic level."""
    return DEVICE_ID_PATTERN.fullmatch(device_id) is not None


class DeviceKind(StrEnum):
    """The kinds of device the platform knows."""

    DUST = "dust"
    MET = "met"
    CYCLER = "cycler"
    PROCESS = "process"


@dataclass(frozen=True, slots=True)
class DustReading:
    """One sample of a low-cost PM sensor (fixed or mobile). Concentrations in µg/m³."""

    device_id: str
    time: datetime
    pm1: float | None = None
    pm25: float | None = None
    pm10: float | None = None
    temperature: float | None = None
    rh: float | None = None
    pressure: float | None = None
    wind_speed: float | None = None
    wind_dir: float | None = None
    lat: float | None = None
    lon: float | None = None
    battery: float | None = None
    rssi: float | None = None
    seq: int | None = None
    time_estimated: bool = False


@dataclass(frozen=True, slots=True)
class MetReading:
    """One sample of a meteorological station. Wind speed in m/s, direction in degrees the wind comes FROM."""

    device_id: str
    time: datetime
    wind_speed: float | None = None
    wind_dir: float | None = None
    temperature: float | None = None
    rh: float | None = None
    pressure: float | None = None
    seq: int | None = None
    time_estimated: bool = False


@dataclass(frozen=True, slots=True)
class CyclerSample:
    """One sample of a battery test channel, with BEEP-style field names.

    ``test_time`` is seconds since the test started; capacities in Ah, energies in Wh, resistance in ohm.
    """

    device_id: str
    time: datetime
    test_time: float | None = None
    cycle_index: int | None = None
    step_index: int | None = None
    step_type: str | None = None
    voltage: float | None = None
    current: float | None = None
    temperature: float | None = None
    charge_capacity: float | None = None
    discharge_capacity: float | None = None
    charge_energy: float | None = None
    discharge_energy: float | None = None
    internal_resistance: float | None = None
    seq: int | None = None
    time_estimated: bool = False


#: The measured fields of a cycler sample in the order of the record and of ``cycler_samples`` (BEEP names):
#: the one list every reader, writer and generator of cycler columns derives its own from.
CYCLER_SAMPLE_FIELDS: Final[tuple[str, ...]] = tuple(
    f.name for f in fields(CyclerSample) if f.name not in ("device_id", "time", "seq", "time_estimated")
)


@dataclass(frozen=True, slots=True)
class ProcessValue:
    """One value of a named process tag of a production line."""

    device_id: str
    time: datetime
    tag: str
    value: float
    quality: int = 192  # OPC "good"
    time_estimated: bool = False


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """Something a message said about the device itself rather than a measurement (birth, death, seq gap)."""

    device_id: str
    time: datetime
    event: str
    detail: str = ""


Record = DustReading | MetReading | CyclerSample | ProcessValue | DeviceEvent


@dataclass(frozen=True, slots=True)
class TruthEvent:
    """Ground truth emitted by a simulator: a fault or episode injected into a device's data.

    ``kind`` names the fault (``dust_episode``, ``stuck``, ``spike``, ``drift``, ``rh_artefact``, ``offline``,
    ``knee``, ``internal_short``, ``thermal_excursion``, ``tep_fault_<n>``, ...). ``end`` is exclusive.
    ``params`` holds JSON-serialisable parameters of the injection (magnitude, source, ...).
    """

    device_id: str
    kind: str
    start: datetime
    end: datetime
    params: dict[str, object]
