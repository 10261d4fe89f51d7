"""Estimated times that never collide: receive-time stamps kept strictly increasing per device.

A reading without a device timestamp is stored at (about) its receive time with ``time_estimated`` set. The
decoders already keep such readings of one message apart (``native_json.spread_estimated``), but two messages
of one device received within the same few microseconds (a device flushing its buffer back to back) would
still give the same times to different readings. ``EstimatedClock`` shifts the estimated readings of a
message, all by the same amount, to just after the last estimated time this worker gave that device, so
their order and spacing inside the message are kept and no key is taken twice.

Only estimates made from the receive time go through the clock (native JSON, airrohr, Sparkplug without a
timestamp). SenML relative times carry the device's own offsets and are left as they are. The clock lives in
one worker: two workers of a shared subscription can still give one device the same microsecond, which then
ends as a recorded conflict (``store.conflicts``), never as a silent loss.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Final

from kipsense.records import Record

_US: Final = timedelta(microseconds=1)


class EstimatedClock:
    """Per device, the latest estimated time given out by this worker."""

    def __init__(self) -> None:
        self._last: dict[str, datetime] = {}

    def place(self, records: list[Record]) -> list[Record]:
        """``records`` with their estimated times shifted past the device's previous ones where needed."""
        spans: dict[str, tuple[datetime, datetime]] = {}
        for rec in records:
            if getattr(rec, "time_estimated", False):
                lo, hi = spans.get(rec.device_id, (rec.time, rec.time))
                spans[rec.device_id] = (min(lo, rec.time), max(hi, rec.time))
        if not spans:
            return records
        shifts: dict[str, timedelta] = {}
        for device_id, (lo, hi) in spans.items():
            last = self._last.get(device_id)
            shift = last + _US - lo if last is not None and lo <= last else timedelta(0)
            if shift:
                shifts[device_id] = shift
            self._last[device_id] = hi + shift if last is None else max(last, hi + shift)
        if not shifts:
            return records
        return [
            replace(rec, time=rec.time + shifts[rec.device_id])
            if rec.device_id in shifts and getattr(rec, "time_estimated", False)
            else rec
            for rec in records
        ]
