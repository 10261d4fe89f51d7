"""Saving fitted detectors to the model registry and loading them back, without pickle.

A model is stored as its detector's ``to_state()`` dict: strict JSON (numpy arrays as tagged lists). The
isolation forest embeds its scikit-learn model as a skops blob inside that dict, loaded with an explicit list
of trusted types. Beside the state the registry keeps what a researcher needs to reproduce a model: its
parameters, training window, devices, a fingerprint of the exact training matrix and the library versions.
"""

from __future__ import annotations

import hashlib
import json
import platform
from importlib import metadata
from typing import Any

import numpy as np

from models.detectors.base import BaseDetector
from models.detectors.registry import load_detector
from store.models import ModelRecord

_LIBRARIES = ("kipsense", "numpy", "scipy", "scikit-learn", "skops")


def library_versions() -> dict[str, str]:
    """Versions of Python and of the libraries a saved model depends on."""
    out = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def fingerprint(columns: tuple[str, ...], devices: np.ndarray, times: np.ndarray, values: np.ndarray) -> str:
    """SHA-256 of the training rows (columns, devices, times and values, in order)."""
    h = hashlib.sha256()
    h.update(json.dumps(list(columns)).encode())
    h.update("\x1f".join(map(str, devices.tolist())).encode())
    h.update(np.ascontiguousarray(times, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    return "sha256:" + h.hexdigest()


def detector_state(detector: BaseDetector) -> dict[str, Any]:
    """The detector's state, checked to be strict JSON (a registry row must never hold NaN or objects)."""
    state = detector.to_state()
    json.dumps(state, allow_nan=False)
    return state


def load_model(record: ModelRecord) -> BaseDetector:
    """The fitted detector of a registry row."""
    if record.state.get("detector") != record.detector:
        raise ValueError(f"model {record.model_id}: state is for {record.state.get('detector')!r}")
    return load_detector(record.state)
