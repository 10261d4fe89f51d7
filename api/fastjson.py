"""JSON bodies written by orjson straight from the store's dataclasses, for routes that return many rows.

Validating every row into its public model and serialising it again costs more than the query on such routes.
Where the store's row has the public model's fields, in order (``check_same_fields`` at import), orjson writes
the same bytes pydantic would, and the route's declared ``response_model`` still describes the body.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import Response
from pydantic import BaseModel


def check_same_fields(row_type: type[Any], model: type[BaseModel]) -> None:
    """Refuse (at import) to write ``row_type`` rows as ``model`` bodies unless their fields agree."""
    names = [f.name for f in dataclasses.fields(row_type)]
    if names != list(model.model_fields):
        raise RuntimeError(f"{row_type.__qualname__} and {model.__qualname__} must have the same fields in order")


def json_response(content: dict[str, Any], fallback: Callable[[], BaseModel]) -> Response:
    """``content`` as JSON; ``fallback()`` builds the validated model for what orjson refuses (huge integers)."""
    try:
        body = orjson.dumps(content, option=orjson.OPT_UTC_Z)
    except orjson.JSONEncodeError:
        body = fallback().model_dump_json().encode()
    return Response(body, media_type="application/json")
