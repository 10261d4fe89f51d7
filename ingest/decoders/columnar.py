"""Fast path of the native JSON decoder: a batch of plain readings straight into binary COPY rows.

Devices back-filling or batching send lists of readings that all look alike: the same keys, a float (or int)
per measurement, an integer epoch timestamp, an integer ``seq``. Such a list becomes one ``RowBlock``: each
column is read with one C-level pass over the list, checked with numpy (types, ranges, time window) and
written into binary COPY rows, without a Python record or datetime per reading.

The fast path only ever *accepts*: whenever anything is unusual (keys differing between readings, aliases of
one field, a null, a string or bool value, a value out of range, a timestamp that is not an integer epoch or
lies outside the time window, the ``{"device": ..., "readings": [...]}`` form, process devices, cycler integer
and text fields) ``decode`` returns None and the strict decoder (``native_json.decode``) decides, with its
exact quarantine reason. So an accepted message stores exactly the rows the strict decoder would build.

Epoch timestamps: the strict decoder computes ``datetime.fromtimestamp(ms / 1e3)`` (or ``µs / 1e6``). For
an integer epoch below 2**32 s the float quotient is within 0.48 µs of the exact value, so rounding to whole
microseconds gives exactly ``ms * 1000`` (``µs``); larger timestamps take the strict path.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ingest.decoders.common import MAX_PAYLOAD_BYTES, _loads_fast
from ingest.decoders.fields import LAYOUTS, TIME_KEYS
from kipsense.records import CyclerSample, DeviceKind, DustReading, MetReading
from store.readings import BLOCK_LAYOUTS
from store.row_blocks import BlockLayout, RowBlock, build, unix_us

#: Fewest readings a message needs for the fast path (below this the strict decoder is as quick).
MIN_READINGS: Final = 4
_MAX_READINGS: Final = 10_000  # native_json.MAX_READINGS (the strict decoder refuses more)
_SECONDS_MAX: Final = 10**11
_MILLIS_MAX: Final = 10**14
_MICROS_MAX: Final = 10**17
_EXACT_US_MAX: Final = 2**32 * 10**6
_SEQ_MAX: Final = 2**62
_DEVICE_KEYS: Final = frozenset({"device", "device_id"})
_NUMBER: Final = frozenset({float, int})
_RECORDS: Final = {DeviceKind.DUST: DustReading, DeviceKind.MET: MetReading, DeviceKind.CYCLER: CyclerSample}


class _Plan:
    """How to read one shape (tuple of keys) of reading of one kind."""

    __slots__ = ("layout", "measures", "seq", "time")

    def __init__(
        self,
        layout: BlockLayout,
        time: itemgetter[Any],
        seq: itemgetter[Any] | None,
        measures: tuple[tuple[str, itemgetter[Any], float, float], ...],
    ) -> None:
        self.layout = layout
        self.time = time
        self.seq = seq
        self.measures = measures


@lru_cache(maxsize=1024)
def _plan(kind: DeviceKind, shape: tuple[str, ...]) -> _Plan | None:
    layout = LAYOUTS[kind]
    time_key: str | None = None
    seq_key: str | None = None
    measures: list[tuple[str, itemgetter[Any], float, float]] = []
    seen: set[int] = set()
    for key in shape:
        slot = layout.slots.get(key)
        if slot is not None:
            index, lo, hi, is_float, spec = slot
            if not is_float or index in seen:
                return None
            seen.add(index)
            measures.append((spec.name, itemgetter(key), lo, hi))
        elif key in TIME_KEYS:
            if time_key is not None:
                return None
            time_key = key
        elif key == "seq":
            seq_key = key
        elif key in _DEVICE_KEYS:
            return None
    if time_key is None or not measures:
        return None
    return _Plan(
        BLOCK_LAYOUTS[_RECORDS[kind]],
        itemgetter(time_key),
        None if seq_key is None else itemgetter(seq_key),
        tuple(measures),
    )


def _ints(values: list[Any]) -> npt.NDArray[np.int64] | None:
    if set(map(type, values)) != {int}:  # a JSON true is a bool, not an int
        return None
    try:
        return np.array(values, dtype=np.int64)
    except OverflowError:
        return None


def decode(
    payload: bytes, *, topic_device: str, kind: DeviceKind, received_at: datetime, oldest: datetime, latest: datetime
) -> RowBlock | None:
    """The message as one block when it is a plain batch the fast path takes, else None (use the strict path)."""
    if kind is DeviceKind.PROCESS or received_at.tzinfo is None or len(payload) > MAX_PAYLOAD_BYTES:
        return None
    # Single readings and short lists are left to the strict decoder before parsing, so they are parsed once.
    if payload.lstrip()[:1] != b"[" or payload.count(b"{") < MIN_READINGS:
        return None
    doc = _loads_fast(payload)
    if type(doc) is not list or not MIN_READINGS <= len(doc) <= _MAX_READINGS:
        return None
    shapes = set(map(tuple, doc))  # _loads_fast only returns lists of flat objects
    if len(shapes) != 1:
        return None
    plan = _plan(kind, shapes.pop())
    if plan is None:
        return None
    stamps = _ints(list(map(plan.time, doc)))
    if stamps is None or stamps.min() < 0 or stamps.max() >= _MICROS_MAX:
        return None
    us = stamps.copy()
    seconds = stamps < _SECONDS_MAX
    us[seconds] *= 1_000_000
    us[~seconds & (stamps < _MILLIS_MAX)] *= 1_000
    first, last = int(us.min()), int(us.max())
    if last >= _EXACT_US_MAX or first < unix_us(oldest) or last > unix_us(latest):
        return None
    values: dict[str, npt.NDArray[Any]] = {}
    for name, get, lo, hi in plan.measures:
        column = list(map(get, doc))
        if not set(map(type, column)) <= _NUMBER:
            return None
        arr = np.array(column, dtype=np.float64)
        if arr.min() < lo or arr.max() > hi:
            return None
        values[name] = arr
    if plan.seq is not None:
        seq = _ints(list(map(plan.seq, doc)))
        if seq is None or seq.min() < 0 or seq.max() > _SEQ_MAX:
            return None
        values["seq"] = seq
    return build(plan.layout, topic_device, us, values)
