"""Strict-JSON encoding round trips values exactly and refuses what it cannot represent safely."""

from __future__ import annotations

import json

import numpy as np
import pytest

from models.detectors.serialise import decode, encode


def test_round_trip_is_exact_and_strict_json() -> None:
    value = {
        "a": np.array([[0.1, np.nan], [np.inf, -np.inf]]),
        "b": (1, 2.5, None),
        "c": [np.float64(1 / 3), np.int64(7), True, "x"],
        "d": float("nan"),
    }
    back = decode(json.loads(json.dumps(encode(value), allow_nan=False)))
    np.testing.assert_array_equal(back["a"], value["a"])
    assert back["b"] == (1, 2.5, None)
    assert back["c"] == [1 / 3, 7, True, "x"]
    assert np.isnan(back["d"])


def test_unsupported_values_are_refused() -> None:
    with pytest.raises(TypeError):
        encode(object())
    with pytest.raises(TypeError):
        encode(np.array(["a"]))
    with pytest.raises(ValueError, match="dtype"):
        decode({"__ndarray__": [1], "dtype": "object", "shape": [1]})
