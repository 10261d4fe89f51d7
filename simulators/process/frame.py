"""A block of process-tag values: (T, n_tags) array, sample times, and the ground truth beside them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray

from kipsense.records import ProcessValue, TruthEvent


def datetime64_ms(t: datetime) -> np.datetime64:
    """A timezone-aware datetime as naive UTC ``datetime64[ms]``."""
    if t.tzinfo is None:
        raise ValueError("start time must be timezone-aware (UTC)")
    return np.datetime64(t.astimezone(UTC).replace(tzinfo=None), "ms")


@dataclass(frozen=True, slots=True, eq=False)
class ProcessFrame:
    """``T`` samples of every tag of one line; NaN marks a value that was not sent."""

    device_id: str
    tags: tuple[str, ...]
    times: NDArray[np.datetime64]
    values: NDArray[np.float64]
    truth: tuple[TruthEvent, ...]

    def to_values(self) -> list[ProcessValue]:
        """The sent values as records, time-major, ready for publishing."""
        ms = self.times.astype("datetime64[ms]").astype(np.int64).tolist()
        times = [datetime.fromtimestamp(m / 1000.0, tz=UTC) for m in ms]
        rows, cols = np.nonzero(~np.isnan(self.values))
        vals = self.values[rows, cols].tolist()
        return [
            ProcessValue(self.device_id, times[r], self.tags[c], v)
            for r, c, v in zip(rows.tolist(), cols.tolist(), vals, strict=True)
        ]

    def column(self, tag: str) -> NDArray[np.float64]:
        """The values of one tag, shape (T,)."""
        col: NDArray[np.float64] = self.values[:, self.tags.index(tag)]
        return col

    def rows_of(self, event: TruthEvent) -> slice:
        """The rows of this frame inside ``event``'s [start, end)."""
        lo = int(np.searchsorted(self.times, datetime64_ms(event.start)))
        hi = int(np.searchsorted(self.times, datetime64_ms(min(event.end, datetime(9999, 1, 1, tzinfo=UTC)))))
        return slice(lo, hi)

    @classmethod
    def concat(cls, frames: Sequence[ProcessFrame]) -> ProcessFrame:
        """Frames of the same line one after another (truth events deduplicated)."""
        if not frames:
            raise ValueError("nothing to concatenate")
        truth: dict[tuple[str, str, datetime], TruthEvent] = {}
        for fr in frames:
            for ev in fr.truth:
                truth.setdefault((ev.device_id, ev.kind, ev.start), ev)
        return cls(
            device_id=frames[0].device_id,
            tags=frames[0].tags,
            times=np.concatenate([f.times for f in frames]),
            values=np.concatenate([f.values for f in frames]),
            truth=tuple(truth.values()),
        )
