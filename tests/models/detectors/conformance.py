"""Checks every detector must pass, reusable by any detector family (like sklearn's ``parametrize_with_checks``).

Each check takes a zero-argument ``factory`` that builds a fresh, unfitted detector with fixed parameters, and
training/test data suited to it (``make_data``), and raises ``AssertionError`` when the detector breaks the
protocol of :mod:`models.detectors.base`. Use :func:`iter_checks` to parametrise a test::

    @pytest.mark.parametrize(("name", "check"), [(n, c) for n in names for c in iter_checks(factory(n))])
    def test_conformance(name, check): check(factory(name))
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from models.detectors.base import BaseDetector, FloatArray, NotFittedError, StreamingDetector

Factory = Callable[[], BaseDetector]
Check = Callable[[Factory], None]


def make_data(seed: int = 0, n: int = 400, d: int = 3, change: str = "level") -> tuple[FloatArray, FloatArray]:
    """Correlated normal training data and a test set whose second half is shifted by 4 sigma
    (``change="level"``) or has 4 times the spread around the same mean (``change="variability"``)."""
    rng = np.random.default_rng(seed)
    mixing = np.eye(d) + 0.3 * rng.normal(size=(d, d))
    train = rng.normal(size=(n, d)) @ mixing + 10.0
    test = rng.normal(size=(n, d)) @ mixing + 10.0
    if change == "level":
        test[n // 2 :] += 4.0 * train.std(axis=0)
    elif change == "variability":
        test[n // 2 :] = 10.0 + 4.0 * (test[n // 2 :] - 10.0)
    else:
        raise ValueError(f"unknown change {change!r}")
    return train, test


def _fitted(factory: Factory, X: FloatArray) -> BaseDetector:
    return factory().fit(X)


def check_init_stores_params_only(factory: Factory) -> None:
    """``__init__`` stores its arguments under their own names and nothing else."""
    det = factory()
    signature = inspect.signature(type(det).__init__)
    names = [p for p in signature.parameters if p != "self"]
    assert sorted(vars(det)) == sorted(names), f"__init__ stored {sorted(vars(det))}, signature has {names}"
    assert not any(k.endswith("_") for k in vars(det))
    clone = type(det)(**det.get_params())
    assert clone.get_params() == det.get_params()


def check_fit_returns_self_with_fitted_attributes(factory: Factory) -> None:
    """``fit`` returns ``self``, adds only ``*_`` attributes (including ``threshold_``), keeps the params."""
    train, _ = make_data()
    det = factory()
    params = det.get_params()
    before = set(vars(det))
    assert det.fit(train) is det
    added = set(vars(det)) - before
    assert added, "fit added no attributes"
    assert all(k.endswith("_") for k in added), f"fitted attributes must end in '_': {sorted(added)}"
    assert "threshold_" in added
    assert det.get_params() == params


def check_not_fitted_raises(factory: Factory) -> None:
    """Scoring before ``fit`` raises ``NotFittedError``."""
    _, test = make_data()
    with pytest.raises(NotFittedError):
        factory().decision_function(test)


def check_score_shapes(factory: Factory) -> None:
    """One finite float score and one boolean flag per row, also for one row and for 1-d input."""
    train, test = make_data()
    det = _fitted(factory, train)
    scores = det.decision_function(test)
    assert scores.shape == (test.shape[0],) and scores.dtype == np.float64
    assert np.isfinite(scores).all()
    flags = det.predict(test)
    assert flags.shape == (test.shape[0],) and flags.dtype == np.bool_
    assert det.decision_function(test[:1]).shape == (1,)
    uni = _fitted(factory, train[:, 0])
    assert uni.decision_function(test[:, 0]).shape == (test.shape[0],)


def check_wrong_width_raises(factory: Factory) -> None:
    """Scoring rows with a different number of features than at fit raises ``ValueError``."""
    train, test = make_data()
    det = _fitted(factory, train)
    with pytest.raises(ValueError, match="feature"):
        det.decision_function(test[:, :2])


def check_higher_is_more_anomalous(factory: Factory) -> None:
    """Rows just after a 4-sigma shift (or a 4-fold spread, for detectors of changed variability) score
    higher and are flagged more often than normal rows.

    Only the first rows after the change are compared: adaptive detectors (rolling windows) rightly stop
    flagging a shift once it is the new normal.
    """
    det = factory()
    train, test = make_data(change=det.change_kind)
    det.fit(train)
    half = test.shape[0] // 2
    onset = slice(half, half + 20)
    scores = det.decision_function(test)
    assert scores[onset].mean() > scores[:half].mean()
    flags = det.predict(test)
    assert flags[onset].mean() > flags[:half].mean()


def check_deterministic(factory: Factory) -> None:
    """Two detectors built and fitted the same way give identical scores."""
    train, test = make_data(seed=1)
    a = _fitted(factory, train).decision_function(test)
    b = _fitted(factory, train).decision_function(test)
    np.testing.assert_array_equal(a, b)


def check_scoring_does_not_change_fit(factory: Factory) -> None:
    """Scoring leaves the fitted state untouched (a detector does not learn from what it scores)."""
    train, test = make_data()
    det = _fitted(factory, train)
    snapshot = type(det).from_state(json.loads(json.dumps(det.to_state())))
    first = det.decision_function(test)
    det.predict(test)
    np.testing.assert_array_equal(det.decision_function(test), first)
    np.testing.assert_array_equal(snapshot.decision_function(test), first)


def check_nan_input(factory: Factory) -> None:
    """NaN or infinite values in fit or score input raise ``ValueError``."""
    train, test = make_data()
    bad = train.copy()
    bad[5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        factory().fit(bad)
    det = _fitted(factory, train)
    bad_test = test.copy()
    bad_test[3, 0] = np.inf
    with pytest.raises(ValueError, match="NaN"):
        det.decision_function(bad_test)


def check_constant_input(factory: Factory) -> None:
    """Constant training data gives a clear ``ValueError`` or a detector whose scores are finite."""
    train, test = make_data()
    constant = np.full_like(train, 3.0)
    try:
        det = factory().fit(constant)
    except ValueError as exc:
        assert str(exc), "the error must say what is wrong"
        return
    for X in (constant, test):
        scores = det.decision_function(X)
        assert scores.shape == (X.shape[0],)
        assert np.isfinite(scores).all()


def check_state_round_trip(factory: Factory) -> None:
    """``to_state`` is strict JSON and ``from_state`` rebuilds a detector with identical scores and params."""
    train, test = make_data()
    det = _fitted(factory, train)
    text = json.dumps(det.to_state(), allow_nan=False)
    loaded = type(det).from_state(json.loads(text))
    assert type(loaded) is type(det)
    assert loaded.get_params() == det.get_params()
    np.testing.assert_array_equal(loaded.decision_function(test), det.decision_function(test))
    assert loaded.threshold_ == det.threshold_


def check_chunked_equals_whole(factory: Factory) -> None:
    """For streaming detectors: scoring in chunks (state through strict JSON, empty and 1-row chunks included)
    equals scoring the stream whole."""
    train, test = make_data()
    det = _fitted(factory, train)
    assert isinstance(det, StreamingDetector)
    whole = det.decision_function(test)
    rng = np.random.default_rng(7)
    cuts = np.sort(np.r_[rng.integers(0, test.shape[0], size=12), 0, 1, 2, 2, test.shape[0] // 2])
    state = det.start_state()
    parts = []
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, test.shape[0]], strict=True):
        scores, state = det.score_stream(test[lo:hi], state)
        assert scores.shape == (hi - lo,)
        parts.append(scores)
        state = json.loads(json.dumps(state, allow_nan=False))
    np.testing.assert_allclose(np.concatenate(parts), whole, rtol=1e-10, atol=1e-10)


def check_continues_from_training(factory: Factory) -> None:
    """For streaming detectors: ``fit(train)`` then scoring ``test`` equals scoring ``train`` followed by
    ``test`` as one stream (no restart, no warm-up after training)."""
    train, test = make_data()
    det = _fitted(factory, train)
    assert isinstance(det, StreamingDetector)
    joined, _ = det.score_stream(np.concatenate([train, test]), det.init_state())
    np.testing.assert_allclose(det.decision_function(test), joined[train.shape[0] :], rtol=1e-10, atol=1e-10)


COMMON_CHECKS: tuple[Check, ...] = (
    check_init_stores_params_only,
    check_fit_returns_self_with_fitted_attributes,
    check_not_fitted_raises,
    check_score_shapes,
    check_wrong_width_raises,
    check_higher_is_more_anomalous,
    check_deterministic,
    check_scoring_does_not_change_fit,
    check_nan_input,
    check_constant_input,
    check_state_round_trip,
)
STREAMING_CHECKS: tuple[Check, ...] = (check_chunked_equals_whole, check_continues_from_training)


def iter_checks(detector: BaseDetector) -> Iterator[Check]:
    """The checks that apply to ``detector`` (streaming checks only for streaming detectors)."""
    yield from COMMON_CHECKS
    if isinstance(detector, StreamingDetector):
        yield from STREAMING_CHECKS
