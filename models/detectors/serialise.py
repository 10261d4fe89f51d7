"""Strict-JSON encoding of detector parameters, fitted attributes and stream state.

The encoded form contains only dicts, lists, strings, ints, finite floats, booleans and ``None``, so it
passes ``json.dumps(..., allow_nan=False)`` and fits a ``jsonb`` column. Floats go through ``repr``, which
round-trips exactly, so a decoded detector scores bit-for-bit like the original. Decoding never imports or
calls anything named in the data: the only constructors are ``numpy.array`` and ``float``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

_ARRAY = "__ndarray__"
_FLOAT = "__float__"
_TUPLE = "__tuple__"
_ALLOWED_DTYPES = frozenset({"float64", "float32", "int64", "int32", "bool"})


def _encode_float(x: float) -> float | dict[str, str]:
    return x if math.isfinite(x) else {_FLOAT: repr(x)}


def encode(value: Any) -> Any:
    """``value`` as strict-JSON content (numpy arrays and non-finite floats are tagged)."""
    if isinstance(value, np.ndarray):
        dtype = str(value.dtype)
        if dtype not in _ALLOWED_DTYPES:
            raise TypeError(f"cannot encode an array of dtype {dtype}")
        flat = value.ravel().tolist()
        if value.dtype.kind == "f":
            flat = [_encode_float(v) for v in flat]
        return {_ARRAY: flat, "dtype": dtype, "shape": list(value.shape)}
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return _encode_float(float(value))
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, tuple):
        return {_TUPLE: [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("only dicts with string keys can be encoded")
        return {k: encode(v) for k, v in value.items()}
    raise TypeError(f"cannot encode a value of type {type(value).__name__}")


def decode(value: Any) -> Any:
    """Inverse of :func:`encode`."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if _ARRAY in value:
        dtype = value["dtype"]
        if dtype not in _ALLOWED_DTYPES:
            raise ValueError(f"refusing to decode an array of dtype {dtype!r}")
        flat = value[_ARRAY]
        if dtype.startswith("float"):
            flat = [float(v[_FLOAT]) if isinstance(v, dict) else v for v in flat]
        return np.array(flat, dtype=dtype).reshape([int(s) for s in value["shape"]])
    if _FLOAT in value:
        text = value[_FLOAT]
        if text not in {"nan", "inf", "-inf"}:
            raise ValueError(f"not a non-finite float: {text!r}")
        return float(text)
    if _TUPLE in value:
        return tuple(decode(v) for v in value[_TUPLE])
    return {k: decode(v) for k, v in value.items()}
