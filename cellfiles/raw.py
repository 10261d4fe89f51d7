"""What a format reader hands over: the file's columns in SI-like units, not yet normalised, and the errors."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


class CellFileError(ValueError):
    """A file that cannot be imported; the message names the file and, where known, the line or offset."""

    def __init__(self, path: Path | str, message: str, *, line: int | None = None, offset: int | None = None):
        where = f" line {line}" if line is not None else (f" at byte offset {offset}" if offset is not None else "")
        super().__init__(f"{path}:{where}: {message}" if where else f"{path}: {message}")
        self.path = str(path)
        self.line = line
        self.offset = offset


@dataclass(slots=True)
class RawColumns:
    """Columns of one file as read, converted to A, V, Ah, Wh, s, °C and ohm but with the instrument's counters.

    ``numeric`` holds float arrays by quantity (``test_time``, ``current``, ``voltage``, ``cycle``, ``step``,
    ``half_cycle``, ``charge_capacity``, ``discharge_capacity``, ``capacity``, ``charge_energy``,
    ``discharge_energy``, ``energy``, ``temperature``, ``internal_resistance``); ``step_type`` the
    instrument's step labels (or None). ``start`` is the absolute time of the first sample where the file
    says it (naive times are taken as ``tz``). ``signed_capacity`` marks a single counter that runs up on
    charge and down on discharge (BioLogic ``(Q-Qo)``) rather than restarting.
    """

    format: str
    numeric: dict[str, FloatArray]
    step_type: npt.NDArray[np.object_] | None = None
    start: datetime | None = None
    signed_capacity: bool = False
    signed_current_known: bool = True
    meta: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.numeric["test_time"].size)


_DT_FORMATS = (
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y/%m/%d %H:%M:%S.%f",
    "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%d %I:%M:%S %p",
    "%Y-%m-%d %I:%M:%S.%f %p",
    "%Y/%m/%d %I:%M:%S %p",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %I:%M:%S.%f %p",
    "%m/%d/%Y %H:%M:%S.%f",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d.%m.%Y %H:%M:%S.%f",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d %B %Y, %I:%M:%S %p",
    "%Y-%m-%d",
    "%d.%m.%Y",
    "%m/%d/%Y",
)


def parse_datetime(text: str, tz: tzinfo | None = None) -> datetime | None:
    """One timestamp in any of the layouts cyclers write (US month/day first where ambiguous); None if not one.

    A slash date whose first field is above 12 is read day first. Naive results are taken in ``tz`` (UTC).
    """
    s = re.sub(r"\s+", " ", text.strip().strip('"'))
    if not s:
        return None
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    try:
        out = datetime.fromisoformat(s)
    except ValueError:
        out = None
    if out is None:
        m = re.match(r"^(\d{1,2})/(\d{1,2})/", s)
        formats: tuple[str, ...] = _DT_FORMATS
        if m and int(m.group(1)) > 12:
            formats = tuple(f.replace("%m/%d/", "%d/%m/") for f in _DT_FORMATS)
        for fmt in formats:
            try:
                out = datetime.strptime(s, fmt)
                break
            except ValueError:
                continue
    if out is None:
        return None
    if out.tzinfo is None:
        out = out.replace(tzinfo=tz or UTC)
    return out.astimezone(UTC)


def ole_to_datetime(days: float, tz: tzinfo | None = None) -> datetime:
    """An OLE automation date (days since 1899-12-30, Arbin's ``DateTime``) as an aware UTC datetime."""
    base = datetime(1899, 12, 30)
    return (base + timedelta(days=float(days))).replace(tzinfo=tz or UTC).astimezone(UTC)
