"""Column names and units of cycler exports, mapped onto the normalised quantities.

Instruments and software versions name the same quantity in many ways (``Current(A)``, ``Current (mA)``,
``Amps``, ``I/mA``, ``Current [A]``) and other labs rename or translate columns. A header is reduced to a
*key* (lower case, letters and digits only, the unit removed) and a *unit*; each quantity has an ordered list
of keys, the first match wins. The unit gives the factor to A, V, Ah, Wh, s, ohm and °C; a capacity column
whose unit is an energy (PEC's ``Charge Capacity (mWh)``) is an energy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

#: Keys per quantity, most specific first. A quantity is looked for in this order too.
ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "datetime": (
        "绝对时间",
        "系统时间",
        "日期",
        "时间戳",
        "datetime",
        "dateandtime",
        "realtime",
        "dpttime",
        "timestamp",
        "date",
        "datestamp",
        "absolutetime",
    ),
    "test_time": (
        "总时间",
        "测试时间",
        "累计时间",
        "总运行时间",
        "testtime",
        "totaltime",
        "totaltimeseconds",
        "cumulativetime",
        "runtime",
        "elapsedtime",
        "time",
    ),
    "step_time": (
        "工步时间",
        "相对时间",
        "steptime",
    ),
    "cycle": (
        "循环序号",
        "循环号",
        "循环",
        "cycleindex",
        "cyclenumber",
        "cycle",
        "cyc",
        "cyclec",
        "cycleno",
        "cyclenr",
        "fullcycle",
    ),
    "half_cycle": ("halfcycle",),
    "step": ("工步号", "工步序号", "工步", "stepindex", "stepnumber", "step", "ns", "stepno", "stepnr"),
    "step_type": ("工步类型", "工步名称", "状态", "steptype", "state", "md", "status", "mode", "stepname"),
    "current": ("电流", "current", "amps", "amp", "i", "curr"),
    "voltage": ("电压", "voltage", "volts", "ewe", "potential", "ecell", "cellvoltage", "volt", "v", "u"),
    "charge_capacity": ("充电容量", "chargecapacity", "chgcap", "chgcapacity", "qcharge", "capacitycharge", "chcap"),
    "discharge_capacity": (
        "放电容量",
        "dischargecapacity",
        "dchgcap",
        "dchgcapacity",
        "qdischarge",
        "capacitydischarge",
        "dischcap",
        "dcap",
    ),
    "capacity": ("容量", "capacity", "amphr", "ahr", "cap", "qqo", "qchargedischarge", "q"),
    "charge_energy": ("充电能量", "chargeenergy", "chgenergy", "energycharge", "chenergy"),
    "discharge_energy": ("放电能量", "dischargeenergy", "dchgenergy", "energydischarge", "dischenergy"),
    "energy": ("能量", "energy", "watthr", "whr", "ener"),
    "temperature": (
        "温度",
        "cellsurfacetemperature",
        "celltemperature",
        "cellsurfacetemp",
        "celltemp",
        "temperature",
        "temp",
        "auxtemperature1",
        "t1",
        "aux1",
        "tcell",
    ),
    "internal_resistance": (
        "内阻",
        "直流内阻",
        "internalresistance",
        "dcinternalresistance",
        "dcir",
        "ir",
        "internalresistance1",
        "resistance",
        "rdc",
    ),
    "specimen": ("cell", "cellnr", "cellno", "cellnumber", "channel", "channelindex", "channelnumber", "chan"),
}

_UNIT_RE: Final = re.compile(r"^(?P<name>.*?)\s*(?:\((?P<p>[^()]*)\)|\[(?P<b>[^\[\]]*)\])\s*$")

#: Factors from a unit (lower case, without spaces, dots and degree signs) to the normalised unit.
UNITS: Final[dict[str, tuple[str, float]]] = {
    "a": ("A", 1.0), "ma": ("A", 1e-3), "ua": ("A", 1e-6), "µa": ("A", 1e-6), "na": ("A", 1e-9),
    "v": ("V", 1.0), "mv": ("V", 1e-3),
    "ah": ("Ah", 1.0), "mah": ("Ah", 1e-3), "uah": ("Ah", 1e-6), "µah": ("Ah", 1e-6),
    "wh": ("Wh", 1.0), "mwh": ("Wh", 1e-3), "uwh": ("Wh", 1e-6), "µwh": ("Wh", 1e-6), "kwh": ("Wh", 1e3),
    "s": ("s", 1.0), "sec": ("s", 1.0), "seconds": ("s", 1.0), "ms": ("s", 1e-3), "min": ("s", 60.0),
    "h": ("s", 3600.0), "hr": ("s", 3600.0), "hours": ("s", 3600.0),
    "ohm": ("ohm", 1.0), "ohms": ("ohm", 1.0), "ω": ("ohm", 1.0), "mohm": ("ohm", 1e-3), "mω": ("ohm", 1e-3),
    "mo": ("ohm", 1e-3), "c": ("C", 1.0), "degc": ("C", 1.0), "celsius": ("C", 1.0), "k": ("K", 1.0),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Header:
    """One column header split into its key and unit (``unit`` is the normalised unit or None)."""

    raw: str
    key: str
    unit: str | None
    factor: float


def parse_unit(text: str) -> tuple[str, float] | None:
    """``'mA'`` -> ``('A', 0.001)``; None for an unknown or empty unit."""
    u = re.sub(r"[\s.°º]", "", text.strip().lower()).replace("µ", "µ")
    if not u:
        return None
    if u in UNITS:
        return UNITS[u]
    if u.startswith("?") or u.endswith("?"):  # a degree sign lost to a wrong code page: "T1(?)"
        return ("C", 1.0) if u.strip("?") in ("", "c") else None
    return None


def split_header(raw: str) -> Header:
    """Split ``'Current(mA)'``, ``'I/mA'``, ``'Cap. [Ah]'``, ``'Test_Time(s)'`` into key and unit."""
    text = raw.strip().strip('"').strip()
    name, unit_text = text, ""
    m = _UNIT_RE.match(text)
    if m:
        name, unit_text = m["name"], m["p"] if m["p"] is not None else m["b"]
    elif "/" in text:  # BioLogic: "time/s", "Ewe/V", "(Q-Qo)/mA.h", "Q charge/discharge/mA.h"
        head, _, tail = text.rpartition("/")
        if parse_unit(tail) is not None:
            name, unit_text = head, tail
    elif "_" in text:  # "Voltage_V", "Current_mA", "Test_Time_s"
        head, _, tail = text.rpartition("_")
        if head and parse_unit(tail) is not None:
            name, unit_text = head, tail
    parsed = parse_unit(unit_text) if unit_text else None
    key = re.sub(r"[\W_]+", "", name.lower())  # letters of any script stay: Neware's Chinese headers
    return Header(raw=raw, key=key, unit=parsed[0] if parsed else None, factor=parsed[1] if parsed else 1.0)


#: The normalised unit each quantity must have (a column in another unit family is not that quantity).
_FAMILY: Final = {
    "test_time": "s", "step_time": "s", "current": "A", "voltage": "V", "charge_capacity": "Ah",
    "discharge_capacity": "Ah", "capacity": "Ah", "charge_energy": "Wh", "discharge_energy": "Wh", "energy": "Wh",
    "temperature": "C", "internal_resistance": "ohm",
}  # fmt: skip
_AS_ENERGY: Final = {"charge_capacity": "charge_energy", "discharge_capacity": "discharge_energy", "capacity": "energy"}


def map_columns(headers: list[str]) -> dict[str, tuple[int, Header]]:
    """Quantity -> (column position, header) for the columns recognised in ``headers``.

    The first alias in a quantity's list that some column matches wins; a column is used once. A capacity
    column in an energy unit is taken as the matching energy.
    """
    parsed = [split_header(h) for h in headers]
    out: dict[str, tuple[int, Header]] = {}
    used: set[int] = set()
    for i, h in enumerate(parsed):  # energies written as capacities (PEC: "Charge Capacity (mWh)")
        for cap, energy in _AS_ENERGY.items():
            if h.unit == "Wh" and h.key in ALIASES[cap] and energy not in out:
                out[energy] = (i, h)
                used.add(i)
    for quantity, keys in ALIASES.items():
        if quantity in out:
            continue
        family = _FAMILY.get(quantity)
        for key in keys:
            hit = next(
                (
                    i
                    for i, h in enumerate(parsed)
                    if i not in used and h.key == key and (h.unit is None or family is None or h.unit == family)
                ),
                None,
            )
            if hit is not None:
                out[quantity] = (hit, parsed[hit])
                used.add(hit)
                break
    return out
