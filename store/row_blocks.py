"""Readings as ready-made binary COPY rows: one numpy record array per message instead of one object per reading.

A ``RowBlock`` holds the readings of one device in one table, laid out exactly as PostgreSQL's binary COPY
format wants each row (field count, then length + big-endian value per column, length -1 for NULL), so the
write is one ``tobytes()`` per message. ``received_at`` is the last column and is filled in when the block is
written. A block whose columns are NULL in every row (a message that never carries, say, ``pressure``) has no
value bytes for them, so one layout serves one (table, device, set of present columns).

``records()`` gives back the same typed records the strict decoders build (the spool and the one-message
retry path use them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from kipsense.records import Record

#: Unix microseconds of PostgreSQL's timestamp epoch (2000-01-01 UTC).
PG_EPOCH_US: Final = 946_684_800_000_000
_UNIX_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_US: Final = timedelta(microseconds=1)
SIGNATURE: Final = b"PGCOPY\n\xff\r\n\0" + b"\0" * 8
TRAILER: Final = b"\xff\xff"
_VALUE_DTYPES: Final = {"timestamptz": ">i8", "float8": ">f8", "int8": ">i8", "int4": ">i4", "bool": "u1"}
_ALWAYS: Final = frozenset({"time", "time_estimated"})  # never NULL in a block (device_id is text, apart)
_SIZES: Final = {"timestamptz": 8, "float8": 8, "int8": 8, "int4": 4, "bool": 1}


def unix_us(ts: datetime) -> int:
    """An aware datetime as exact integer microseconds since the Unix epoch."""
    return (ts - _UNIX_EPOCH) // _US


def from_unix_us(us: int) -> datetime:
    """Inverse of ``unix_us`` (exact, aware UTC)."""
    return _UNIX_EPOCH + timedelta(microseconds=us)


@dataclass(frozen=True, slots=True)
class BlockLayout:
    """Columns of one reading table (the record's fields in order, then ``received_at``) and its record type."""

    table: str
    columns: tuple[str, ...]
    types: tuple[str, ...]
    record: type


@lru_cache(maxsize=4096)
def _template(layout: BlockLayout, present: frozenset[str], device_id: str) -> npt.NDArray[Any]:
    """One row of the block's dtype with every constant filled in: field count, lengths, device id, flag."""
    device = device_id.encode()
    names: list[tuple[str, str]] = [("_nf", ">i2")]
    for col, typ in zip(layout.columns, layout.types, strict=True):
        names.append((f"_n_{col}", ">i4"))
        if col == "device_id":
            names.append((col, f"S{len(device)}"))
        elif col in _ALWAYS or col in present:
            names.append((col, _VALUE_DTYPES[typ]))
    names += [("_n_received_at", ">i4"), ("received_at", ">i8")]
    row = np.zeros(1, dtype=np.dtype(names))
    row["_nf"] = len(layout.columns) + 1
    for col, typ in zip(layout.columns, layout.types, strict=True):
        if col == "device_id":
            row["_n_device_id"] = len(device)
            row["device_id"] = device
        elif col in _ALWAYS or col in present:
            row[f"_n_{col}"] = _SIZES[typ]
        else:
            row[f"_n_{col}"] = -1
    row["_n_received_at"] = 8
    return row


@dataclass(slots=True)
class RowBlock:
    """Readings of one device for one table as binary COPY rows, in message order."""

    layout: BlockLayout
    device_id: str
    rows: npt.NDArray[Any]
    last_time: datetime

    def __len__(self) -> int:
        return len(self.rows)

    def encode(self, received_at: datetime) -> bytes:
        """The rows (without COPY signature or trailer) with ``received_at`` set."""
        self.rows["received_at"] = unix_us(received_at) - PG_EPOCH_US
        return self.rows.tobytes()

    def records(self) -> list[Record]:
        """The same records the strict decoders would have built from this message."""
        rows = self.rows
        names = rows.dtype.names or ()
        columns: list[Sequence[Any]] = []
        n = len(rows)
        for col, typ in zip(self.layout.columns, self.layout.types, strict=True):
            if col == "device_id":
                columns.append([self.device_id] * n)
            elif col not in names:
                columns.append([None] * n)
            elif typ == "timestamptz":
                columns.append([from_unix_us(int(v) + PG_EPOCH_US) for v in rows[col]])
            elif typ == "bool":
                columns.append([bool(v) for v in rows[col]])
            elif typ == "float8":
                columns.append([float(v) for v in rows[col]])
            else:
                columns.append([int(v) for v in rows[col]])
        return [self.layout.record(*values) for values in zip(*columns, strict=True)]


def build(
    layout: BlockLayout,
    device_id: str,
    time_us: npt.NDArray[np.int64],
    values: dict[str, npt.NDArray[Any]],
) -> RowBlock:
    """A block of ``len(time_us)`` rows: device time in Unix µs, and the present columns' values.

    ``time_estimated`` is false in every row (the fast path only takes readings with a device timestamp);
    every column not in ``values`` is NULL.
    """
    template = _template(layout, frozenset(values), device_id)
    rows = np.repeat(template, len(time_us))
    rows["time"] = time_us - PG_EPOCH_US
    for col, arr in values.items():
        rows[col] = arr
    return RowBlock(layout, device_id, rows, from_unix_us(int(time_us.max())))


def copy_payload(blocks: Sequence[RowBlock], received_at: datetime) -> bytes:
    """A whole binary COPY stream (signature, rows, trailer) of some blocks of one table."""
    return b"".join([SIGNATURE, *(b.encode(received_at) for b in blocks), TRAILER])
