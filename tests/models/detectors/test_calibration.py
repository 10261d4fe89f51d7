"""Out-of-fold limits: every row scored by a model that did not see its fold."""

from __future__ import annotations

import numpy as np
import pytest

from models.detectors.calibration import cv_limit, out_of_fold_scores


def test_each_fold_is_scored_by_a_model_fitted_on_the_others() -> None:
    X = np.arange(12.0)[:, None]
    seen: list[tuple[list[float], list[float]]] = []

    def fit_score(train: np.ndarray, held_out: np.ndarray) -> np.ndarray:
        seen.append((train[:, 0].tolist(), held_out[:, 0].tolist()))
        return np.asarray(held_out[:, 0] - train[:, 0].mean(), dtype=np.float64)

    scores = out_of_fold_scores(fit_score, X, 3)
    assert [h for _, h in seen] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    assert all(not set(t) & set(h) for t, h in seen)
    np.testing.assert_allclose(scores[:4], np.arange(4.0) - np.arange(4.0, 12.0).mean())
    assert cv_limit(lambda t, h: h[:, 0], X, 3, 0.5) == pytest.approx(5.5)


def test_too_few_rows_or_folds_are_refused() -> None:
    with pytest.raises(ValueError, match="folds"):
        out_of_fold_scores(lambda t, h: h[:, 0], np.zeros((10, 1)), 1)
    with pytest.raises(ValueError, match="training samples"):
        out_of_fold_scores(lambda t, h: h[:, 0], np.zeros((5, 1)), 3)
