from __future__ import annotations

import json

import pytest

from models.cycler.registry import CYCLER_DETECTORS, build


def test_every_registered_detector_builds_fits_and_round_trips() -> None:
    assert len(CYCLER_DETECTORS) == 7
    for name, cls in CYCLER_DETECTORS.items():
        det = build(name)
        assert isinstance(det, cls)
        det.fit(None)  # type: ignore[arg-type]
        state = json.loads(json.dumps(det.to_state(), allow_nan=False))
        assert state["detector"] == name
        assert type(det).from_state(state).threshold_ == det.threshold_


def test_unknown_name() -> None:
    with pytest.raises(KeyError, match="unknown cycler detector"):
        build("nope")
