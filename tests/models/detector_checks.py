"""Checks shared by the domain detector tests: chunked == whole, JSON state, determinism."""

from __future__ import annotations

import inspect
import itertools
import json
from typing import Any

import numpy as np
from numpy.typing import NDArray

from models.detectors.base import BaseDetector, StreamingDetector, TimedStreamingDetector

CUTS = (1, 7, 50, 333)


def score_in_chunks(
    det: StreamingDetector | TimedStreamingDetector,
    X: NDArray[np.float64],
    cuts: tuple[int, ...],
    times: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """Score ``X`` in chunks split at ``cuts``, passing the state through a JSON round trip each time."""
    state = det.start_state()
    parts = []
    bounds = [0, *[c for c in cuts if 0 < c < len(X)], len(X)]
    for lo, hi in itertools.pairwise(bounds):
        if isinstance(det, TimedStreamingDetector):
            assert times is not None
            scores, state = det.score_stream(X[lo:hi], state, times=times[lo:hi])
        else:
            scores, state = det.score_stream(X[lo:hi], state)
        state = json.loads(json.dumps(state, allow_nan=False))
        parts.append(scores)
    return np.concatenate(parts)


def assert_chunked_equals_whole(
    det: StreamingDetector | TimedStreamingDetector,
    X: NDArray[np.float64],
    times: NDArray[np.float64] | None = None,
) -> None:
    """Whole-stream scores equal chunked scores (NaN where NaN) for several chunkings, incl. 1-sample chunks."""
    whole = score_in_chunks(det, X, (), times)
    assert whole.shape == (len(X),)
    for cuts in (CUTS, tuple(range(1, len(X)))):
        chunked = score_in_chunks(det, X, cuts, times)
        np.testing.assert_allclose(chunked, whole, rtol=1e-9, atol=1e-9, equal_nan=True)


def assert_protocol(det: BaseDetector) -> None:
    """``__init__`` stores only its parameters; a fitted detector round-trips through strict-JSON state."""
    signature = inspect.signature(type(det).__init__)
    names = sorted(p for p in signature.parameters if p != "self")
    assert sorted(vars(det)) == names
    before = det.get_params()
    cast_det: Any = det  # the domain detectors' fit takes no data
    cast_det.fit()
    assert det.get_params() == before
    assert all(k.endswith("_") for k in set(vars(det)) - set(before))
    loaded = type(det).from_state(json.loads(json.dumps(det.to_state(), allow_nan=False)))
    assert loaded.get_params() == det.get_params()
    assert loaded.fitted_attributes() == det.fitted_attributes()
