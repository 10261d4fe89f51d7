from __future__ import annotations

import json

import pytest

from models.dust.registry import DUST_DETECTORS, build


def test_every_registered_detector_builds_fits_and_round_trips() -> None:
    assert len(DUST_DETECTORS) == 7
    for name, cls in DUST_DETECTORS.items():
        params = {"positions": ((52.0, 13.0), (52.001, 13.0), (52.0, 13.001))} if "drift" in name else {}
        det = build(name, **params)
        assert isinstance(det, cls)
        det.fit(None)  # type: ignore[arg-type]
        state = json.loads(json.dumps(det.to_state(), allow_nan=False))
        assert state["detector"] == name
        assert type(det).from_state(state).get_params() == det.get_params()


def test_unknown_name() -> None:
    with pytest.raises(KeyError, match="unknown dust detector"):
        build("nope")
