"""The examples in the detector docstrings run and give the output they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "calibration",
    "charts",
    "diff_variance",
    "process_monitor",
    "dynamic_pca",
    "iforest",
    "pca",
    "recentred",
    "registry",
    "robust",
    "seasonal",
    "shewhart",
    "stream_monitor",
]


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(f"models.detectors.{module}"))
    assert result.attempted > 0
    assert result.failed == 0
