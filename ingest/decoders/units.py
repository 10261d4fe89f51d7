"""SenML units (RFC 8428 §12.1 registry, plus a few common extras) accepted for each canonical field.

Each entry maps a unit to ``(scale, offset)``: ``canonical = value * scale + offset``. A field listed here
accepts only these units (or none, read as the canonical unit); a field not listed accepts any unit.
"""

from __future__ import annotations

import math
from typing import Final

_Conv = tuple[float, float]
_SAME: Final[_Conv] = (1.0, 0.0)
_CONCENTRATION: Final[dict[str, _Conv]] = {"ug/m3": _SAME, "kg/m3": (1e9, 0.0), "mg/m3": (1e3, 0.0)}
_CELSIUS: Final[dict[str, _Conv]] = {"Cel": _SAME, "K": (1.0, -273.15)}
_ENERGY: Final[dict[str, _Conv]] = {"Wh": _SAME, "kWh": (1e3, 0.0), "J": (1 / 3600, 0.0)}
_CHARGE: Final[dict[str, _Conv]] = {"Ah": _SAME, "mAh": (1e-3, 0.0), "C": (1 / 3600, 0.0)}

#: canonical field -> accepted unit -> conversion.
UNITS: Final[dict[str, dict[str, _Conv]]] = {
    "pm1": _CONCENTRATION,
    "pm25": _CONCENTRATION,
    "pm10": _CONCENTRATION,
    "temperature": _CELSIUS,
    "rh": {"%RH": _SAME, "%": _SAME, "/": (100.0, 0.0)},
    "pressure": {"hPa": _SAME, "Pa": (0.01, 0.0), "kPa": (10.0, 0.0), "bar": (1e3, 0.0)},
    "wind_speed": {"m/s": _SAME, "km/h": (1 / 3.6, 0.0)},
    "wind_dir": {"deg": _SAME, "rad": (180 / math.pi, 0.0)},
    "lat": {"lat": _SAME, "deg": _SAME},
    "lon": {"lon": _SAME, "deg": _SAME},
    "battery": {"%EL": _SAME, "%": _SAME},
    "rssi": {"dBm": _SAME},
    "test_time": {"s": _SAME, "min": (60.0, 0.0), "h": (3600.0, 0.0)},
    "voltage": {"V": _SAME},
    "current": {"A": _SAME},
    "charge_capacity": _CHARGE,
    "discharge_capacity": _CHARGE,
    "charge_energy": _ENERGY,
    "discharge_energy": _ENERGY,
    "internal_resistance": {"Ohm": _SAME},
}

#: A record with no recognised name is placed by its unit when the unit says unambiguously what it is.
FIELD_OF_UNIT: Final[dict[str, str]] = {
    "Cel": "temperature",
    "%RH": "rh",
    "lat": "lat",
    "lon": "lon",
    "hPa": "pressure",
    "Pa": "pressure",
    "m/s": "wind_speed",
    "%EL": "battery",
    "dBm": "rssi",
    "V": "voltage",
    "A": "current",
    "Ohm": "internal_resistance",
}
