"""Every registered detector passes the shared conformance checks."""

from __future__ import annotations

from typing import Any

import pytest

from models.detectors.base import BaseDetector
from models.detectors.registry import DETECTORS, build_detector

from .conformance import Check, Factory, iter_checks

#: Small parameters so every check runs in milliseconds; everything else uses the defaults.
CHECK_PARAMS: dict[str, dict[str, Any]] = {
    "robust_z": {"window": 15},
    "seasonal": {"period": 40, "n_bins": 8},
    "iforest": {"n_estimators": 25},
    # short memory and blocks so the stream checks cross many recentring steps (a variance fraction, not a
    # count: the shape check also fits one column)
    "recentred_pca": {"n_components": 0.8, "statistic": "raw", "lam": 0.2, "memory": 40.0, "block": 7},
}


def _factory(name: str) -> Factory:
    def make() -> BaseDetector:
        return build_detector(name, CHECK_PARAMS.get(name, {}))

    return make


CASES = [(name, check) for name in sorted(DETECTORS) for check in iter_checks(_factory(name)())]


@pytest.mark.parametrize(("name", "check"), CASES, ids=[f"{n}-{c.__name__}" for n, c in CASES])
def test_conformance(name: str, check: Check) -> None:
    check(_factory(name))


def test_every_registered_detector_is_checked() -> None:
    assert {name for name, _ in CASES} == set(DETECTORS)
