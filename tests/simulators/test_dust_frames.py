"""Joining frames: arrays along time, truth events once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from simulators.dust import DustNetwork, DustNetworkConfig, Episode
from simulators.frames import concat_frames


def test_concat_keeps_order_and_drops_repeated_truth() -> None:
    cfg = DustNetworkConfig(n_sensors=10, seed=2, episodes=(Episode("haul-road", 100.0, 600.0),))
    stream = DustNetwork(cfg).chunks(datetime(2024, 6, 4, tzinfo=UTC), timedelta(seconds=10), 20)
    parts = [next(stream) for _ in range(6)]
    joined = concat_frames(parts)
    assert joined.pm10.shape == (120, 10) and joined.n_readings == 1200
    assert np.all(np.diff(joined.times.astype(np.int64)) == 10_000)
    repeated = [e for p in parts for e in p.truth]
    assert len(joined.truth) < len(repeated)
    assert {(e.device_id, e.kind, e.start) for e in joined.truth} == {(e.device_id, e.kind, e.start) for e in repeated}
    with pytest.raises(ValueError, match="no frames"):
        concat_frames([])
